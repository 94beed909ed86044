// The statistics page's charts (信息统计监测, issue #40 item 8), drawn with the vendored Apache ECharts from
// the figures the page embeds (#stats-data, web/pages/statistics.py); the table under each chart holds
// the same figures for screen readers and for copying. Tooltips as rich text: the pages' CSP has no
// unsafe-inline.
(function () {
  const data = document.getElementById("stats-data");
  if (!data || typeof echarts === "undefined") return;
  const d = JSON.parse(data.textContent);
  const N = d.names;
  const COLORS = ["#1f5f99", "#c27c0e", "#2e7d32", "#7b4ea3", "#5f6b76", "#c62828"];
  const axis = { type: "category", data: d.areas, axisLabel: { interval: 0, rotate: d.areas.length > 6 ? 30 : 0 } };
  const counts = { type: "value", minInterval: 1 };  // no 0.5 of an inspection
  const base = {
    animation: false,
    color: COLORS,
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: d.areas.length > 6 ? 80 : 40 },
    xAxis: axis,
    yAxis: counts,
  };
  const bars = (entries, stack) =>
    entries.map(([name, values]) => ({ type: "bar", name, data: values, stack: stack || undefined }));
  const options = {
    places: {
      ...base,
      series: bars(d.places_by_kind.map(([k, v]) => [N["kind_" + k], v]), "places"),
    },
    per1000: {
      ...base,
      legend: { show: false },
      yAxis: { type: "value" },
      series: [{
        type: "bar", name: N.places_per_1000, data: d.places_per_1000,
        markLine: d.target == null ? undefined : { symbol: "none", data: [{ yAxis: d.target, name: String(d.target) }], label: { formatter: String(d.target) } },
      }],
    },
    occupancy: {
      ...base,
      legend: { show: false },
      yAxis: { type: "value", max: (v) => Math.max(100, Math.ceil(v.max)) },
      series: [{ type: "bar", name: N.occupancy_pct, data: d.occupancy_pct }],
    },
    inspections: {
      ...base,
      series: bars(d.inspections.map(([k, v]) => [N["inspections_" + k], v])),
    },
    orders: {
      ...base,
      series: bars(d.orders.map(([k, v]) => [N["orders_" + k], v])),
    },
    alerts: {
      ...base,
      tooltip: { trigger: "item", renderMode: "richText" },
      legend: { show: false },
      grid: { left: 180, right: 30, top: 10, bottom: 30 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: d.alerts.map((a) => a[0]) },
      series: [{ type: "bar", name: N.alerts, data: d.alerts.map((a) => a[1]) }],
    },
  };
  for (const el of document.querySelectorAll("[data-chart]")) {
    const option = options[el.dataset.chart];
    if (!option) continue;
    // no area below has a population figure: say so, not an empty frame (the table's rows say which)
    if (el.dataset.chart === "per1000" && d.places_per_1000.every((v) => v === null || v === undefined)) {
      el.textContent = el.dataset.empty;
      el.classList.add("stats-empty");
      el.dataset.ready = "1";
      continue;
    }
    if (el.dataset.chart === "alerts") el.style.height = Math.max(120, 40 + 26 * d.alerts.length) + "px";
    const chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    el.dataset.ready = "1";
    window.addEventListener("resize", () => el.clientWidth > 0 && chart.resize());
  }
})();

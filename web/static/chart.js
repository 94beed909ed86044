// Readings chart on the facility page: time-bucketed min/avg/max from the API, drawn with uPlot
// (vendored under /static/vendor/uplot; no CDN). Ranges of a day or more come from the hourly rollup.
(function () {
  const controls = document.getElementById("chart-controls");
  const box = document.getElementById("chart");
  if (!controls || !box || typeof uPlot === "undefined") return;
  const fid = controls.dataset.facility;
  const metricSel = document.getElementById("chart-metric");
  const rangeSel = document.getElementById("chart-range");
  const RANGES = { "6h": [6 * 3600, "5m"], "24h": [24 * 3600, "15m"], "7d": [7 * 86400, "1h"] };
  // Times on the facility's clock and in 24 hours, as everywhere else on the page: uPlot's own are the
  // browser's zone and "3:30pm" (a browser set to UTC showed 15:30 for the facility's 23:30).
  const { tz, lang, time, min, avg, max } = controls.dataset;  // the zone, and the legend's names
  const day = lang === "zh" ? "{M}月{D}日" : "{M}/{D}";
  const D = 86400;
  // uPlot's time-axis table: tick step (s), label, then the label's addition on a new year, month, day,
  // hour, minute, second, and the mode (1: the addition on the first tick of a new period)
  const AXIS = [
    [365 * D, "{YYYY}", null, null, null, null, null, null, 1],
    [28 * D, day, "\n{YYYY}", null, null, null, null, null, 1],
    [D, day, "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{YYYY} " + day, null, "\n" + day, null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY} " + day, null, "\n" + day, null, null, null, 1],
  ];
  let plot = null;
  // "now" is the app's clock (the page says its reading and speed), run on from the page's load: on an
  // accelerated demo the browser's own clock is days away from the data, and its 24 h showed nothing
  const appNow = Date.parse(controls.dataset.now);
  const speed = Number(controls.dataset.speed) || 1;
  const loaded = performance.now();
  const clockNow = () => (Number.isNaN(appNow) ? Date.now() : appNow + (performance.now() - loaded) * speed);

  async function draw() {
    const metric = metricSel.value;
    if (!metric) { box.textContent = controls.dataset.noData; return; }
    const [span, bucket] = RANGES[rangeSel.value];
    const to = new Date(clockNow());
    const from = new Date(to.getTime() - span * 1000);
    const q = new URLSearchParams({ metric, bucket, from: from.toISOString(), to: to.toISOString() });
    const r = await fetch(`/api/v1/facilities/${encodeURIComponent(fid)}/readings?${q}`, { credentials: "same-origin" });
    if (!r.ok) { box.textContent = (await r.json()).error; return; }
    const pts = (await r.json()).points;
    if (plot) { plot.destroy(); plot = null; }
    box.textContent = "";
    box.dataset.points = String(pts.length);
    if (!pts.length) { box.textContent = controls.dataset.noData; return; }
    const data = [
      pts.map((p) => Date.parse(p.t) / 1000),
      pts.map((p) => p.min),
      pts.map((p) => p.avg),
      pts.map((p) => p.max),
    ];
    plot = new uPlot({
      width: Math.max(320, box.clientWidth - 16),
      height: 300,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      series: [
        { label: time, value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
        { label: min, stroke: "#1f77b4", width: 1 },
        { label: avg, stroke: "#2e8540", width: 2 },
        { label: max, stroke: "#c62828", width: 1 },
      ],
      axes: [{ values: AXIS }, { label: metricSel.options[metricSel.selectedIndex].text }],  // its name and unit
    }, data, box);
  }
  metricSel.addEventListener("change", draw);
  rangeSel.addEventListener("change", draw);
  draw();
})();

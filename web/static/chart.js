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
  let plot = null;

  async function draw() {
    const metric = metricSel.value;
    if (!metric) { box.textContent = controls.dataset.noData; return; }
    const [span, bucket] = RANGES[rangeSel.value];
    const to = new Date();
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
      series: [
        {},
        { label: "min", stroke: "#1f77b4", width: 1 },
        { label: "avg", stroke: "#2e8540", width: 2 },
        { label: "max", stroke: "#c62828", width: 1 },
      ],
      axes: [{}, { label: metric }],
    }, data, box);
  }
  metricSel.addEventListener("change", draw);
  rangeSel.addEventListener("change", draw);
  draw();
})();

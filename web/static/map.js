// The overview's map (issue #17): Xinzhou's county boundaries (/geo/counties.json, contract/places.py)
// drawn with the vendored Apache ECharts, each facility a dot at its coordinates coloured by its state.
// City view: click a county to drill down. Any view: click a dot to open the facility. live.js calls
// window.cwMap.update(id, state) when a facility's state changes.
(function () {
  const el = document.getElementById("map");
  if (!el || typeof echarts === "undefined") return;
  const COLORS = { red: "#c62828", amber: "#f2a900", grey: "#5f6b76", green: "#2e7d32" };  // as app.css
  const AREA = { red: "#f6d5d5", amber: "#fbecc9", grey: "#e3e6e9", green: "#e6f1e8" };
  const RANK = { red: 0, amber: 1, grey: 2, green: 3 };
  const county = el.dataset.county;
  const clickCounty = el.dataset.clickCounty === "1";
  // [id, name, lon, lat, state, county] a facility (web/app.py, map_points_json)
  const points = JSON.parse(document.getElementById("map-facilities").textContent)
    .map(([id, name, lon, lat, state, county]) => ({ id, name, lon, lat, state, county }));
  const byId = new Map(points.map((p) => [p.id, p]));
  const chart = echarts.init(el, null, { renderer: "canvas" });
  let codeOf = {};
  let shown = null;  // the boundaries' features, once fetched
  let pending = null;

  function series() {
    // worst last, so a red dot is drawn over a green neighbour
    const sorted = [...byId.values()].sort((a, b) => RANK[b.state] - RANK[a.state]);
    return [{
      type: "scatter",
      coordinateSystem: "geo",
      symbolSize: sorted.length > 800 ? 5 : sorted.length > 200 ? 7 : 10,
      itemStyle: { borderColor: "#fff", borderWidth: 1 },
      emphasis: { scale: 1.8 },
      data: sorted.map((p) => ({ name: p.name, value: [p.lon, p.lat], id: p.id, itemStyle: { color: COLORS[p.state] } })),
    }];
  }

  function regions(features) {
    // a county takes the colour of its worst facility, lightly
    const worst = {};
    for (const p of byId.values()) {
      const c = p.county;
      if (worst[c] === undefined || RANK[p.state] < RANK[worst[c]]) worst[c] = p.state;
    }
    return features.map((f) => ({
      name: f.properties.name,
      itemStyle: { areaColor: AREA[worst[f.properties.code]] || "#eef2f6" },
    }));
  }

  // ECharts cannot lay a map out in a box of no width or height (its view matrix has no inverse and
  // the drawing throws): a window shrunk to nothing, a hidden tab, a screenshot tool resizing the
  // page. The map is drawn, redrawn and resized only while its box has a size.
  const usable = () => el.clientWidth > 0 && el.clientHeight > 0;
  let drawn = false;
  let stale = false;  // a change came while the box had no size

  function draw() {
    if (drawn || shown === null || !usable()) return;
    chart.resize();  // the box may have had no size when the chart was made
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item", renderMode: "richText" },  // no inline HTML: the pages' CSP has no unsafe-inline
      geo: {
        map: "cw",
        roam: true,
        layoutCenter: ["50%", "50%"],
        layoutSize: "96%",  // of the panel's shorter side: the city fills the panel's width
        scaleLimit: { min: 0.8, max: 12 },
        label: { show: true, color: "#34495e", fontSize: 12 },
        itemStyle: { borderColor: "#7f93a8", borderWidth: 1 },
        emphasis: { label: { show: true, fontWeight: "bold" }, itemStyle: { areaColor: "#cfe0f1" } },
        select: { disabled: true },
        regions: regions(shown),
        tooltip: { show: false },
      },
      series: series(),
    });
    drawn = true;
    el.dataset.ready = "1";
  }

  function redraw() {
    if (!drawn) { draw(); return; }  // changes before the first drawing are in byId already
    if (!usable()) { stale = true; return; }
    stale = false;
    chart.setOption({ series: series(), geo: { regions: regions(shown) } });
  }

  fetch("/geo/counties.json", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((geo) => {
      const features = county ? geo.features.filter((f) => f.properties.code === county) : geo.features;
      codeOf = Object.fromEntries(features.map((f) => [f.properties.name, f.properties.code]));
      echarts.registerMap("cw", { type: "FeatureCollection", features });
      shown = features;
      draw();
    });

  new ResizeObserver(() => {
    if (!usable()) return;
    if (!drawn) { draw(); return; }
    chart.resize();
    if (stale) redraw();
  }).observe(el);

  chart.on("click", (p) => {
    if (p.componentType === "series" && p.data && p.data.id) {
      window.location.href = "/facilities/" + encodeURIComponent(p.data.id);
    } else if (p.componentType === "geo" && clickCounty && codeOf[p.name]) {
      window.location.href = "/?county=" + encodeURIComponent(codeOf[p.name]);
    }
  });

  window.cwMap = {
    update(id, state) {
      const p = byId.get(id);
      if (!p || p.state === state) return;
      p.state = state;
      if (pending === null) {
        pending = setTimeout(() => {  // one redraw for a burst of changes
          pending = null;
          redraw();
        }, 300);
      }
    },
    chart,
  };
})();

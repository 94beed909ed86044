// The overview's and the wall's map (issues #17, #41): Xinzhou's county boundaries (/geo/counties.json,
// contract/places.py) drawn with the vendored Apache ECharts, each facility a dot at its coordinates coloured
// by its state. Click-through city → county → township → facility: in the city view a click on a county opens
// it; in a county view each township with facilities is a labelled marker at the middle of its facilities, and
// a click opens the township's view, the county's boundary zoomed to that township's facilities (no open
// dataset with township boundaries was found: none is invented); a dot opens the facility.
// live.js calls window.cwMap.update(id, state) when a facility's state changes; the wall (wall.js) calls
// window.cwMap.show(county, points) with each repaint.
(function () {
  const el = document.getElementById("map");
  if (!el || typeof echarts === "undefined") return;
  const COLORS = { red: "#c62828", amber: "#f2a900", grey: "#5f6b76", green: "#2e7d32" };  // as app.css
  const AREA = { red: "#f6d5d5", amber: "#fbecc9", grey: "#e3e6e9", green: "#e6f1e8" };
  const RANK = { red: 0, amber: 1, grey: 2, green: 3 };
  const onWall = el.dataset.wall === "1";
  let county = el.dataset.county || "";
  const township = el.dataset.township || "";
  const clickCounty = el.dataset.clickCounty === "1";
  const clickTownship = el.dataset.clickTownship === "1";
  let townshipNames = JSON.parse((document.getElementById("map-townships") || {}).textContent || "{}");
  // [id, name, lon, lat, state, county, township] a facility (web/pages/overview.py, map_points_json)
  const toPoint = ([id, name, lon, lat, state, cty, tsp]) => ({ id, name, lon, lat, state, county: cty, township: tsp });
  let byId = new Map(JSON.parse(document.getElementById("map-facilities").textContent).map((r) => [r[0], toPoint(r)]));
  const chart = echarts.init(el, null, { renderer: "canvas" });
  let geo = null;  // every county's boundary, once fetched
  let codeOf = {};
  let shown = null;  // the boundaries drawn
  let pending = null;

  function townships() {
    // a township's marker: the middle of its facilities, coloured by its worst one
    const acc = {};
    for (const p of byId.values()) {
      if (!p.township || (township && p.township !== township)) continue;
      const a = acc[p.township] || (acc[p.township] = { lon: 0, lat: 0, n: 0, state: "green" });
      a.lon += p.lon; a.lat += p.lat; a.n += 1;
      if (RANK[p.state] < RANK[a.state]) a.state = p.state;
    }
    return Object.entries(acc).map(([code, a]) => ({
      name: townshipNames[code] || code, township: code, value: [a.lon / a.n, a.lat / a.n],
      itemStyle: { color: COLORS[a.state] },
    }));
  }

  function series() {
    // worst last, so a red dot is drawn over a green neighbour
    // a township's view draws that township's facilities only (another township's red dot is not its own)
    const sorted = [...byId.values()]
      .filter((p) => !township || p.township === township)
      .sort((a, b) => RANK[b.state] - RANK[a.state]);
    const out = [{
      type: "scatter",
      coordinateSystem: "geo",
      symbolSize: sorted.length > 800 ? 5 : sorted.length > 200 ? 7 : onWall ? 14 : 10,
      itemStyle: { borderColor: "#fff", borderWidth: 1 },
      emphasis: { scale: 1.8 },
      data: sorted.map((p) => ({ name: p.name, value: [p.lon, p.lat], id: p.id, itemStyle: { color: COLORS[p.state] } })),
    }];
    if (clickTownship || township || (onWall && county)) {
      out.push({  // the townships: a labelled pin each, under the dots (z), a click opens it (clickTownship)
        type: "scatter",
        coordinateSystem: "geo",
        symbol: "pin",
        symbolSize: onWall ? 30 : 26,
        z: 1,
        itemStyle: { opacity: 0.55 },
        label: { show: true, position: "top", color: "#1d2733", fontSize: onWall ? 18 : 13,
                 fontWeight: "bold", textBorderColor: "#fff", textBorderWidth: 3, formatter: "{b}" },
        // townships whose middles lie close together (a county town's 街道): a name over another is hidden
        // rather than drawn illegibly on top of it; every pin keeps its name as a tooltip and stays clickable
        labelLayout: { hideOverlap: true },
        tooltip: { show: true, formatter: "{b}" },
        data: townships(),
      });
    }
    return out;
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

  function bounds() {
    // a township's view: the box of its facilities with a margin, inside the county's boundary
    if (!township) return undefined;
    const ps = [...byId.values()].filter((p) => p.township === township);
    if (ps.length === 0) return undefined;
    const lons = ps.map((p) => p.lon), lats = ps.map((p) => p.lat);
    const pad = Math.max(0.08, (Math.max(...lons) - Math.min(...lons)) * 0.25, (Math.max(...lats) - Math.min(...lats)) * 0.25);
    return [[Math.min(...lons) - pad, Math.max(...lats) + pad], [Math.max(...lons) + pad, Math.min(...lats) - pad]];
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
      tooltip: { trigger: "item", renderMode: "richText", textStyle: { fontSize: onWall ? 18 : 12 } },  // no inline HTML: the pages' CSP has no unsafe-inline
      geo: {
        map: "cw",
        roam: !onWall,  // a wall is looked at, not handled
        layoutCenter: ["50%", "50%"],
        layoutSize: "96%",  // of the panel's shorter side: the city fills the panel's width
        boundingCoords: bounds(),
        scaleLimit: { min: 0.8, max: 12 },
        label: { show: !county, color: "#34495e", fontSize: onWall ? 16 : 12 },  // a county's view: its name is the title
        itemStyle: { borderColor: "#7f93a8", borderWidth: 1 },
        emphasis: { label: { show: true, fontWeight: "bold" }, itemStyle: { areaColor: "#cfe0f1" } },
        select: { disabled: true },
        regions: regions(shown),
        tooltip: { show: false },
      },
      series: series(),
    }, true);
    drawn = true;
    el.dataset.ready = "1";
    el.dataset.shown = county;
  }

  function redraw() {
    if (!drawn) { draw(); return; }  // changes before the first drawing are in byId already
    if (!usable()) { stale = true; return; }
    stale = false;
    chart.setOption({ series: series(), geo: { regions: regions(shown) } });
  }

  function register() {
    const features = county ? geo.features.filter((f) => f.properties.code === county) : geo.features;
    codeOf = Object.fromEntries(features.map((f) => [f.properties.name, f.properties.code]));
    echarts.registerMap("cw", { type: "FeatureCollection", features });
    shown = features;
  }

  fetch("/geo/counties.json", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((g) => {
      geo = g;
      register();
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
    } else if (p.componentType === "series" && p.data && p.data.township && clickTownship) {
      window.location.href = "/?" + new URLSearchParams({ county: p.data.township.slice(0, 6), township: p.data.township });
    } else if (p.componentType === "geo" && clickCounty && codeOf[p.name]) {
      window.location.href = "/?county=" + encodeURIComponent(codeOf[p.name]);
    }
  });

  // the township selector beside the map (overview.html): a choice opens that township's view
  const pick = document.getElementById("township-select");
  if (pick) pick.addEventListener("change", () => pick.form.submit());

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
    show(area, rows, names) {
      // the wall: its area (a county, or "" for the city), its facilities and its townships' names, redrawn in place
      byId = new Map(rows.map((r) => [r[0], toPoint(r)]));
      townshipNames = names || {};
      if (area === county && drawn) { redraw(); return; }
      county = area;
      if (geo === null) return;  // drawn when the boundaries arrive
      register();
      drawn = false;
      draw();
    },
    chart,
  };
})();

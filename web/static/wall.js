// The duty-room wall: repaint on every change from /api/v1/stream, and every 30 s in any case; a
// lost connection shows itself at once (or after 40 s of a silent stream) and heals by itself
// (EventSource reconnects; fetches retry). The panels are swapped as HTML; the map and the chart stay and
// are given the new data (no flicker, no redrawing from scratch). A city-wide wall rotates through its
// counties every ROTATE_MS (issue #41 item 4), shown in the header; 固定 / the area selector pins one (kept
// in this browser), 继续轮播 resumes.
(function () {
  const me = document.currentScript;
  const lang = me.dataset.lang;
  const ROTATE_MS = 30000;
  const body = document.getElementById("wall-body");
  const conn = document.getElementById("wall-conn");
  const clock = document.getElementById("wall-clock");
  const soundButton = document.getElementById("wall-sound");
  const title = document.getElementById("wall-map-title");
  const select = document.getElementById("wall-area");  // only on a city-wide wall
  const pinButton = document.getElementById("wall-pin");
  const mode = document.getElementById("wall-mode");
  const progress = document.getElementById("wall-progress");
  let audio = null;  // browsers allow sound only after a click on the page: the button gives it
  let timer = null;
  let area = "";  // the county shown on a city-wide wall ("" the whole city)
  let pinned = false;
  let turnedAt = Date.now();

  soundButton.addEventListener("click", () => {
    audio = new (window.AudioContext || window.webkitAudioContext)();
    soundButton.hidden = true;
  });

  function beep() {
    if (!audio) return;
    for (let i = 0; i < 3; i++) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = 880;
      o.connect(g);
      g.connect(audio.destination);
      const t = audio.currentTime + i * 0.5;
      g.gain.setValueAtTime(0.4, t);
      g.gain.setValueAtTime(0, t + 0.3);
      o.start(t);
      o.stop(t + 0.35);
    }
  }

  // -- the chart of today's alerts and lapses by hour ------------------------------------------------
  const chartEl = document.getElementById("wall-chart");
  const chart = typeof echarts !== "undefined" ? echarts.init(chartEl, null, { renderer: "canvas" }) : null;
  let chartDrawn = false;

  function drawChart(d) {
    if (!chart || chartEl.clientWidth === 0) return;
    const colors = ["#ff8a80", "#ffd54f"];
    if (!chartDrawn) {
      chart.setOption({
        animation: false,
        textStyle: { fontSize: 18, color: "#f2f5f8" },
        color: colors,
        grid: { left: 56, right: 20, top: 48, bottom: 40 },
        legend: { top: 0, textStyle: { color: "#f2f5f8", fontSize: 20 }, itemWidth: 28, itemHeight: 16 },
        tooltip: { trigger: "axis", renderMode: "richText", textStyle: { fontSize: 18 } },
        xAxis: { type: "category", data: d.hours, axisLabel: { color: "#b8c6d4", fontSize: 16, interval: 2 },
                 axisLine: { lineStyle: { color: "#53687f" } } },
        yAxis: { type: "value", minInterval: 1, axisLabel: { color: "#b8c6d4", fontSize: 16 },
                 splitLine: { lineStyle: { color: "#2a4058" } } },
        series: d.series.map((s) => ({ type: "bar", name: s.name, data: s.data, barGap: "10%" })),
      });
      chartDrawn = true;
      chartEl.dataset.ready = "1";
    } else {
      chart.setOption({ series: d.series.map((s) => ({ name: s.name, data: s.data })) });
    }
  }
  new ResizeObserver(() => { if (chartDrawn) chart.resize(); else if (lastData) drawChart(lastData); }).observe(chartEl);

  // -- one repaint: the panels, then the map and the chart from the fragment's data ----------------------
  let lastData = null;

  function apply() {
    const node = document.getElementById("wall-data");
    if (!node) return;
    const d = JSON.parse(node.textContent);
    lastData = d;
    if (window.cwMap) window.cwMap.show(d.county, d.points, d.townships);
    drawChart(d);
    if (title && select) title.textContent = select.options[select.selectedIndex].text;
  }

  async function refresh() {
    timer = null;
    const shown = area;
    try {
      const q = new URLSearchParams({ fragment: "1", lang, county: shown });
      const r = await fetch(`/wall?${q}`, { credentials: "same-origin" });
      if (!r.ok) throw new Error(String(r.status));
      const html = await r.text();
      if (shown !== area) return;  // the area turned meanwhile: its own repaint is under way
      body.innerHTML = html;
      apply();
      conn.hidden = true;
    } catch (e) {
      conn.hidden = false;
      schedule(5000);  // the server or the network is away: try again soon
    }
  }

  function schedule(ms) {
    if (timer === null) timer = setTimeout(refresh, ms);
  }

  // -- the city's rotation ---------------------------------------------------------------------------
  function showArea(code) {
    area = code;
    if (select) select.value = code;
    turnedAt = Date.now();
    clearTimeout(timer);
    timer = null;
    refresh();
  }

  function setPinned(value) {
    pinned = value;
    try {
      if (pinned) localStorage.setItem("cw-wall-pin", area); else localStorage.removeItem("cw-wall-pin");
    } catch (e) { /* storage refused: the pin lasts for this page */ }
    mode.textContent = pinned ? mode.dataset.pinned : mode.dataset.rotating;
    pinButton.textContent = pinned ? pinButton.dataset.resume : pinButton.dataset.pin;
    document.body.classList.toggle("wall-is-pinned", pinned);
    turnedAt = Date.now();
  }

  if (select) {
    let saved = null;
    try { saved = localStorage.getItem("cw-wall-pin"); } catch (e) { /* none */ }
    if (saved !== null && [...select.options].some((o) => o.value === saved)) {
      area = saved;
      select.value = saved;
      setPinned(true);
    }
    select.addEventListener("change", () => { showArea(select.value); setPinned(true); });
    pinButton.addEventListener("click", () => setPinned(!pinned));
    setInterval(() => {
      if (pinned) { progress.style.width = "100%"; return; }
      const part = (Date.now() - turnedAt) / ROTATE_MS;
      if (part >= 1) {
        const i = (select.selectedIndex + 1) % select.options.length;
        showArea(select.options[i].value);
        progress.style.width = "0%";
      } else {
        progress.style.width = `${Math.round(part * 100)}%`;
      }
    }, 1000);
  }

  function tick() {
    if (clock.dataset.demo !== undefined) {
      // an accelerated demo: the server's clock, as of the last repaint, not this machine's
      const demo = document.getElementById("wall-demo-time");
      if (demo) clock.textContent = demo.textContent;
      return;
    }
    clock.textContent = new Date().toLocaleString(lang === "zh" ? "zh-CN" : "en-GB",
      { timeZone: "Asia/Shanghai", hour12: false, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  tick();
  setInterval(tick, 1000);
  setInterval(() => schedule(0), 30000);
  if (area) refresh(); else apply();  // a pinned county: its own data; else what the page came with

  // A lost network must show at once, not at the next repaint: the browser says when its own link
  // goes (offline/online); a link lost further away leaves the stream silent, and the server pings
  // it every 15 s, so 40 s without a word means it is gone: it is shown and the stream reopened.
  let es = null;
  let heard = Date.now();
  const alive = () => { heard = Date.now(); };

  function connect() {
    es = new EventSource("/api/v1/stream");
    es.onopen = () => { alive(); conn.hidden = true; };
    es.onerror = () => { conn.hidden = false; };
    es.addEventListener("ping", alive);
    es.addEventListener("facility_status", () => { alive(); schedule(300); });
    es.addEventListener("alert", (e) => {
      alive();
      const a = JSON.parse(e.data);
      if (a.severity === "critical" && (a.action === "opened" || a.action === "reopened" || a.action === "escalated")) beep();
      schedule(300);
    });
  }
  connect();
  setInterval(() => {
    if (Date.now() - heard < 40000) return;
    conn.hidden = false;
    es.close();
    alive();  // the next check is 40 s after this reopening
    connect();
  }, 5000);
  window.addEventListener("offline", () => { conn.hidden = false; });
  window.addEventListener("online", () => schedule(0));
})();

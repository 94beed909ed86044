// The duty-room wall: repaint on every change from /api/v1/stream, and every 30 s in any case; a
// lost connection shows itself at once (or after 40 s of a silent stream) and heals by itself
// (EventSource reconnects; fetches retry).
(function () {
  const me = document.currentScript;
  const lang = me.dataset.lang;
  const body = document.getElementById("wall-body");
  const conn = document.getElementById("wall-conn");
  const clock = document.getElementById("wall-clock");
  const soundButton = document.getElementById("wall-sound");
  let audio = null;  // browsers allow sound only after a click on the page: the button gives it
  let timer = null;

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

  async function refresh() {
    timer = null;
    try {
      const r = await fetch(`/wall?fragment=1&lang=${lang}`, { credentials: "same-origin" });
      if (!r.ok) throw new Error(String(r.status));
      body.innerHTML = await r.text();
      conn.hidden = true;
    } catch (e) {
      conn.hidden = false;
      schedule(5000);  // the server or the network is away: try again soon
    }
  }

  function schedule(ms) {
    if (timer === null) timer = setTimeout(refresh, ms);
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

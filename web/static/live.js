// Live updates from /api/v1/stream: repaint facility states in place; a critical alert cannot be missed.
(function () {
  const me = document.currentScript;
  const banner = document.getElementById("banner");
  const lang = me.dataset.lang;
  const es = new EventSource("/api/v1/stream");
  es.addEventListener("facility_status", (e) => {
    const f = JSON.parse(e.data);
    document.querySelectorAll(`[data-facility="${f.id}"]`).forEach((row) => {
      const s = row.querySelector("[data-state]");
      if (s) { s.className = "state " + f.state; s.textContent = f.state; }
      const n = row.querySelector("[data-open]");
      if (n) n.textContent = f.open_alerts;
    });
    const dot = document.getElementById("dot-" + f.id);
    if (dot) dot.setAttribute("class", "dot " + f.state);
  });
  es.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    if (a.severity === "critical" && (a.action === "opened" || a.action === "reopened" || a.action === "escalated")) {
      banner.hidden = false;
      banner.textContent = `${me.dataset.critical}: ${a.facility_id} — ${lang === "zh" ? a.summary : a.summary_en}`;
      banner.dataset.alert = a.id;
    }
    const page = document.querySelector("[data-facility-page]");
    if (page && page.dataset.facilityPage === a.facility_id) {
      // the facility page shows the alert list: refresh it when this facility changes
      setTimeout(() => window.location.reload(), 300);
    }
  });
})();

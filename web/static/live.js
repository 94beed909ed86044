// Live updates from /api/v1/stream: repaint facility states and the overview's counters in place;
// a critical alert cannot be missed.
(function () {
  // a table wider than a phone scrolls sideways (app.css): let the keyboard reach it too
  function focusableScrollers() {
    document.querySelectorAll("table").forEach((t) => {
      if (t.scrollWidth > t.clientWidth + 1) t.tabIndex = 0; else t.removeAttribute("tabindex");
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
  const me = document.currentScript;
  const banner = document.getElementById("banner");
  const lang = me.dataset.lang;
  // the page's catalogue (web/i18n.py LABELS): codes are shown by their names, never bare
  const labels = JSON.parse(document.getElementById("labels").textContent);
  const name = (kind, code) => (labels[kind] && labels[kind][code]) || code;
  const es = new EventSource("/api/v1/stream");

  // the data-intake banner (web/templates/intake_banner.html): a page left open learns that the
  // platform stopped hearing, or hears again, without a reload
  const intake = document.getElementById("intake");
  const INTAKE_EVERY_MS = 15000;
  async function refreshIntake() {
    const r = await fetch(`/intake-banner?lang=${encodeURIComponent(lang)}`, { credentials: "same-origin" });
    if (!r.ok || r.redirected) return;  // signed out meanwhile: /login answered, not the banner
    const html = (await r.text()).trim();
    if (html !== intake.innerHTML.trim()) intake.innerHTML = html;
  }
  if (intake) setInterval(() => { refreshIntake().catch(() => {}); }, INTAKE_EVERY_MS);
  let summaryTimer = null;

  async function refreshSummary() {
    // counters by severity, by rule, per area and the understaffed list, from one scoped call
    summaryTimer = null;
    const county = document.getElementById("summary").dataset.county;  // set on a county's drill-down
    const url = county ? `/api/v1/summary?county=${encodeURIComponent(county)}` : "/api/v1/summary";
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) return;
    const s = await r.json();
    for (const [sev, n] of Object.entries(s.by_severity)) {
      const el = document.querySelector(`[data-sev-count="${sev}"]`);
      if (el) el.textContent = n;
    }
    const rules = document.querySelector("[data-rule-counts]");
    if (rules) {
      rules.replaceChildren(...Object.entries(s.by_rule).map(([rule, n]) => {
        const div = document.createElement("div");
        const a = document.createElement("a");
        a.href = `/alerts?rule=${encodeURIComponent(rule)}`;
        a.textContent = name("rule", rule);
        div.append(a, `: ${n}`);
        return div;
      }));
    }
    for (const a of s.areas) {
      const row = document.querySelector(`[data-area="${a.code}"]`);
      if (!row) continue;
      for (const k of ["red", "amber", "grey", "green", "open_alerts"]) {
        const cell = row.querySelector(`[data-n="${k}"]`);
        if (cell) cell.textContent = a[k];
      }
    }
  }

  es.addEventListener("facility_status", (e) => {
    const f = JSON.parse(e.data);
    document.querySelectorAll(`[data-facility="${f.id}"]`).forEach((row) => {
      const s = row.querySelector("[data-state]");
      if (s) { s.className = "state " + f.state; s.textContent = name("state", f.state); }
      const n = row.querySelector("[data-open]");
      if (n) n.textContent = f.open_alerts;
    });
    if (window.cwMap) window.cwMap.update(f.id, f.state);  // the overview's map (map.js)
    if (document.getElementById("summary") && summaryTimer === null) {
      summaryTimer = setTimeout(refreshSummary, 250);  // one refresh for a burst of changes
    }
  });
  es.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    if (a.severity === "critical" && (a.action === "opened" || a.action === "reopened" || a.action === "escalated")) {
      banner.hidden = false;
      // an alarm known late says when it happened: "17:15 按下（18:15 收到，网关离线期间）"
      const late = a.occurred_text ? ` · ${a.occurred_text[lang === "zh" ? "zh" : "en"]}` : "";
      banner.textContent = `${me.dataset.critical}: ${a.facility_name || a.facility_id} — ${lang === "zh" ? a.summary : a.summary_en}${late}`;
      banner.dataset.alert = a.id;
    }
    const page = document.querySelector("[data-facility-page]");
    const alertPage = document.querySelector("[data-alert-page]");
    if ((page && page.dataset.facilityPage === a.facility_id) || (alertPage && alertPage.dataset.alertPage === String(a.id))) {
      // the facility and alert pages list this alert: refresh them when it changes
      setTimeout(() => window.location.reload(), 300);
    }
  });
})();

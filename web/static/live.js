// Live updates from /api/v1/stream: repaint facility states and the overview's counters in place;
// the parts of a page marked data-live follow it in place (never a reload, never a form that holds
// input); a critical alert cannot be missed (the red banner: a link, a close button, the current state).
(function () {
  // a table wider than a phone scrolls sideways (app.css): let the keyboard reach it too
  function focusableScrollers() {
    document.querySelectorAll("table").forEach((t) => {
      if (t.scrollWidth > t.clientWidth + 1) t.tabIndex = 0; else t.removeAttribute("tabindex");
    });
  }
  focusableScrollers();
  window.addEventListener("resize", focusableScrollers);
  // a refused form's reason stands next to its field (facility.html field_error): the page opens there,
  // not at its top 5,000 px away, with the field it concerns (or the form's first) ready to correct
  const refused = document.querySelector(".field-error");
  if (refused) {
    refused.scrollIntoView({ block: "center" });
    const field = refused.previousElementSibling && refused.previousElementSibling.querySelector("input, textarea, select");
    if (field) field.focus({ preventScroll: true });
  }
  // an accelerated demo's clock in the header goes on with the demo's time on a page left open (it was the
  // page's load time: 2 demo hours went by at 60x and the header still said 06:42)
  const demoClock = document.querySelector("[data-demo-clock]");
  if (demoClock) {
    const start = Date.parse(demoClock.dataset.now), loaded = Date.now();
    const speed = parseFloat(demoClock.dataset.speed) || 1;
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
    });
    const tick = () => {
      const p = Object.fromEntries(parts.formatToParts(new Date(start + (Date.now() - loaded) * speed)).map((x) => [x.type, x.value]));
      const text = `${p.month}-${p.day} ${p.hour}:${p.minute}`;
      const shown = demoClock.dataset.text.replace("{}", text).replace("{}", demoClock.dataset.speed);
      if (demoClock.textContent !== shown) demoClock.textContent = shown;
    };
    if (!Number.isNaN(start)) setInterval(tick, 1000);
  }
  const me = document.currentScript;
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
    const { county, township } = document.getElementById("summary").dataset;  // set on a drill-down
    const url = township ? `/api/v1/summary?township=${encodeURIComponent(township)}`
      : county ? `/api/v1/summary?county=${encodeURIComponent(county)}` : "/api/v1/summary";
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

  // The red banner (GET /critical-banner): the active critical alerts in scope, each a link to its
  // alert, fetched when the page opens and when a critical alert changes, so that a cleared alarm
  // leaves it and an escalated one stays one entry. Its close button hides that alert's entry for this
  // browser session (sessionStorage), not the alert: an escalation does not bring it back.
  const banner = document.getElementById("banner");
  const DISMISSED = "carewatch-banner-dismissed";
  const dismissed = () => { try { return JSON.parse(sessionStorage.getItem(DISMISSED) || "[]"); } catch (e) { return []; } };
  let bannerTimer = null;
  async function refreshBanner(live) {
    bannerTimer = null;
    const r = await fetch(`/critical-banner?lang=${encodeURIComponent(lang)}`, { credentials: "same-origin" });
    if (!r.ok || r.redirected) return;
    const closed = new Set(dismissed());
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const items = [...doc.querySelectorAll("[data-banner-alert]")].filter((el) => !closed.has(el.dataset.bannerAlert));
    if (banner.innerHTML === items.map((el) => el.outerHTML).join("")) return;  // unchanged: not announced again
    const before = new Set([...banner.querySelectorAll("[data-banner-alert]")].map((el) => el.dataset.bannerAlert));
    banner.replaceChildren(...items.map((el) => document.adoptNode(el)));
    banner.hidden = items.length === 0;
    if (live && items.some((el) => !before.has(el.dataset.bannerAlert))) {  // one that just came in: it blinks
      banner.classList.remove("flash");
      void banner.offsetWidth;  // restart the animation
      banner.classList.add("flash");
    }
  }
  banner.addEventListener("click", (e) => {
    const close = e.target.closest("[data-banner-close]");
    if (!close) return;
    const id = close.dataset.bannerClose;
    const closed = dismissed();
    if (!closed.includes(id)) closed.push(id);
    try { sessionStorage.setItem(DISMISSED, JSON.stringify(closed)); } catch (err) { /* private mode: this page only */ }
    close.closest("[data-banner-alert]").remove();
    banner.hidden = !banner.querySelector("[data-banner-alert]");
  });
  refreshBanner(false).catch(() => {});

  // The page's live parts ([data-live="name"]): fetched again (the page itself, or the region's
  // data-live-src) and morphed in place (morphdom, web/static/vendor). An element holding what someone
  // typed, or the focus, is never touched: not updated, not removed. Should a part no longer fit the
  // page (it is gone from the answer), the page says so and waits for the reader: never a reload.
  const stale = document.getElementById("live-stale");
  const pageEl = document.querySelector("[data-live-page]");
  // its 刷新 link: the page's own address (a refused form's answer stands at the form's, which no GET opens)
  if (stale && pageEl) stale.querySelector("a").href = pageEl.dataset.livePage;
  const FIELDS = "input, textarea, select";
  function edited(f) {
    if (f === document.activeElement) return true;
    if (f.tagName === "SELECT") return [...f.options].some((o) => o.selected !== o.defaultSelected);
    const type = (f.type || "").toLowerCase();
    if (type === "hidden" || type === "submit" || type === "button") return false;
    if (type === "checkbox" || type === "radio") return f.checked !== f.defaultChecked;
    if (type === "file") return f.files && f.files.length > 0;
    return f.value !== f.defaultValue;
  }
  const holdsInput = (el) =>
    el.nodeType === 1 && ((el.matches(FIELDS) && edited(el)) || [...el.querySelectorAll(FIELDS)].some(edited));
  const showStale = () => { if (stale) stale.hidden = false; };
  const MORPH = {
    getNodeKey: (n) => (n.nodeType === 1 && (n.getAttribute("data-alert") || n.id)) || undefined,
    onBeforeElUpdated: (from, to) => {
      if (!((from.tagName === "FORM" || from.matches(FIELDS)) && holdsInput(from))) return true;
      if (!from.isEqualNode(to)) showStale();  // kept as typed, though the form itself changed
      return false;
    },
    onBeforeNodeDiscarded: (n) => {
      if (!holdsInput(n)) return true;
      showStale();  // gone from the page's new state, but someone is typing in it: it stays
      return false;
    },
  };
  const sources = new Map();  // a source's URL → the regions it feeds
  document.querySelectorAll("[data-live]").forEach((el) => {
    const src = el.dataset.liveSrc || (pageEl ? pageEl.dataset.livePage : window.location.pathname + window.location.search);
    if (!sources.has(src)) sources.set(src, { regions: [], timer: null, last: 0 });
    sources.get(src).regions.push(el.dataset.live);
    const every = Number(el.dataset.liveEvery || 0);  // relative times ("3 分钟前") stay current
    if (every > 0) setInterval(() => schedule(src, 0), every * 1000);
  });
  const EVERY_MS = 1000;  // a burst of changes (an alarm bumped again and again): one fetch a second at most
  async function refresh(src) {
    sources.get(src).timer = null;
    sources.get(src).last = Date.now();
    const r = await fetch(src, { credentials: "same-origin" });
    if (r.redirected) return;  // signed out meanwhile: /login answered, not the page
    if (!r.ok) { showStale(); return; }
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    for (const name of sources.get(src).regions) {
      const here = document.querySelector(`[data-live="${name}"]`);
      const there = doc.querySelector(`[data-live="${name}"]`);
      if (!here) continue;
      if (!there) { showStale(); continue; }
      morphdom(here, there, MORPH);
    }
    focusableScrollers();
  }
  function schedule(src, ms) {
    const s = sources.get(src);
    if (!s || s.timer !== null) return;
    const wait = Math.max(ms, s.last + EVERY_MS - Date.now());
    s.timer = setTimeout(() => { refresh(src).catch(() => {}); }, wait);
  }
  const scheduleAll = () => sources.forEach((_, src) => schedule(src, 250));  // one refresh for a burst

  es.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    if (a.severity === "critical" && bannerTimer === null) bannerTimer = setTimeout(() => { refreshBanner(true).catch(() => {}); }, 250);
    const facilityPage = document.querySelector("[data-facility-page]");
    const alertPage = document.querySelector("[data-alert-page]");
    if (facilityPage) { if (facilityPage.dataset.facilityPage === a.facility_id) scheduleAll(); }
    else if (alertPage) { if (alertPage.dataset.alertPage === String(a.id)) scheduleAll(); }
    else scheduleAll();  // the overview's list: every alert in scope (the stream sends no other)
  });
  // the stream lost and opened again (EventSource does it by itself): what changed meanwhile was not
  // sent, so the live parts and the banner are fetched again
  let opened = false;
  es.addEventListener("open", () => {
    if (opened) { scheduleAll(); refreshBanner(true).catch(() => {}); }
    opened = true;
  });
  es.addEventListener("facility_status", (e) => {
    const f = JSON.parse(e.data);
    const facilityPage = document.querySelector("[data-facility-page]");
    if (facilityPage && facilityPage.dataset.facilityPage === f.id) scheduleAll();
  });
})();

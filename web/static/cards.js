// A phone (≤ 480 px, app.css) shows a table's rows as cards, one cell after another: each cell says which
// column it is, taken from the table's header row (a cell that says it already keeps its own). The inbox's
// and the orders' tables have cards of their own. Done once on load and again when the live stream redraws a
// part of the page (live.js morphs it to the server's HTML, which drops the attribute).
(() => {
  const label = () => {
    for (const table of document.querySelectorAll("main table:not(.alerts):not(.orders)")) {
      const head = [...table.rows].find((row) => row.cells.length && [...row.cells].every((c) => c.tagName === "TH"));
      if (!head) continue;
      const names = [...head.cells].flatMap((c) => Array(c.colSpan || 1).fill(c.textContent.trim()));
      for (const row of table.rows) {
        if (row === head) continue;
        let i = 0;
        for (const cell of row.cells) {
          const name = names[i];
          i += cell.colSpan || 1;
          if (cell.tagName !== "TD" || cell.colSpan !== 1) continue;
          if (name && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", name);
          // a cell with nothing in it is left out of the card (a device not heard from has no battery level)
          cell.toggleAttribute("data-empty", !cell.textContent.trim() && !cell.querySelector("input, select, img, button"));
        }
      }
    }
  };
  let queued = false;
  const soon = () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(() => { queued = false; label(); });
    }
  };
  label();
  new MutationObserver(soon).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-label", "data-empty"],
  });
})();

// The 通报 form's subject picker (issue #41): typing part of a name in the search box narrows every subject
// list to the facilities and areas whose name holds it; a row's chosen subject always stays in its list.
"use strict";
document.querySelectorAll("[data-subject-filter]").forEach((box) => {
  box.addEventListener("input", () => {
    const q = box.value.trim();
    for (const o of document.querySelectorAll("#circular-form select[name=subject] option")) {
      if (!o.value || o.selected) continue;
      o.hidden = q !== "" && !o.textContent.includes(q);
    }
  });
});

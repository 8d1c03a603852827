/* Target languages from the service's GET /languages (LibreTranslate format), for the popup and options. */
(function (root) {
  "use strict";

  /** Fills `select` with the targets the service offers; keeps `current` selectable even if unknown. */
  async function fillTargets(select, serviceUrl, current) {
    let languages = [];
    let error = null;
    try {
      const response = await fetch(serviceUrl.replace(/\/+$/, "") + "/languages");
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      languages = await response.json();
    } catch (err) {
      error = `Cannot load languages from ${serviceUrl}: ${err.message || err}`;
    }
    const names = new Map(languages.map((l) => [l.code, l.name]));
    const codes = new Set();
    for (const language of languages) (language.targets || []).forEach((code) => codes.add(code));
    if (current) codes.add(current);
    select.textContent = "";
    for (const code of [...codes].sort()) {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = names.has(code) ? `${names.get(code)} (${code})` : code;
      select.appendChild(option);
    }
    if (current) select.value = current;
    return error;
  }

  root.PageTranslateLanguages = { fillTargets };
})(globalThis);

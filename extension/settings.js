/* Settings shared by the extension's pages and scripts: defaults and storage. The service URL, target and key
   live in storage.sync; the glossary and do-not-translate list in storage.local (sync's 8 KB per item is too
   small for a real glossary). */
(function (root) {
  "use strict";
  const api = root.browser || root.chrome;
  const DEFAULTS = { serviceUrl: "http://127.0.0.1:8000", target: "en", apiKey: "" };
  const LISTS = { glossary: "", doNotTranslate: "" };
  // The service's own bounds (docs/terminology.md): beyond them it would refuse every page, so lines are dropped.
  const MAX_ENTRIES = 5000;
  const MAX_TERM_CHARS = 200;

  async function load() {
    const stored = await api.storage.sync.get(Object.keys(DEFAULTS));
    const lists = await api.storage.local.get(Object.keys(LISTS));
    return Object.assign({}, DEFAULTS, LISTS, stored, lists);
  }

  async function save(values) {
    const clean = {
      serviceUrl: String(values.serviceUrl || DEFAULTS.serviceUrl).trim().replace(/\/+$/, ""),
      target: String(values.target || DEFAULTS.target).trim(),
      apiKey: String(values.apiKey || "").trim(),
    };
    await api.storage.sync.set(clean);
    const lists = { glossary: String(values.glossary || ""), doNotTranslate: String(values.doNotTranslate || "") };
    await api.storage.local.set(lists);
    return Object.assign(clean, lists);
  }

  function usable(term) {
    return term.length > 0 && term.length <= MAX_TERM_CHARS;
  }

  /**
   * The lists as the service takes them: `glossary` from lines "source = target" (or "source<TAB>target"),
   * `do_not_translate` from one term per line. Blank lines, lines starting with #, lines without a target and
   * a source given twice (any case) are skipped, so that no list can make the service refuse a page.
   */
  function termsOf(settings) {
    const glossary = {};
    const seen = new Set();
    for (const line of String(settings.glossary || "").split(/\r?\n/)) {
      if (!line.trim() || line.trim().startsWith("#")) continue;
      const cut = line.includes("\t") ? line.indexOf("\t") : line.indexOf("=");
      if (cut < 0) continue;
      const source = line.slice(0, cut).trim();
      const target = line.slice(cut + 1).trim();
      const key = source.normalize("NFC").toLowerCase();
      if (!usable(source) || !usable(target) || seen.has(key) || seen.size >= MAX_ENTRIES) continue;
      seen.add(key);
      glossary[source] = target;
    }
    const terms = [];
    for (const line of String(settings.doNotTranslate || "").split(/\r?\n/)) {
      const term = line.trim();
      if (usable(term) && !terms.includes(term) && terms.length < 200) terms.push(term);
    }
    const out = {};
    if (seen.size) out.glossary = glossary;
    if (terms.length) out.do_not_translate = terms;
    return out;
  }

  root.PageTranslateSettings = { DEFAULTS, load, save, termsOf, api };
})(globalThis);

/* Settings shared by the extension's pages and scripts: defaults and storage (chrome.storage.sync). */
(function (root) {
  "use strict";
  const api = root.browser || root.chrome;
  const DEFAULTS = { serviceUrl: "http://127.0.0.1:8000", target: "en", apiKey: "" };

  async function load() {
    const stored = await api.storage.sync.get(Object.keys(DEFAULTS));
    return Object.assign({}, DEFAULTS, stored);
  }

  async function save(values) {
    const clean = {
      serviceUrl: String(values.serviceUrl || DEFAULTS.serviceUrl).trim().replace(/\/+$/, ""),
      target: String(values.target || DEFAULTS.target).trim(),
      apiKey: String(values.apiKey || "").trim(),
    };
    await api.storage.sync.set(clean);
    return clean;
  }

  root.PageTranslateSettings = { DEFAULTS, load, save, api };
})(globalThis);

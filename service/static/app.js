/*
 * Front page: languages from GET /languages, translations from POST /translate (LibreTranslate API).
 * Loaded after /static/translate-core.js, whose requestJson does the requests.
 */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { languages: [], timer: null, request: 0 };

  function showError(message) {
    $("error").textContent = message || "";
    $("error").hidden = !message;
  }

  /** The shared request helper (translate-core.js), with this page's shorter wording of its errors. */
  async function callApi(path, body) {
    try {
      return await globalThis.PageTranslate.requestJson(path, body);
    } catch (err) {
      if (!(err instanceof globalThis.PageTranslate.ServiceError)) throw err;
      throw new Error(err.status ? `Error ${err.status}: ${err.detail}` : `Cannot reach the service: ${err.detail}`);
    }
  }

  function option(code, label) {
    const el = document.createElement("option");
    el.value = code;
    el.textContent = label;
    return el;
  }

  function nameOf(code) {
    const language = state.languages.find((l) => l.code === code);
    return language ? language.name : code;
  }

  /** Targets offered for the chosen source (all targets for auto-detection). */
  function fillTargets() {
    const source = $("source").value;
    const previous = $("target").value || localStorage.getItem("target");
    const codes = new Set();
    for (const language of state.languages) {
      if (source === "auto" || language.code === source) (language.targets || []).forEach((c) => codes.add(c));
    }
    if (source !== "auto") codes.delete(source);
    $("target").textContent = "";
    for (const code of [...codes].sort()) $("target").appendChild(option(code, nameOf(code)));
    if (previous && codes.has(previous)) $("target").value = previous;
  }

  async function loadLanguages() {
    try {
      state.languages = await callApi("/languages");
    } catch (err) {
      showError(`Could not load the languages. ${err.message}`);
      return;
    }
    for (const language of state.languages) $("source").appendChild(option(language.code, language.name));
    const source = localStorage.getItem("source");
    if (source && [...$("source").options].some((o) => o.value === source)) $("source").value = source;
    fillTargets();
  }

  async function translate() {
    const q = $("q").value;
    const request = ++state.request;
    if (!q.trim()) {
      $("result").value = "";
      $("detected").textContent = "";
      showError("");
      return;
    }
    if (!$("target").value) {
      showError("No target language is available for this source language.");
      return;
    }
    const body = { q, source: $("source").value, target: $("target").value, format: "text" };
    if ($("apiKey").value) body.api_key = $("apiKey").value;
    $("translate").disabled = true;
    const started = performance.now();
    try {
      const data = await callApi("/translate", body);
      if (request !== state.request) return; // a newer request is on its way
      $("result").value = data.translatedText;
      const detected = data.detectedLanguage;
      $("detected").textContent = detected && body.source === "auto"
        ? `Detected: ${nameOf(detected.language)} (${Math.round(detected.confidence)}%)` : "";
      $("timing").textContent = `${Math.round(performance.now() - started)} ms`;
      showError("");
    } catch (err) {
      if (request === state.request) showError(err.message);
    } finally {
      if (request === state.request) $("translate").disabled = false;
    }
  }

  function later() {
    clearTimeout(state.timer);
    state.timer = setTimeout(translate, 600);
  }

  $("q").addEventListener("input", () => {
    $("count").textContent = String($("q").value.length);
    later();
  });
  $("source").addEventListener("change", () => {
    localStorage.setItem("source", $("source").value);
    fillTargets();
    later();
  });
  $("target").addEventListener("change", () => {
    localStorage.setItem("target", $("target").value);
    later();
  });
  $("translate").addEventListener("click", translate);
  $("swap").addEventListener("click", () => {
    const source = $("source").value;
    const target = $("target").value;
    if (source === "auto" || ![...$("source").options].some((o) => o.value === target)) return;
    $("source").value = target;
    fillTargets();
    if ([...$("target").options].some((o) => o.value === source)) $("target").value = source;
    if ($("result").value) $("q").value = $("result").value;
    $("count").textContent = String($("q").value.length);
    later();
  });
  $("copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("result").value));
  $("apiKey").value = localStorage.getItem("apiKey") || "";
  $("apiKey").addEventListener("change", () => localStorage.setItem("apiKey", $("apiKey").value));
  $("snippet").textContent = `<script src="${location.origin + "/static/translate-page.js"}" data-target="de"></script>`;

  loadLanguages();
})();

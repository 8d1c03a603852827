/*
 * Front page: languages from GET /languages, translations from POST /translate (LibreTranslate API), and a
 * Files tab that uploads a document as a job (POST /v1/documents), shows its progress and offers the result.
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
  /** Tabs: text, or files (document jobs: /v1/documents, docs/documents.md). */
  function showTab(files) {
    $("tab-text").setAttribute("aria-selected", String(!files));
    $("tab-files").setAttribute("aria-selected", String(files));
    $("text-panel").hidden = files;
    $("files-panel").hidden = !files;
    $("translate").hidden = files;
    $("upload").hidden = !files;
    showError("");
  }
  $("tab-text").addEventListener("click", () => showTab(false));
  $("tab-files").addEventListener("click", () => showTab(true));

  async function loadFormats() {
    try {
      const settings = await callApi("/frontend/settings");
      const formats = settings.supportedFilesFormat || [];
      $("formats").textContent = formats.join(", ");
      $("file").accept = formats.join(",");
    } catch (err) {
      $("formats").textContent = "";
    }
  }

  function keyHeaders() {
    const key = $("apiKey").value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  /** A failed request's message, from the service's error shape. */
  async function failure(response) {
    try {
      const body = await response.json();
      const error = body && body.error;
      return `Error ${response.status}: ${error && error.message ? error.message : response.statusText}`;
    } catch (err) {
      return `Error ${response.status}: ${response.statusText}`;
    }
  }

  async function uploadFile() {
    const file = $("file").files[0];
    if (!file) return showError("Choose a file first.");
    showError("");
    $("download").hidden = true;
    $("upload").disabled = true;
    $("file-bar").style.width = "0";
    $("file-status").textContent = "Uploading…";
    try {
      const form = new FormData();
      form.append("file", file);
      form.append("source", $("source").value);
      form.append("target", $("target").value);
      const response = await fetch("/v1/documents", { method: "POST", body: form, headers: keyHeaders() });
      if (!response.ok) throw new Error(await failure(response));
      const { document_id: id, document_key: key } = await response.json();
      const query = `document_key=${encodeURIComponent(key)}`;
      for (;;) {
        const poll = await fetch(`/v1/documents/${id}?${query}`, { headers: keyHeaders() });
        if (!poll.ok) throw new Error(await failure(poll));
        const job = await poll.json();
        const { segments_done: done, segments_total: total } = job.progress;
        $("file-bar").style.width = total ? `${Math.round((100 * done) / total)}%` : "0";
        if (job.status === "error") throw new Error(job.error ? job.error.message : "the document failed");
        if (job.status === "done") break;
        const left = job.seconds_remaining === null ? "" : `, about ${Math.ceil(job.seconds_remaining)} s left`;
        $("file-status").textContent = `Translating… ${done} / ${total}${left}`;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      $("file-bar").style.width = "100%";
      $("file-status").textContent = "Done.";
      const dot = file.name.lastIndexOf(".");
      const stem = dot > 0 ? file.name.slice(0, dot) : file.name;
      // fetched here, not linked: with API keys on, the download needs the key header too
      const result = await fetch(`/v1/documents/${id}/result?${query}`, { headers: keyHeaders() });
      if (!result.ok) throw new Error(await failure(result));
      if ($("download").href) URL.revokeObjectURL($("download").href);
      $("download").href = URL.createObjectURL(await result.blob());
      $("download").download = `${stem}.${$("target").value}${dot > 0 ? file.name.slice(dot) : ""}`;
      $("download").hidden = false;
    } catch (err) {
      $("file-status").textContent = "";
      showError(err.message || String(err));
    } finally {
      $("upload").disabled = false;
    }
  }
  $("upload").addEventListener("click", uploadFile);

  $("copy").addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText($("result").value));
  $("apiKey").value = localStorage.getItem("apiKey") || "";
  $("apiKey").addEventListener("change", () => localStorage.setItem("apiKey", $("apiKey").value));
  $("snippet").textContent = `<script src="${location.origin + "/static/translate-page.js"}" data-target="de"></script>`;

  loadLanguages();
  loadFormats();
})();

/*
 * Embeddable "Translate this page" button.
 *
 *   <script src="http://SERVICE/static/translate-page.js" data-target="de"></script>
 *
 * Optional attributes: data-source (default "auto"), data-service-url (default: where this script
 * came from), data-api-key, data-label, data-stream="false" (whole batches through the LibreTranslate
 * route instead of texts painted as they stream in, viewport first). It loads the shared core (extension/translate-core.js, served
 * by the service as /static/translate-core.js next to this file; override with data-core-src) and adds
 * a floating button: Translate <-> Show original, with progress and errors shown on the page.
 */
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || window.__pageTranslateEmbed) return;
  window.__pageTranslateEmbed = true;

  const config = {
    target: script.dataset.target || (navigator.language || "en").slice(0, 2),
    source: script.dataset.source || "auto",
    serviceUrl: script.dataset.serviceUrl || new URL(script.src, location.href).origin,
    apiKey: script.dataset.apiKey || "",
    label: script.dataset.label || "Translate",
    coreSrc: script.dataset.coreSrc || new URL("translate-core.js", script.src).href,
    stream: script.dataset.stream !== "false",
  };

  function loadCore() {
    if (window.PageTranslate) return Promise.resolve(window.PageTranslate);
    return new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = config.coreSrc;
      tag.onload = () => (window.PageTranslate ? resolve(window.PageTranslate) : reject(new Error("core did not load")));
      tag.onerror = () => reject(new Error(`cannot load ${config.coreSrc}`));
      document.head.appendChild(tag);
    });
  }

  function makeButton(UI_MARK) {
    const host = document.createElement("div");
    host.setAttribute(UI_MARK, "button");
    host.setAttribute("translate", "no");
    host.className = "notranslate";
    const shadow = host.attachShadow({ mode: "open" });
    shadow.innerHTML = `
      <style>
        button { position: fixed; right: 16px; bottom: 16px; z-index: 2147483646; padding: 9px 14px;
                 font: 600 14px/1 system-ui, sans-serif; color: #fff; background: #2563eb; border: 0;
                 border-radius: 20px; box-shadow: 0 2px 10px rgba(0,0,0,.25); cursor: pointer; }
        button:disabled { opacity: .7; cursor: progress; }
        button.original { background: #fff; color: #2563eb; border: 1px solid #2563eb; }
      </style>
      <button type="button"></button>`;
    document.body.appendChild(host);
    return shadow.querySelector("button");
  }

  async function start() {
    let core;
    try {
      core = await loadCore();
    } catch (err) {
      console.error("translate-page.js:", err); // no core, no overlay: the console is all we have
      return;
    }
    const overlay = new core.Overlay(document);
    const button = makeButton(core.UI_MARK);
    const show = (text, translated, busy) => {
      button.textContent = text;
      button.classList.toggle("original", translated);
      button.disabled = Boolean(busy);
    };
    const translator = new core.PageTranslator({
      transport: (config.stream ? core.streamTransport : core.fetchTransport)(config.serviceUrl, config.apiKey),
      target: config.target,
      source: config.source,
      onProgress: ({ done, total, failed }) => overlay.progress(done, total, failed),
      onError: (error) => {
        overlay.error(error.message);
        show("Show original", true, false);
      },
      onDone: () => show("Show original", true, false),
    });
    show(config.label, false, false);
    button.addEventListener("click", () => {
      if (translator.state === "original") {
        show("Translating…", false, true);
        translator.translate();
      } else {
        translator.restore();
        overlay.hide();
        show(config.label, false, false);
      }
    });
    window.pageTranslator = translator; // for pages that want to drive it themselves
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

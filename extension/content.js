/*
 * Content script, injected on demand (toolbar popup or context menu) after translate-core.js and
 * settings.js. Requests go through the background worker, which may reach a local service that the
 * page itself could not (mixed content, CORS); progress and errors are shown in the page's overlay.
 */
(function () {
  "use strict";
  if (globalThis.__pageTranslateContent) return; // injected again: the listener is already there
  globalThis.__pageTranslateContent = true;

  const { PageTranslator, Overlay, ServiceError } = globalThis.PageTranslate;
  const { api, load } = globalThis.PageTranslateSettings;
  const overlay = new Overlay(document);

  /** The streaming transport, through the background worker (which can reach the service): see streamBatch. */
  function streamViaBackground(texts, source, target, signal, how) {
    const { priority = "interactive", onResult } = how || {};
    return new Promise((resolve, reject) => {
      const port = api.runtime.connect({ name: "translate-stream" });
      let settled = false;
      const finish = (action) => {
        if (settled) return;
        settled = true;
        port.disconnect();
        action();
      };
      if (signal) {
        if (signal.aborted) return finish(() => reject(new DOMException("aborted", "AbortError")));
        signal.addEventListener("abort", () => finish(() => reject(new DOMException("aborted", "AbortError"))));
      }
      port.onMessage.addListener((message) => {
        if (message.type === "result" && onResult) onResult(message.index, message.text);
        else if (message.type === "done") finish(() => resolve(message.translations));
        else if (message.type === "error") finish(() => reject(new ServiceError(message.error, message.status)));
      });
      port.onDisconnect.addListener(() =>
        finish(() => reject(new ServiceError("The extension's background worker stopped answering."))));
      port.postMessage({ texts, source, target, priority });
    });
  }
  streamViaBackground.streams = true;

  const translator = new PageTranslator({
    transport: streamViaBackground,
    target: "en",
    onProgress({ done, total, failed }) {
      overlay.progress(done, total, failed);
      api.runtime.sendMessage({ type: "progress", done, total }).catch(() => {});
    },
    onError(error) {
      overlay.error(error.message);
      api.runtime.sendMessage({ type: "progress", error: error.message }).catch(() => {});
    },
  });

  async function handle(message) {
    if (message.cmd === "translate") {
      const settings = await load();
      translator.setTarget(message.target || settings.target);
      translator.translate(); // progress and errors arrive through the callbacks
      return { state: translator.state };
    }
    if (message.cmd === "restore") {
      translator.restore();
      overlay.hide();
      api.runtime.sendMessage({ type: "progress", done: 0, total: 0 }).catch(() => {});
      return { state: translator.state };
    }
    if (message.cmd === "status") return { state: translator.state, target: translator.options.target };
    return { error: `unknown command ${message.cmd}` };
  }

  api.runtime.onMessage.addListener((message, sender, sendResponse) => {
    if (!message || !message.cmd) return false;
    handle(message).then(sendResponse, (err) => sendResponse({ error: String(err && err.message ? err.message : err) }));
    return true; // answer asynchronously
  });
})();

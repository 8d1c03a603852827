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

  function viaBackground(texts, source, target) {
    return api.runtime.sendMessage({ type: "translate-batch", texts, source, target }).then((reply) => {
      if (!reply) throw new ServiceError("The extension's background worker did not answer.");
      if (!reply.ok) throw new ServiceError(reply.error, reply.status);
      return reply.translations;
    });
  }

  const translator = new PageTranslator({
    transport: viaBackground,
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

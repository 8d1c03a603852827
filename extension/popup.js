/* Toolbar popup: Translate / Show original for the current tab, with the target language. */
(async function () {
  "use strict";
  const { api, load, save } = globalThis.PageTranslateSettings;
  const { $, status } = globalThis.PageTranslateUi;

  const settings = await load();
  $("service").textContent = settings.serviceUrl;
  const languageError = await globalThis.PageTranslateLanguages.fillTargets($("target"), settings.serviceUrl, settings.target);
  if (languageError) status(languageError, true);

  const [tab] = await api.tabs.query({ active: true, currentWindow: true });

  async function run(cmd) {
    if (!tab || tab.id === undefined) return status("No page to translate here.", true);
    $("translate").disabled = $("original").disabled = true;
    try {
      if (cmd === "translate") await save(Object.assign(settings, { target: $("target").value }));
      const reply = await api.runtime.sendMessage({ type: "command", tabId: tab.id, cmd, extra: { target: $("target").value } });
      if (!reply || !reply.ok) throw new Error(reply ? reply.error : "no answer");
      status(cmd === "translate" ? "Translating… progress is shown on the page." : "Original text restored.");
    } catch (err) {
      status(`This page cannot be translated: ${err.message || err}`, true);
    } finally {
      $("translate").disabled = $("original").disabled = false;
    }
  }

  $("translate").addEventListener("click", () => run("translate"));
  $("original").addEventListener("click", () => run("restore"));
  $("options").addEventListener("click", (event) => {
    event.preventDefault();
    api.runtime.openOptionsPage();
  });
})();

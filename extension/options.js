/* Options page: service URL, target language, API key, glossary and do-not-translate list. */
(async function () {
  "use strict";
  const { api, load, save } = globalThis.PageTranslateSettings;
  const { $, status } = globalThis.PageTranslateUi;

  const settings = await load();
  $("serviceUrl").value = settings.serviceUrl;
  $("apiKey").value = settings.apiKey;
  $("glossary").value = settings.glossary;
  $("doNotTranslate").value = settings.doNotTranslate;

  async function refreshLanguages() {
    const error = await globalThis.PageTranslateLanguages.fillTargets($("target"), $("serviceUrl").value, $("target").value || settings.target);
    status(error || `Connected: ${$("target").options.length} target languages.`, Boolean(error));
    return !error;
  }

  /** Services other than localhost need a host permission; asked for on Save (a user gesture). */
  async function allowOrigin(url) {
    try {
      const origin = new URL(url).origin + "/*";
      return await api.permissions.request({ origins: [origin] });
    } catch (err) {
      return false;
    }
  }

  $("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const url = $("serviceUrl").value;
    const granted = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/.test(url) || (await allowOrigin(url));
    await save({
      serviceUrl: url,
      target: $("target").value,
      apiKey: $("apiKey").value,
      glossary: $("glossary").value,
      doNotTranslate: $("doNotTranslate").value,
    });
    status(granted ? "Saved." : "Saved, but without permission to reach this host the requests may fail.", !granted);
  });
  $("test").addEventListener("click", refreshLanguages);
  await refreshLanguages();
})();

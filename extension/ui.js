/* The extension's own pages (popup, options) share these, as they share ui.css. */
(function (root) {
  "use strict";
  const $ = (id) => document.getElementById(id);

  /** Writes the page's #status line; errors get the error style, so the user cannot miss them. */
  function status(text, isError) {
    $("status").textContent = text || "";
    $("status").classList.toggle("error", Boolean(isError));
  }

  root.PageTranslateUi = { $, status };
})(globalThis);

/*
 * Background (service worker in Chrome, event page script in Firefox): context menu, on-demand
 * injection of the content script, the requests to the translation service, and the progress badge.
 */
"use strict";

// Shared with the content script and pages: settings (storage) and the request helper. Chrome's service
// worker imports them here; Firefox's event page gets them from the manifest's background.scripts.
const SHARED_FILES = ["settings.js", "translate-core.js"];
if (typeof importScripts === "function") importScripts(...SHARED_FILES);

const { api, load } = globalThis.PageTranslateSettings;
const CONTENT_FILES = ["translate-core.js", "settings.js", "content.js"];

async function ensureInjected(tabId) {
  await api.scripting.executeScript({ target: { tabId }, files: CONTENT_FILES });
}

/** Run a command ("translate" | "restore" | "status") in a tab; used by the popup and the context menu. */
async function command(tabId, cmd, extra) {
  await ensureInjected(tabId);
  return api.tabs.sendMessage(tabId, Object.assign({ cmd }, extra || {}));
}

/**
 * One batch streamed to the content script over a port: {type: "result", index, text} per text as it is done,
 * then {type: "done", translations} or {type: "error", status, error}. The content script disconnecting
 * (Show original, tab closed) aborts the request, and the service withdraws its sentences.
 */
function streamBatch(port) {
  const controller = new AbortController();
  port.onDisconnect.addListener(() => controller.abort());
  port.onMessage.addListener(async (message) => {
    const s = await load();
    try {
      const terms = globalThis.PageTranslateSettings.termsOf(s);
      const transport = globalThis.PageTranslate.streamTransport(s.serviceUrl, s.apiKey, terms);
      const onResult = (index, text) => port.postMessage({ type: "result", index, text });
      const translations = await transport(message.texts, message.source, message.target || s.target,
        controller.signal, { priority: message.priority, onResult });
      port.postMessage({ type: "done", translations });
    } catch (err) {
      if (err && err.name === "AbortError") return;
      port.postMessage({ type: "error", status: err.status, error: err.message || String(err) });
    }
  });
}

api.runtime.onConnect.addListener((port) => {
  if (port.name === "translate-stream") streamBatch(port);
});

function showProgress(tabId, message) {
  if (tabId === undefined) return;
  let text = "";
  if (message.error) text = "!";
  else if (message.total && message.done < message.total) text = `${Math.floor((100 * message.done) / message.total)}%`;
  api.action.setBadgeBackgroundColor({ tabId, color: message.error ? "#dc2626" : "#2563eb" });
  api.action.setBadgeText({ tabId, text });
  api.action.setTitle({ tabId, title: message.error ? `Translation failed: ${message.error}` : "Translate this page" });
}

api.runtime.onInstalled.addListener(async () => {
  await api.contextMenus.removeAll();
  const contexts = ["page", "selection", "link", "image"];
  api.contextMenus.create({ id: "translate-page", title: "Translate this page", contexts });
  api.contextMenus.create({ id: "show-original", title: "Show original", contexts });
});

api.contextMenus.onClicked.addListener((info, tab) => {
  if (!tab || tab.id === undefined) return;
  const cmd = info.menuItemId === "show-original" ? "restore" : "translate";
  command(tab.id, cmd).catch((err) => showProgress(tab.id, { error: err.message || String(err) }));
});

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (!message || !message.type) return false;
  if (message.type === "progress") {
    showProgress(sender.tab && sender.tab.id, message);
    return false;
  }
  if (message.type === "command") {
    command(message.tabId, message.cmd, message.extra).then(
      (reply) => sendResponse(Object.assign({ ok: true }, reply)),
      (err) => sendResponse({ ok: false, error: err.message || String(err) }),
    );
    return true;
  }
  return false;
});

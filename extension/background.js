/*
 * Background (service worker in Chrome, event page script in Firefox): context menu, on-demand
 * injection of the content script, the requests to the translation service, and the progress badge.
 */
"use strict";

const api = globalThis.browser || globalThis.chrome;
const DEFAULTS = { serviceUrl: "http://127.0.0.1:8000", target: "en", apiKey: "" };
const CONTENT_FILES = ["translate-core.js", "settings.js", "content.js"];

async function settings() {
  return Object.assign({}, DEFAULTS, await api.storage.sync.get(Object.keys(DEFAULTS)));
}

async function ensureInjected(tabId) {
  await api.scripting.executeScript({ target: { tabId }, files: CONTENT_FILES });
}

/** Run a command ("translate" | "restore" | "status") in a tab; used by the popup and the context menu. */
async function command(tabId, cmd, extra) {
  await ensureInjected(tabId);
  return api.tabs.sendMessage(tabId, Object.assign({ cmd }, extra || {}));
}

async function translateBatch(texts, source, target) {
  const s = await settings();
  const url = s.serviceUrl.replace(/\/+$/, "") + "/translate";
  const body = { q: texts, source: source || "auto", target: target || s.target, format: "text" };
  if (s.apiKey) body.api_key = s.apiKey;
  let response;
  try {
    response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (err) {
    return { ok: false, error: `Cannot reach the translation service at ${url}: ${err.message || err}` };
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const detail = data && (data.error || data.detail);
    const text = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : response.statusText;
    return { ok: false, status: response.status, error: `Translation service error ${response.status}: ${text}` };
  }
  if (!data || !Array.isArray(data.translatedText) || data.translatedText.length !== texts.length) {
    return { ok: false, error: "The translation service sent an unexpected answer (no translatedText list of the right length)." };
  }
  return { ok: true, translations: data.translatedText.map(String) };
}

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
  if (message.type === "translate-batch") {
    translateBatch(message.texts, message.source, message.target).then(sendResponse);
    return true;
  }
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

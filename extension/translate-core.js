/*
 * Page translation core, shared by the browser extension's content script and the embeddable
 * script (service/static/translate-page.js). Plain ES2020, no dependencies, no build step.
 *
 * It collects the visible text of a page (skipping what the server's HTML translator skips:
 * script/style/code/pre/textarea, [translate=no], .notranslate, plus hidden elements), sends it in
 * batches -- viewport first -- and writes translations back as they arrive, and can restore the original
 * text exactly. With the service's streaming API (streamTransport) what is in view goes first as
 * interactive work, the rest of the page as bulk work (or as interactive once scrolled into view), and each
 * text is painted the moment its translation arrives; any LibreTranslate-compatible endpoint works too
 * (fetchTransport), a whole batch at a time. Once a page is translated, a
 * MutationObserver keeps it translated: text the page adds or changes later goes the same way.
 *
 * It also holds the one request helper (requestJson) that the extension's background worker and the
 * service's front page use too, so the code that talks to the service exists once.
 *
 * Exposes globalThis.PageTranslate = { PageTranslator, ChangeWatcher, requestJson, fetchTransport,
 * streamTransport, readEvents, collectItems, collectChanged, makeBatches, Overlay, ServiceError,
 * isSkippedElement, inViewport, UI_MARK }. Loading
 * it touches no DOM, so it also loads in a service worker.
 */
(function (root) {
  "use strict";
  if (root.PageTranslate) return; // loaded twice (extension injected again): keep the first copy

  const SKIPPED_TAGS = new Set([
    "SCRIPT", "STYLE", "CODE", "VAR", "PRE", "NOSCRIPT", "TEMPLATE", "TEXTAREA", "SVG", "MATH",
    "IFRAME", "OBJECT", "CANVAS", "VIDEO", "AUDIO", "KBD", "SAMP",
  ]);
  const TRANSLATED_ATTRIBUTES = ["title", "alt", "placeholder"];
  const UI_MARK = "data-page-translate-ui";
  const HAS_LETTER = /\p{L}/u;

  /** An error the user must see: a message from the service, or why it could not be reached. */
  // Statuses that refuse one request for what it holds, not the service or the key: a page translator skips
  // that batch's texts and translates the rest of the page.
  const BATCH_REFUSALS = new Set([400, 413, 415, 422]);

  class ServiceError extends Error {
    constructor(message, status, detail) {
      super(message);
      this.name = "ServiceError";
      this.status = status || 0;
      this.detail = detail === undefined ? message : detail; // the service's words, without our prefix
    }
  }

  function isSkippedElement(el) {
    if (SKIPPED_TAGS.has(el.tagName.toUpperCase())) return true;
    if (el.hasAttribute(UI_MARK)) return true;
    if ((el.getAttribute("translate") || "").trim().toLowerCase() === "no") return true;
    if (el.classList && el.classList.contains("notranslate")) return true;
    return el.isContentEditable === true; // what the user is typing is theirs
  }

  /** display:none (or the hidden attribute) hides a whole subtree; checked on every ancestor. */
  function isHiddenElement(el) {
    if (el.hidden) return true;
    return el.ownerDocument.defaultView.getComputedStyle(el).display === "none";
  }

  /** visibility is inherited and a child may override it, so only the text's own parent decides. */
  function isInvisibleParent(el) {
    const visibility = el.ownerDocument.defaultView.getComputedStyle(el).visibility;
    return visibility === "hidden" || visibility === "collapse";
  }

  /** Memoised "may this element's text be translated?", walking up the ancestors once per element. */
  function makeEligibility() {
    const cache = new Map();
    return function eligible(el) {
      if (!el) return true;
      if (cache.has(el)) return cache.get(el);
      let ok;
      if (el.nodeType !== 1) ok = eligible(el.parentNode);
      else ok = !isSkippedElement(el) && eligible(el.parentElement) && !isHiddenElement(el);
      cache.set(el, ok);
      return ok;
    };
  }

  function splitEdges(text) {
    const lead = text.match(/^\s*/)[0];
    const core = text.trim();
    return { lead, core, trail: text.slice(lead.length + core.length) };
  }

  function inViewport(node) {
    if (!node) return false;
    const doc = node.ownerDocument;
    let r;
    if (node.nodeType === 3) {
      const range = doc.createRange();
      range.selectNodeContents(node);
      r = range.getBoundingClientRect();
    } else {
      r = node.getBoundingClientRect();
    }
    const view = doc.defaultView;
    return r.bottom >= 0 && r.right >= 0 && r.top <= view.innerHeight && r.left <= view.innerWidth &&
      (r.width > 0 || r.height > 0);
  }

  /**
   * The walk, in parts: addText/addAttributes take one node, addSubtree what lies under an element (not
   * the element itself: a TreeWalker never filters its root), so that nodes added later can be collected
   * by the same rules. Eligibility and visibility are memoised for one collection.
   */
  function makeCollector() {
    const eligible = makeEligibility();
    const invisible = new Map();
    const isInvisible = (el) => {
      if (!invisible.has(el)) invisible.set(el, isInvisibleParent(el));
      return invisible.get(el);
    };
    const addText = (node, items) => {
      if (!HAS_LETTER.test(node.nodeValue) || !node.parentElement || isInvisible(node.parentElement)) return;
      items.push(makeItem(node, null, node.nodeValue, node));
    };
    const addAttributes = (el, items) => {
      for (const attr of TRANSLATED_ATTRIBUTES) {
        const value = el.getAttribute(attr);
        if (value && HAS_LETTER.test(value)) items.push(makeItem(el, attr, value, el));
      }
    };
    const addSubtree = (rootEl, items) => {
      const doc = rootEl.ownerDocument || rootEl;
      const walker = doc.createTreeWalker(rootEl, 1 | 4 /* SHOW_ELEMENT | SHOW_TEXT */, {
        acceptNode(node) {
          if (node.nodeType === 1) {
            return eligible(node) ? 1 /* ACCEPT */ : 2 /* REJECT: skip the subtree */;
          }
          return HAS_LETTER.test(node.nodeValue) ? 1 : 3 /* SKIP */;
        },
      });
      let node;
      while ((node = walker.nextNode())) {
        if (node.nodeType === 3) addText(node, items);
        else addAttributes(node, items);
      }
    };
    return { eligible, addText, addAttributes, addSubtree };
  }

  /** The document's <title> when `rootEl` is the whole page: the tab shows it, so it is translated too. */
  function pageTitle(rootEl) {
    const doc = rootEl.ownerDocument || rootEl;
    if (rootEl !== doc.body || !doc.querySelector) return null;
    const title = doc.querySelector("head > title");
    return title && !isSkippedElement(title) ? title : null;
  }

  function addTitleText(node, items) {
    if (!HAS_LETTER.test(node.nodeValue)) return;
    const item = makeItem(node, null, node.nodeValue, null);
    item.visible = true; // the tab shows it
    items.push(item);
  }

  function viewportFirst(items) {
    return items.filter((item) => item.visible).concat(items.filter((item) => !item.visible));
  }

  /**
   * Items to translate under `rootEl`: visible text nodes and title/alt/placeholder attributes of
   * visible elements. Each item: { node, attr (null for text), original, lead, core, trail, visible }.
   * Ordered viewport first, then document order.
   */
  function collectItems(rootEl) {
    const items = [];
    const title = pageTitle(rootEl);
    if (title && title.firstChild && title.firstChild.nodeType === 3) addTitleText(title.firstChild, items);
    makeCollector().addSubtree(rootEl, items);
    return viewportFirst(items);
  }

  /** Whether `node` or one of its ancestors is in `set`. */
  function within(node, set) {
    for (let up = node; up; up = up.parentNode) if (set.has(up)) return true;
    return false;
  }

  /** `nodes` without those inside another of them: an ancestor's walk collects them already. */
  function outermost(nodes) {
    const set = new Set(nodes);
    return nodes.filter((node) => !within(node.parentNode, set));
  }

  /**
   * Items for nodes the page added or changed under `rootEl` after it was translated (text nodes, or
   * elements with their attributes and subtree), and for title/alt/placeholder values it set on elements
   * already there (`attributes`: [element, name] pairs), by the same rules as collectItems: an added
   * <pre> or hidden <div> is skipped as it would have been on the first pass.
   */
  function collectChanged(nodes, rootEl, attributes = []) {
    const collector = makeCollector();
    const title = pageTitle(rootEl);
    const items = [];
    for (const node of outermost(nodes)) {
      if (!node.isConnected) continue; // added and removed again before we looked
      if (title && node.parentNode === title) {
        if (node.nodeType === 3) addTitleText(node, items);
      } else if (rootEl.contains(node) && collector.eligible(node)) {
        if (node.nodeType === 3) collector.addText(node, items);
        else if (node.nodeType === 1) {
          collector.addAttributes(node, items);
          collector.addSubtree(node, items);
        }
      }
    }
    const added = new Set(nodes);
    for (const [el, attr] of attributes) {
      // an added element's attributes were collected with it, by the walk above
      if (!el.isConnected || !rootEl.contains(el) || within(el, added) || !collector.eligible(el)) continue;
      const value = el.getAttribute(attr);
      if (value && HAS_LETTER.test(value)) items.push(makeItem(el, attr, value, el));
    }
    return viewportFirst(items);
  }

  function makeItem(node, attr, original, box) {
    return Object.assign({ node, attr, original, box, visible: inViewport(box) }, splitEdges(original));
  }

  function readItem(item) {
    return item.attr ? item.node.getAttribute(item.attr) : item.node.nodeValue;
  }

  function writeItem(item, value) {
    if (item.attr) item.node.setAttribute(item.attr, value);
    else item.node.nodeValue = value;
  }

  /** Batches of at most maxItems texts and about maxChars characters, keeping the order. */
  function makeBatches(items, maxItems, maxChars) {
    const batches = [];
    let batch = [];
    let chars = 0;
    for (const item of items) {
      if (batch.length && (batch.length >= maxItems || chars + item.core.length > maxChars)) {
        batches.push(batch);
        batch = [];
        chars = 0;
      }
      batch.push(item);
      chars += item.core.length;
    }
    if (batch.length) batches.push(batch);
    return batches;
  }

  /**
   * GET `url` (no body) or POST `body` as JSON; resolves to the parsed answer. The one place that talks
   * to the service for every front end (extension background, embeddable script, front page), so a
   * failure always reads the same: a ServiceError whose `status` is the HTTP status (0: unreachable)
   * and whose `detail` is the service's own text (its `error`/`detail` field, else the status text)
   * or why the service could not be reached. An abort is passed through as it is.
   */
  async function requestJson(url, body, signal) {
    const response = await send(url, body === undefined ? { signal } : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) throw refusal(response, data);
    return data;
  }

  /** fetch, with "cannot reach the service" as a ServiceError (status 0); an abort passes through. */
  async function send(url, init) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      const reason = String(err && err.message ? err.message : err);
      throw new ServiceError(`Cannot reach the translation service at ${url}: ${reason}`, 0, reason);
    }
  }

  /** The ServiceError for a refused request: the service's own words (`error.message`, `error`, `detail`). */
  function refusal(response, data) {
    const detail = data && (data.error || data.detail);
    const words = detail && typeof detail === "object" && detail.message ? detail.message : detail;
    const text = typeof words === "string" ? words : words ? JSON.stringify(words) : response.statusText;
    return new ServiceError(`Translation service error ${response.status}: ${text}`, response.status, text);
  }

  /** Reads a text/event-stream body to its end, calling onEvent(name, data) per event ("message" if unnamed). */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const flush = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      for (let cut = buffer.indexOf("\n\n"); cut >= 0; cut = buffer.indexOf("\n\n")) {
        flush(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
    if (buffer.trim()) flush(buffer);
  }

  /**
   * POST {serviceUrl}/v1/translate as a stream of server-sent events: translateTexts(texts, source, target,
   * signal, { priority, onResult }) calls onResult(index, translation or null) as each text is done and
   * resolves to them all, like fetchTransport's. A service without the streaming API (404/405: LibreTranslate
   * itself) is asked through fetchTransport instead, from then on.
   */
  function streamTransport(serviceUrl, apiKey, terms) {
    const base = String(serviceUrl || "").replace(/\/+$/, "");
    const fallback = fetchTransport(serviceUrl, apiKey, terms);
    let streams = true;
    async function translateTexts(texts, source, target, signal, how) {
      const { priority = "interactive", onResult } = how || {};
      if (!streams) return fallback(texts, source, target, signal);
      const body = Object.assign({ text: texts, source: source || "auto", target, stream: true, priority }, terms || {});
      const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
      if (apiKey) headers["X-API-Key"] = apiKey;
      const response = await send(`${base}/v1/translate`, { method: "POST", headers, body: JSON.stringify(body), signal });
      if (response.status === 404 || response.status === 405) {
        streams = false;
        return fallback(texts, source, target, signal);
      }
      if (!response.ok) {
        let data = null;
        try {
          data = await response.json();
        } catch (err) {
          data = null;
        }
        throw refusal(response, data);
      }
      const out = new Array(texts.length).fill(null);
      let finished = false;
      await readEvents(response, (name, data) => {
        if (name === "error") throw refusal({ status: data.error && data.error.status, statusText: "" }, data);
        if (name === "done") finished = true;
        if (name !== "message" || typeof data.index !== "number") return;
        out[data.index] = data.error ? null : String(data.text);
        if (onResult) onResult(data.index, out[data.index]);
      });
      if (!finished) throw new ServiceError("The translation service ended the stream before it was done.");
      return out;
    }
    translateTexts.streams = true;
    return translateTexts;
  }

  /**
   * POST {serviceUrl}/translate in LibreTranslate's format; resolves to one entry per input: its translation,
   * or null for a text the service could not translate (it answers the others all the same, with an `errors`
   * list beside them). Any failure of the request becomes a ServiceError with a message meant for the user.
   */
  function fetchTransport(serviceUrl, apiKey, terms) {
    const url = String(serviceUrl || "").replace(/\/+$/, "") + "/translate";
    return async function translateTexts(texts, source, target, signal) {
      // terms: the user's { glossary, do_not_translate }, sent with every batch
      const body = Object.assign({ q: texts, source: source || "auto", target, format: "text" }, terms || {});
      if (apiKey) body.api_key = apiKey;
      const data = await requestJson(url, body, signal);
      const out = data && data.translatedText;
      if (!Array.isArray(out) || out.length !== texts.length) {
        throw new ServiceError("The translation service sent an unexpected answer (no translatedText list of the right length).");
      }
      const errors = Array.isArray(data.errors) ? data.errors : [];
      return out.map((text, i) => (errors[i] ? null : String(text)));
    };
  }

  const OBSERVED = {
    childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: TRANSLATED_ATTRIBUTES,
  };

  /**
   * Watches translated content for what the page adds or changes later (infinite scroll, SPA updates,
   * chat widgets, a tooltip or placeholder set by script) and hands the changed nodes, and the
   * [element, attribute] pairs set, to `onChange` at most once per `delay` ms, and never while
   * the previous hand-over is still being translated, so a burst of mutations becomes one batch of
   * requests. The translator's own writes go through quiet(), unseen.
   */
  class ChangeWatcher {
    constructor(onChange, delay) {
      this.onChange = onChange; // (nodes, attributes) -> Promise
      this.delay = delay;
      this.targets = [];
      this.observer = null;
      this.pending = new Set();
      this.pendingAttributes = new Map(); // element -> Set of attribute names
      this.timer = null;
      this.busy = null; // the work in progress; changes meanwhile wait for it
    }

    start(targets) {
      this.stop();
      this.targets = targets;
      this.observer = new MutationObserver((records) => this.note(records));
      this.connect();
    }

    connect() {
      for (const target of this.targets) this.observer.observe(target, OBSERVED);
    }

    note(records) {
      for (const record of records) {
        if (record.type === "characterData") this.pending.add(record.target);
        else if (record.type === "attributes") {
          const names = this.pendingAttributes.get(record.target) || new Set();
          this.pendingAttributes.set(record.target, names.add(record.attributeName));
        } else record.addedNodes.forEach((node) => this.pending.add(node));
      }
      this.schedule();
    }

    schedule() {
      // counted from the first change, not restarted by each one: a page that never stops changing
      // (a ticking clock) would otherwise never be translated
      if (this.hasPending() && this.timer === null && !this.busy) {
        this.timer = setTimeout(() => this.flush(), this.delay);
      }
    }

    hasPending() {
      return this.pending.size > 0 || this.pendingAttributes.size > 0;
    }

    flush() {
      this.timer = null;
      if (!this.observer || this.busy || !this.hasPending()) return;
      const nodes = [...this.pending];
      const attributes = [...this.pendingAttributes].flatMap(([el, names]) => [...names].map((name) => [el, name]));
      this.pending.clear();
      this.pendingAttributes.clear();
      this.hold(this.onChange(nodes, attributes));
    }

    /** Hand nothing over until `work` settles; what changes meanwhile goes in one call after it. */
    hold(work) {
      const busy = Promise.resolve(work).then(() => {}, () => {}).then(() => {
        if (this.busy !== busy) return; // stopped meanwhile
        this.busy = null;
        this.schedule();
      });
      this.busy = busy;
    }

    /** Runs `write` unobserved: what the translator writes is not a change of the page's to translate. */
    quiet(write) {
      if (!this.observer) return write();
      this.note(this.observer.takeRecords()); // the page's own changes until now stay pending
      this.observer.disconnect();
      try {
        return write();
      } finally {
        this.connect();
      }
    }

    stop() {
      if (this.observer) this.observer.disconnect();
      this.observer = null;
      clearTimeout(this.timer);
      this.timer = null;
      this.busy = null;
      this.pending.clear();
      this.pendingAttributes.clear();
    }
  }

  /**
   * Translates a page (or a subtree) in place, keeps translating what the page adds or changes
   * afterwards, and restores it.
   * options: { transport(texts, source, target, signal, {priority, onResult}) -> Promise<string[]> (with
   *            transport.streams, it calls onResult(index, translation) as each text arrives), target, source="auto",
   *            root=document.body, maxItems=40, maxChars=4000, concurrency=2, maxTextChars=10000 (a longer
   *            text is left as it was and counted in `failed`: the service's MAX_TEXT_CHARS default),
   *            watch=true (translate content added later), watchDelay=250 (ms),
   *            onProgress({done, total, failed}), onError(ServiceError), onDone({failed}) }
   * onProgress and onDone are about the first pass; a later pass (content added afterwards) only
   * reports its errors, which stop the watching as a failed first pass does. A text the service could not
   * translate (null from the transport) stays as it was and is counted in `failed`; the rest of the page is
   * translated all the same.
   */
  class PageTranslator {
    constructor(options) {
      this.options = Object.assign(
        { source: "auto", maxItems: 40, maxChars: 4000, maxTextChars: 10000, concurrency: 2, watch: true,
          watchDelay: 250 }, options);
      this.items = []; // everything written since translate(), for restore()
      this.ours = new WeakMap(); // node -> {attr or "#text": item}: what we wrote there
      this.state = "original"; // original | translating | translated | error
      this.failed = 0; // texts of the first pass the service could not translate (left as they were)
      this.memory = new Map(); // core text -> translation, so translating again costs nothing
      this.controller = null;
      this.generation = 0; // bumps on every translate/restore, so stale batches never write
      this.watcher = new ChangeWatcher(
        (nodes, attributes) => this.changedPass(nodes, attributes, this.generation), this.options.watchDelay);
    }

    setTarget(target) {
      if (target !== this.options.target) this.memory.clear();
      this.options.target = target;
    }

    async translate() {
      if (this.state === "translating") return;
      this.restore();
      const opts = this.options;
      const rootEl = opts.root || document.body;
      this.items = collectItems(rootEl);
      this.state = "translating";
      this.failed = 0;
      const generation = ++this.generation;
      this.controller = new AbortController();
      // before the first write, which quiet() must hide; what the page adds meanwhile waits for this pass
      if (opts.watch) this.watcher.start([rootEl, pageTitle(rootEl)].filter(Boolean));
      const first = this.firstPass(generation);
      this.watcher.hold(first);
      await first;
    }

    async firstPass(generation) {
      const opts = this.options;
      try {
        this.failed = await this.pass(this.items, generation, opts.onProgress);
      } catch (err) {
        this.fail(err, generation);
        return;
      }
      if (generation === this.generation && this.state === "translating") {
        this.state = "translated";
        if (opts.onDone) opts.onDone({ failed: this.failed });
      }
    }

    /** The watcher's call: translate what the page added or changed since, skipping what is ours. */
    async changedPass(nodes, attributes, generation) {
      if (generation !== this.generation || this.state !== "translated") return;
      const rootEl = this.options.root || document.body;
      const items = collectChanged(nodes, rootEl, attributes).filter((item) => !this.isOurs(item));
      if (!items.length) return;
      this.items.push(...items);
      try {
        await this.pass(items, generation, null);
      } catch (err) {
        this.fail(err, generation);
      }
    }

    /**
     * Memory first, then batches with `concurrency` requests in flight; writes as answers arrive (each text as it
     * arrives, with a streaming transport: batches in view go first as interactive work, the others as bulk
     * work unless they have scrolled into view by the time they are sent). Resolves to how many items the
     * service could not translate (left as they were).
     */
    async pass(items, generation, onProgress) {
      const opts = this.options;
      const live = () => generation === this.generation && this.state !== "error";
      const total = items.length;
      let done = 0;
      let failed = 0;
      let refusal = null;
      const progress = () => onProgress && onProgress({ done, total, failed });
      progress();
      const known = items.filter((item) => this.memory.has(item.core));
      this.write(known);
      done += known.length;
      progress();
      const unknown = items.filter((item) => !this.memory.has(item.core));
      // a text longer than any request may hold is not sent: the service would refuse it, and a body over its
      // limit is cut off before the browser can read why
      const todo = unknown.filter((item) => item.core.length <= opts.maxTextChars);
      done += unknown.length - todo.length;
      failed += unknown.length - todo.length;
      if (todo.length < unknown.length) progress();
      const streams = opts.transport.streams === true;
      // visible texts in batches of their own, so that none waits for text out of view
      const queue = streams
        ? makeBatches(todo.filter((item) => item.visible), opts.maxItems, opts.maxChars)
          .concat(makeBatches(todo.filter((item) => !item.visible), opts.maxItems, opts.maxChars))
        : makeBatches(todo, opts.maxItems, opts.maxChars);
      const next = () => {
        if (!streams) return { batch: queue.shift(), priority: "interactive" };
        // what the reader scrolled to meanwhile goes before the rest, as interactive work
        const shown = queue.findIndex((batch) => batch.some((item) => item.visible || inViewport(item.box)));
        const batch = queue.splice(Math.max(0, shown), 1)[0];
        return { batch, priority: shown >= 0 ? "interactive" : "bulk" };
      };
      const worker = async () => {
        while (queue.length && live()) {
          const { batch, priority } = next();
          const texts = [...new Set(batch.map((item) => item.core))];
          const painted = new Set();
          const onResult = (index, translation) => {
            if (!live() || translation === null) return;
            this.memory.set(texts[index], translation);
            const ready = batch.filter((item) => item.core === texts[index] && !painted.has(item));
            ready.forEach((item) => painted.add(item));
            this.write(ready);
            done += ready.length;
            progress();
          };
          let translations;
          try {
            translations = await opts.transport(
              texts, opts.source, opts.target, this.controller.signal, { priority, onResult });
          } catch (err) {
            // one batch refused (a text too big for a request, say): its texts stay, the page goes on
            if (!(err instanceof ServiceError) || !BATCH_REFUSALS.has(err.status) || !live()) throw err;
            refusal = refusal || err;
            translations = texts.map(() => null);
          }
          // a text the service could not translate is not remembered: it is asked again next time
          texts.forEach((text, i) => translations[i] !== null && this.memory.set(text, translations[i]));
          if (!live()) return; // restored or restarted meanwhile
          const rest = batch.filter((item) => !painted.has(item));
          const translated = rest.filter((item) => this.memory.has(item.core));
          this.write(translated);
          done += rest.length;
          failed += rest.length - translated.length;
          progress();
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
      if (refusal && todo.length && failed === todo.length) throw refusal; // refused throughout: say why
      return failed;
    }

    /** A failed pass stops everything (and the watching) and tells the user; a stale one says nothing. */
    fail(err, generation) {
      if ((err && err.name === "AbortError") || generation !== this.generation) return;
      this.state = "error";
      this.watcher.stop();
      this.controller.abort();
      const error = err instanceof ServiceError ? err : new ServiceError(String(err && err.message ? err.message : err));
      if (this.options.onError) this.options.onError(error);
      else throw error;
    }

    write(items) {
      if (!items.length) return;
      this.watcher.quiet(() => {
        for (const item of items) this.apply(item, this.memory.get(item.core));
      });
    }

    apply(item, translation) {
      // an item the page changed meanwhile is the page's, not ours
      if (readItem(item) !== item.original) return;
      const value = item.lead + translation + item.trail;
      item.applied = value;
      writeItem(item, value);
      const slots = this.ours.get(item.node) || {};
      slots[item.attr || "#text"] = item;
      this.ours.set(item.node, slots);
    }

    /** Our translation is still there (a translated node the page moved, say): nothing to do again. */
    isOurs(item) {
      const slots = this.ours.get(item.node);
      const previous = slots && slots[item.attr || "#text"];
      return Boolean(previous) && previous.applied !== undefined && readItem(previous) === previous.applied;
    }

    /** Stop watching; put every text we changed back as it was (unless the page itself changed it since). */
    restore() {
      this.generation += 1;
      this.watcher.stop();
      if (this.controller) this.controller.abort();
      for (const item of this.items) {
        if (item.applied !== undefined && readItem(item) === item.applied) writeItem(item, item.original);
        item.applied = undefined;
      }
      this.items = [];
      this.ours = new WeakMap();
      this.state = "original";
    }
  }

  /** A small fixed box (in a shadow root, so page styles do not reach it) for progress and errors. */
  class Overlay {
    constructor(doc) {
      this.doc = doc || document;
      this.host = null;
      this.hideTimer = null;
    }

    ensure() {
      if (this.host && this.host.isConnected) return;
      const host = this.doc.createElement("div");
      host.setAttribute(UI_MARK, "overlay");
      host.setAttribute("translate", "no");
      host.className = "notranslate";
      const shadow = host.attachShadow({ mode: "open" });
      shadow.innerHTML = `
        <style>
          .box { position: fixed; top: 16px; right: 16px; z-index: 2147483647; max-width: 360px;
                 font: 14px/1.4 system-ui, sans-serif; color: #1f2933; background: #fff;
                 border: 1px solid #cbd2d9; border-left: 4px solid #2563eb; border-radius: 6px;
                 box-shadow: 0 4px 16px rgba(0,0,0,.15); padding: 10px 32px 10px 12px; }
          .box.error { border-left-color: #dc2626; }
          .box.partial { border-left-color: #d97706; }
          .bar { height: 4px; background: #e4e7eb; border-radius: 2px; margin-top: 6px; overflow: hidden; }
          .fill { height: 100%; width: 0; background: #2563eb; transition: width .2s; }
          .error .bar { display: none; }
          button { position: absolute; top: 4px; right: 6px; border: 0; background: none; font-size: 18px;
                   cursor: pointer; color: #52606d; }
        </style>
        <div class="box" role="status" aria-live="polite">
          <div class="message"></div><div class="bar"><div class="fill"></div></div>
          <button type="button" aria-label="Close">×</button>
        </div>`;
      shadow.querySelector("button").addEventListener("click", () => this.hide());
      (this.doc.body || this.doc.documentElement).appendChild(host);
      this.host = host;
    }

    part(selector) {
      return this.host.shadowRoot.querySelector(selector);
    }

    progress(done, total, failed = 0) {
      this.ensure();
      clearTimeout(this.hideTimer);
      this.part(".box").classList.remove("error");
      this.part(".box").classList.toggle("partial", failed > 0);
      let message = total ? `Translating… ${done} / ${total}` : "Nothing to translate";
      if (total && done >= total && failed) {
        message = `Translated, but ${failed} of ${total} texts could not be translated and were left as they were.`;
      }
      this.part(".message").textContent = message;
      this.part(".fill").style.width = total ? `${Math.round((100 * done) / total)}%` : "100%";
      if (done >= total && !failed) this.hideTimer = setTimeout(() => this.hide(), 1500);
    }

    error(message) {
      this.ensure();
      clearTimeout(this.hideTimer);
      this.part(".box").classList.add("error");
      this.part(".box").setAttribute("role", "alert");
      this.part(".message").textContent = message;
    }

    hide() {
      clearTimeout(this.hideTimer);
      if (this.host) this.host.remove();
      this.host = null;
    }
  }

  root.PageTranslate = { PageTranslator, ChangeWatcher, requestJson, fetchTransport, streamTransport, readEvents,
    collectItems, collectChanged, makeBatches, Overlay, ServiceError, isSkippedElement, inViewport, UI_MARK };
})(typeof globalThis !== "undefined" ? globalThis : this);

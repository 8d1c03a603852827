"""End to end in real headless Chromium against a real `python -m service`:

- the MV3 extension (loaded unpacked) translates a local page and shows the original again;
- the embeddable translate-page.js does the same on a page of another origin (through CORS);
- both keep translating what the page adds or changes afterwards (dynamic.html), in one request per
  burst of changes, never seeing their own writes as changes, and restore that content too;
- the embeddable script translates a saved real page (the Wikipedia-style one of tests/fixtures/real_pages)
  whole, with no error shown; a text the service cannot translate is left as it was and the rest of the page
  is translated all the same, with a notice saying how many texts were left;
- the front page at `/` translates typed text and shows the service's errors.

Expected translations come from the service's own `/v1/translate` for the same texts. Screenshots of
the translated pages go to artifacts/.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import playwright.sync_api as playwright_sync
import pytest

from tests.browser_support import CHROMIUM, SNAPSHOT_JS, VIEWPORT_TIMING_JS, embed_page, split_edges, static_server
from tests.service_support import ROOT, ServiceProcess, make_model_dir, metric_value, service_process

if not Path(CHROMIUM).exists():
    # A silent skip would hide the loss of every browser test; `make test` installs Debian's chromium.
    pytest.fail(f"{CHROMIUM} is not installed: run `make test` or `apt-get install chromium`", pytrace=False)

EXTENSION = ROOT / "extension"
PAGES = ROOT / "tests" / "fixtures" / "pages"
REAL_PAGE = ROOT / "tests" / "fixtures" / "real_pages" / "00_wikipedia_style.html"
CHINESE_PAGE = ROOT / "tests" / "fixtures" / "real_pages_zh" / "01_debian_reference_zh_preface.html"
ARTIFACTS = ROOT / "artifacts"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(
    tiny_bundle: Path, tiny_zh_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("browser")
    make_model_dir(tiny_bundle, workdir)
    models = make_model_dir(tiny_zh_bundle, workdir)
    with service_process(models, workdir / "server.log", CORS_ORIGINS="*") as running:
        yield running


@pytest.fixture(scope="module")
def pages(server: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nested.html and dynamic.html as they are, and embed.html / embed-dynamic.html: the same pages with the
    embeddable script from the service."""
    directory = tmp_path_factory.mktemp("pages")
    snippet = f'<script src="{server.base}/static/translate-page.js" data-target="de"></script>\n</body>'
    for name, embed in (("nested.html", "embed.html"), ("dynamic.html", "embed-dynamic.html")):
        shutil.copy(PAGES / name, directory / name)
        (directory / embed).write_text((PAGES / name).read_text().replace("</body>", snippet))
    (directory / "embed-real.html").write_text(embed_page(REAL_PAGE, server.base))
    (directory / "embed-real-batches.html").write_text(embed_page(REAL_PAGE, server.base, stream=False))
    chinese = embed_page(CHINESE_PAGE, server.base, source="zh", target="en")
    (directory / "embed-real-zh.html").write_text(chinese, encoding="utf-8")
    with static_server(directory) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium (new headless mode, the only one that loads extensions) with the extension unpacked."""
    user_data = tempfile.mkdtemp(prefix="chromium-profile-")
    with playwright_sync.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data,
            executable_path=CHROMIUM,
            headless=True,
            timeout=TIMEOUT_MS,
            viewport={"width": 1000, "height": 700},
            args=[
                "--headless=new",
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(user_data, ignore_errors=True)


OWN_REQUESTS: dict[str, int] = {}  # per service: the /v1/translate requests this test module sent itself


def v1_translations(
    server: ServiceProcess, texts: list[str], chunk: int = 100, direction: tuple[str, str] = ("en", "de")
) -> dict[str, str]:
    unique = sorted(set(texts))
    found: dict[str, str] = {}
    for start in range(0, len(unique), chunk):  # within MAX_SEGMENTS
        sent = unique[start : start + chunk]
        body = {"text": sent, "source": direction[0], "target": direction[1]}
        response = httpx.post(f"{server.base}/v1/translate", json=body, timeout=60)
        OWN_REQUESTS[server.base] = OWN_REQUESTS.get(server.base, 0) + 1
        assert response.status_code == 200, response.text
        found.update(zip(sent, [t["text"] for t in response.json()["translations"]], strict=True))
    return found


def wait_until(condition: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def check_translated(
    server: ServiceProcess,
    before: dict[str, Any],
    after: dict[str, Any],
    min_translated: int = 15,
    direction: tuple[str, str] = ("en", "de"),
) -> None:
    """Every text meant to be translated holds the service's translation (whitespace kept), every other
    text is untouched, and the element tree is the same."""
    assert after["skeleton"] == before["skeleton"]
    expected = expected_values(server, before, direction)
    new = {item["key"]: item["value"] for item in after["items"]}
    assert set(new) == set(expected)
    for item in before["items"]:
        assert new[item["key"]] == expected[item["key"]], (item["key"], item["value"], new[item["key"]])
    translated = sum(new[item["key"]] != item["value"] for item in before["items"])
    assert translated >= min_translated  # nested.html has ~20 translatable texts; the toy model changes them


def expected_values(
    server: ServiceProcess, before: dict[str, Any], direction: tuple[str, str] = ("en", "de")
) -> dict[str, str]:
    """Snapshot key -> value once translated: the service's translation inside the original whitespace for a
    text meant to be translated, the value itself for any other."""
    translations = v1_translations(server, sorted(cores(before)), direction=direction)
    expected = {}
    for item in before["items"]:
        lead, core, trail = split_edges(item["value"])
        expected[item["key"]] = lead + translations[core] + trail if item["translate"] else item["value"]
    return expected


def cores(snapshot: dict[str, Any]) -> set[str]:
    """The texts of a snapshot meant to be translated, as the core sends them (without edge whitespace)."""
    return {split_edges(item["value"])[1] for item in snapshot["items"] if item["translate"]}


def wait_translated(page: Any, server: ServiceProcess, before: dict[str, Any]) -> None:
    """Wait until the page shows `before` translated, then check it in full."""
    page.wait_for_function(
        f"(expected) => ({SNAPSHOT_JS})().items.every((item) => expected[item.key] === item.value)",
        arg=expected_values(server, before),
        polling=100,
    )
    check_translated(server, before, page.evaluate(SNAPSHOT_JS), min_translated=8)


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), caret="initial")  # "hide" would leave style="" on inputs


def extension_worker(browser: Any, server: ServiceProcess) -> Any:
    """The extension's background worker, with the options the user would save on the options page."""
    worker = browser.service_workers[0] if browser.service_workers else browser.wait_for_event("serviceworker")
    worker.evaluate("(url) => chrome.storage.sync.set({ serviceUrl: url, target: 'de', apiKey: '' })", server.base)
    return worker


def extension_translate(worker: Any, url: str) -> int:
    """What the context menu's "Translate this page" (and the popup's Translate) runs for the tab showing
    `url`, until it is done; returns the tab's id."""
    tab_id = worker.evaluate("async (url) => (await chrome.tabs.query({ url }))[0].id", url)
    worker.evaluate("(tabId) => command(tabId, 'translate')", tab_id)
    status = wait_until(
        lambda: (
            (s := worker.evaluate("(t) => command(t, 'status')", tab_id))["state"] not in ("translating", "original")
            and s
        ),
        "the extension to finish translating",
    )
    assert status["state"] == "translated", status
    return int(tab_id)


def translate_requests(server: ServiceProcess) -> float:
    """Translation requests the pages sent that the service has answered, streamed (/v1/translate) or
    LibreTranslate's (/translate); CORS preflights count as `unmatched`, the test's own requests not at all."""
    metrics = httpx.get(f"{server.base}/metrics", timeout=10).text
    answered = sum(
        metric_value(metrics, f'nmt_requests_total{{route="{route}",status="200"}}')
        for route in ("/translate", "/v1/translate")
    )
    return answered - OWN_REQUESTS.get(server.base, 0)


def settled_requests(server: ServiceProcess) -> float:
    """translate_requests once the count stops moving: a stream's client has its `done` event a moment before the
    server counts the request."""
    count = translate_requests(server)
    for _ in range(50):
        time.sleep(0.1)
        again = translate_requests(server)
        if again == count:
            return count
        count = again
    return count


# The page's own code, run after the page was translated: a burst over two tasks (new stories with inline
# markup and skipped regions; then a new title, a changed text and placeholder, a new tooltip, a bare text
# node and a translated heading moved), then one message whose text the page had before.
UPDATES = ["loadMore()", "addMessage('known', 'the man sits')"]


def snapshots_after_updates(browser: Any, url: str) -> list[dict[str, Any]]:
    """dynamic.html untranslated after each of its updates (UPDATES): what the translated page must match,
    and what "Show original" must give back."""
    page = browser.new_page()
    page.goto(url)
    snapshots = []
    for update in UPDATES:
        page.evaluate(update)
        snapshots.append(page.evaluate(SNAPSHOT_JS))
    page.close()
    return snapshots


def check_added_content(page: Any, server: ServiceProcess, references: list[dict[str, Any]]) -> None:
    """On a translated dynamic.html: the burst is translated in one pass, tags kept; the known message
    with no request, and nothing the translator wrote came back as a change to translate."""
    requests = settled_requests(server)
    page.evaluate(UPDATES[0])
    wait_translated(page, server, references[0])
    assert page.evaluate("document.querySelector('#added > b > i') !== null")  # the tags are where they were
    # the burst of mutations went out as one pass: a request for what is in view, one for the rest
    burst = settled_requests(server)
    assert requests + 1 <= burst <= requests + 2

    page.evaluate(UPDATES[1])
    wait_translated(page, server, references[1])
    # from the translation memory; a loop on our own writes would have asked again by now
    assert settled_requests(server) == burst


def test_extension_translates_and_restores(browser: Any, server: ServiceProcess, pages: str) -> None:
    worker = extension_worker(browser, server)
    page = browser.new_page()
    page.goto(f"{pages}/nested.html")
    before = page.evaluate(SNAPSHOT_JS)
    tab_id = extension_translate(worker, f"{pages}/nested.html")
    after = page.evaluate(SNAPSHOT_JS)
    check_translated(server, before, after)
    page.wait_for_timeout(1800)  # the progress overlay hides itself 1.5 s after the last batch
    screenshot(page, "extension-translated.png")

    worker.evaluate("(tabId) => command(tabId, 'restore')", tab_id)  # "Show original"
    assert page.evaluate(SNAPSHOT_JS) == before  # every text, attribute and element exactly as it was
    page.close()


def test_extension_options_glossary_and_do_not_translate_reach_every_page(
    browser: Any, server: ServiceProcess, pages: str
) -> None:
    """What the user types on the options page (a glossary, a do-not-translate list, one bad line of each) is
    saved, sent with the page's texts, and applied; the bad lines are dropped rather than failing the page."""
    worker = extension_worker(browser, server)
    extension_id = worker.url.split("/")[2]
    options = browser.new_page()
    options.goto(f"chrome-extension://{extension_id}/options.html")
    options.fill("#glossary", "dog = HUNDX\nno separator here\nDOG = twice\n# a comment\nred\tROTX")
    options.fill("#doNotTranslate", "ball\n\n" + "x" * 300)
    options.click("button[type=submit]")
    wait_until(lambda: "Saved" in options.inner_text("#status"), "the options to be saved")
    options.close()
    try:
        page = browser.new_page()
        page.goto(f"{pages}/nested.html")
        extension_translate(worker, f"{pages}/nested.html")
        title = page.inner_text("#title")
        assert "HUNDX" in title and "ROTX" in title and "dog" not in title, title
        assert "ball" in page.inner_text("#list li"), page.inner_text("#list li")
        page.close()
    finally:
        worker.evaluate("() => chrome.storage.local.set({ glossary: '', doNotTranslate: '' })")


def test_embeddable_script_translates_and_restores(browser: Any, server: ServiceProcess, pages: str) -> None:
    page = browser.new_page()
    page.goto(f"{pages}/embed.html")
    page.wait_for_function("window.pageTranslator !== undefined")
    before = page.evaluate(SNAPSHOT_JS)
    button = page.locator("[data-page-translate-ui=button] button")
    assert button.inner_text() == "Translate"

    button.click()
    page.wait_for_function("['translated', 'error'].includes(window.pageTranslator.state)")
    assert page.evaluate("window.pageTranslator.state") == "translated"
    assert button.inner_text() == "Show original"
    check_translated(server, before, page.evaluate(SNAPSHOT_JS))
    page.wait_for_timeout(1800)
    screenshot(page, "embed-translated.png")

    button.click()
    assert page.evaluate(SNAPSHOT_JS) == before
    assert button.inner_text() == "Translate"
    page.close()


OVERLAY_TEXT = "document.querySelector('[data-page-translate-ui=overlay]')?.shadowRoot.querySelector('.box').className"


def embed_translate(page: Any) -> Any:
    """Click the embeddable script's button and wait for the first pass to end; returns the button."""
    page.wait_for_function("window.pageTranslator !== undefined")
    button = page.locator("[data-page-translate-ui=button] button")
    button.click()
    page.wait_for_function("['translated', 'error'].includes(window.pageTranslator.state)")
    return button


def test_embeddable_script_translates_a_real_page_whole(browser: Any, server: ServiceProcess, pages: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{pages}/embed-real.html")
    before = page.evaluate(SNAPSHOT_JS)
    assert sum(item["translate"] for item in before["items"]) >= 150
    embed_translate(page)
    assert page.evaluate("window.pageTranslator.state") == "translated"
    assert page.evaluate("window.pageTranslator.failed") == 0
    assert "error" not in (page.evaluate(OVERLAY_TEXT) or "")
    check_translated(server, before, page.evaluate(SNAPSHOT_JS), min_translated=150)  # every block
    assert errors == []
    screenshot(page, "embed-real-page-translated.png")
    page.close()


def test_embeddable_script_translates_a_real_chinese_page_into_english(
    browser: Any, server: ServiceProcess, pages: str
) -> None:
    """Debian Reference's Chinese preface, streamed into English: every block, no failure, the page's tree kept."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{pages}/embed-real-zh.html")
    before = page.evaluate(SNAPSHOT_JS)
    chinese_texts = [
        i for i in before["items"] if i["translate"] and any("\u4e00" <= c <= "\u9fff" for c in i["value"])
    ]
    assert len(chinese_texts) >= 50
    embed_translate(page)
    assert page.evaluate("window.pageTranslator.state") == "translated"
    assert page.evaluate("window.pageTranslator.failed") == 0
    check_translated(server, before, page.evaluate(SNAPSHOT_JS), min_translated=50, direction=("zh", "en"))
    assert errors == []
    screenshot(page, "embed-real-chinese-page-translated.png")
    page.close()


def test_streaming_paints_the_viewport_first_and_ends_as_whole_batches_do(
    browser: Any, server: ServiceProcess, pages: str
) -> None:
    """A long real page, translated with streaming (viewport first, interactive; the rest bulk) and as today's
    translator does it (whole batches), in the same run: the same page comes out, and with streaming the texts in
    view are all painted before the page is done. The times go to artifacts/viewport-timing.json; the ratio that
    matters is measured on the real model by bench/viewport.py."""
    timings, results = {}, {}
    for name in ("embed-real-batches.html", "embed-real.html"):
        page = browser.new_page()
        page.goto(f"{pages}/{name}")
        page.wait_for_function("window.pageTranslator !== undefined && window.PageTranslate !== undefined")
        before = page.evaluate(SNAPSHOT_JS)
        timings[name] = page.evaluate(VIEWPORT_TIMING_JS)
        assert timings[name]["state"] == "translated" and timings[name]["visible"] >= 5, timings
        results[name] = page.evaluate(SNAPSHOT_JS)
        check_translated(server, before, results[name], min_translated=150)
        page.close()
    streamed = timings["embed-real.html"]
    assert streamed["viewport_ms"] is not None and streamed["viewport_ms"] <= streamed["total_ms"]
    assert results["embed-real.html"]["items"] == results["embed-real-batches.html"]["items"]  # same texts
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "viewport-timing.json").write_text(json.dumps(timings, indent=2) + "\n")


def test_a_text_the_service_cannot_translate_leaves_the_rest_translated(
    browser: Any, server: ServiceProcess, pages: str
) -> None:
    """A text node holding a lone surrogate (a truncated emoji, say) is refused by the service on its own: it
    stays as it was, every other text is translated, and the overlay says one text was left."""
    page = browser.new_page()
    page.goto(f"{pages}/embed.html")
    page.evaluate("document.querySelector('h1').append(document.createTextNode(' the broken \\ud83d dog'))")
    before = page.evaluate(SNAPSHOT_JS)
    broken = next(item for item in before["items"] if "the broken" in item["value"])
    before["items"] = [item for item in before["items"] if item is not broken]
    button = embed_translate(page)
    assert page.evaluate("window.pageTranslator.state") == "translated"
    assert page.evaluate("window.pageTranslator.failed") == 1
    after = page.evaluate(SNAPSHOT_JS)
    assert next(item for item in after["items"] if item["key"] == broken["key"])["value"] == broken["value"]
    after["items"] = [item for item in after["items"] if item["key"] != broken["key"]]
    check_translated(server, before, after)
    overlay = page.locator("[data-page-translate-ui=overlay] .message")
    assert overlay.inner_text().startswith("Translated, but 1 of ")
    assert "partial" in page.evaluate(OVERLAY_TEXT)
    screenshot(page, "embed-one-text-left.png")

    button.click()  # "Show original" still works on a page with a text left as it was
    assert page.evaluate("window.pageTranslator.state") == "original"
    page.close()


def test_a_text_too_big_for_a_request_leaves_the_rest_of_the_page_translated(
    browser: Any, server: ServiceProcess, pages: str
) -> None:
    """A text too big for any request (a 200 KB paragraph) is left as it was, and every other text of the page
    is translated."""
    page = browser.new_page()
    page.goto(f"{pages}/embed.html")
    huge_paragraph = "Object.assign(document.createElement('p'), {textContent: 'the dog runs. '.repeat(15000)})"
    page.evaluate(f"document.querySelector('h1').after({huge_paragraph})")
    before = page.evaluate(SNAPSHOT_JS)
    huge = next(item for item in before["items"] if len(item["value"]) > 100_000)
    before["items"] = [item for item in before["items"] if item is not huge]
    embed_translate(page)
    assert page.evaluate("window.pageTranslator.state") == "translated"
    assert page.evaluate("window.pageTranslator.failed") == 1
    after = page.evaluate(SNAPSHOT_JS)
    assert next(item for item in after["items"] if item["key"] == huge["key"])["value"] == huge["value"]
    after["items"] = [item for item in after["items"] if item["key"] != huge["key"]]
    check_translated(server, before, after)
    page.close()


def test_a_batch_the_service_refuses_leaves_the_rest_of_the_page_translated(
    browser: Any, server: ServiceProcess, pages: str
) -> None:
    """A 400 for one request (its texts stay as they were) does not stop the page; a 400 for every request
    does, with the service's words."""
    refusal = {"error": {"code": "invalid_request", "message": "refused for the test", "status": 400}}
    for refuse_all in (False, True):
        page = browser.new_page()
        refused: list[str] = []

        def answer(route: Any, request: Any, refuse_all: bool = refuse_all, refused: list[str] = refused) -> None:
            if request.method == "POST" and (refuse_all or not refused):
                refused.append(request.post_data or "")
                route.fulfill(status=400, content_type="application/json", body=json.dumps(refusal))
            else:
                route.continue_()

        page.route("**/v1/translate", answer)
        page.goto(f"{pages}/embed.html")
        embed_translate(page)
        texts = len(json.loads(refused[0])["text"])
        if refuse_all:
            assert page.evaluate("window.pageTranslator.state") == "error"
            assert "refused for the test" in page.locator("[data-page-translate-ui=overlay] .message").inner_text()
        else:
            assert page.evaluate("window.pageTranslator.state") == "translated"
            failed = page.evaluate("window.pageTranslator.failed")  # items: a text can stand in several places
            assert texts <= failed < len(page.evaluate(SNAPSHOT_JS)["items"])
            overlay = page.locator("[data-page-translate-ui=overlay] .message")
            assert overlay.inner_text().startswith(f"Translated, but {failed} of ")
        page.close()


def test_extension_translates_content_added_later(browser: Any, server: ServiceProcess, pages: str) -> None:
    url = f"{pages}/dynamic.html"
    references = snapshots_after_updates(browser, url)
    worker = extension_worker(browser, server)
    page = browser.new_page()
    page.goto(url)
    tab_id = extension_translate(worker, url)

    check_added_content(page, server, references)

    worker.evaluate("(tabId) => command(tabId, 'restore')", tab_id)
    assert page.evaluate(SNAPSHOT_JS) == references[-1]  # the page's own latest content, added parts included
    assert worker.evaluate("(t) => command(t, 'status')", tab_id)["state"] == "original"
    page.close()


# Logs what the embedded translator's watcher hands over (the page's nodes, not the translator's own UI)
# and the texts of each call to the service.
SPY_JS = """
() => {
  const translator = window.pageTranslator;
  const watcher = translator.watcher;
  const onChange = watcher.onChange;
  const transport = translator.options.transport;
  window.spy = { changes: [], calls: [] };
  watcher.onChange = (nodes, attributes) => {
    const page = nodes.filter((node) => !(node.nodeType === 1 && node.closest("[data-page-translate-ui]")));
    const set = attributes.map(([el, name]) => `${el.id}[${name}]`);
    if (page.length || set.length) window.spy.changes.push([...page.map((node) => node.id || node.nodeName), ...set]);
    return onChange(nodes, attributes);
  };
  translator.options.transport = (texts, ...rest) => {
    window.spy.calls.push(texts);
    return transport(texts, ...rest);
  };
  translator.options.transport.streams = transport.streams;
}
"""


def test_embeddable_script_translates_content_added_later(browser: Any, server: ServiceProcess, pages: str) -> None:
    url = f"{pages}/embed-dynamic.html"
    references = snapshots_after_updates(browser, url)
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("window.pageTranslator !== undefined")
    original = page.evaluate(SNAPSHOT_JS)
    button = page.locator("[data-page-translate-ui=button] button")
    button.click()
    page.wait_for_function("['translated', 'error'].includes(window.pageTranslator.state)")
    assert page.evaluate("window.pageTranslator.state") == "translated"
    page.evaluate(SPY_JS)

    check_added_content(page, server, references)
    spy = page.evaluate("window.spy")
    # one pass (the texts in view, then the rest) with exactly the page's new texts: not the moved heading's
    # translation, not the known message
    sent = [text for call in spy["calls"] for text in call]
    assert len(spy["calls"]) <= 2 and len(sent) == len(set(sent)), spy
    assert set(sent) == cores(references[0]) - cores(original), spy
    # the page's changes, one hand-over per update (the burst's two tasks may come as two); the translations
    # written in between were not seen: nothing but the page's own nodes was handed over
    burst, known = spy["changes"][:-1], spy["changes"][-1]
    assert known == ["known"] and 1 <= len(burst) <= 2, spy
    handed = {name for change in burst for name in change}
    assert handed == {"#text", "story", "heading", "search[placeholder]", "status[title]"}, spy

    button.click()  # "Show original"
    assert page.evaluate(SNAPSHOT_JS) == references[-1]
    assert page.evaluate("window.pageTranslator.watcher.observer") is None
    page.close()


def test_front_page_translates_and_shows_errors(browser: Any, server: ServiceProcess) -> None:
    page = browser.new_page()
    page.goto(f"{server.base}/")
    page.wait_for_function("document.querySelector('#source option[value=en]') !== null")
    text = "the small dog runs near the red car"
    page.select_option("#source", "en")
    page.select_option("#target", "de")
    page.fill("#q", text)
    page.click("#translate")
    expected = v1_translations(server, [text])[text]
    page.wait_for_function("(expected) => document.getElementById('result').value === expected", arg=expected)
    assert page.is_hidden("#error")
    screenshot(page, "front-page.png")

    # German (auto-detected) into Chinese: no model translates that, and the service says so (HTTP 400)
    page.select_option("#source", "auto")
    page.select_option("#target", "zh")
    page.fill("#q", "Der kleine Hund läuft heute über die Straße, und das Kind spielt mit dem Ball.")
    page.click("#translate")
    page.wait_for_selector("#error:not([hidden])")
    message = page.inner_text("#error")
    assert "400" in message and "not available" in message, message
    page.close()


def test_front_page_translates_a_file_with_progress_and_a_download(
    browser: Any, server: ServiceProcess, tmp_path: Path
) -> None:
    page = browser.new_page()  # a persistent context: downloads are accepted
    page.goto(f"{server.base}/")
    page.wait_for_function("document.querySelector('#source option[value=en]') !== null")
    page.click("#tab-files")
    assert page.is_visible("#files-panel") and page.is_hidden("#text-panel")
    page.wait_for_function("document.getElementById('formats').textContent.includes('.docx')")
    lines = ["the small dog runs near the red car", "a man sits in the park"]
    upload = tmp_path / "notes.txt"
    upload.write_text("\n".join(lines) + "\n")
    page.select_option("#source", "en")
    page.select_option("#target", "de")
    page.set_input_files("#file", str(upload))
    page.click("#upload")
    page.wait_for_selector("#download:not([hidden])")
    assert page.evaluate("document.getElementById('file-bar').style.width") == "100%"
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "saved.txt"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "notes.de.txt"
    expected = v1_translations(server, lines)
    assert saved.read_text().splitlines() == [expected[line] for line in lines]
    screenshot(page, "front-page-files.png")

    page.set_input_files("#file", {"name": "paper.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7"})
    page.click("#upload")
    page.wait_for_selector("#error:not([hidden])")
    assert "415" in page.inner_text("#error") and ".docx" in page.inner_text("#error")
    page.close()

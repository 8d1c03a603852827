"""End to end in real headless Chromium against a real `python -m service`:

- the MV3 extension (loaded unpacked) translates a local page and shows the original again;
- the embeddable translate-page.js does the same on a page of another origin (through CORS);
- the front page at `/` translates typed text and shows the service's errors.

Expected translations come from the service's own `/v1/translate` for the same texts. Screenshots of
the translated pages go to artifacts/.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser_support import CHROMIUM, SNAPSHOT_JS, split_edges, static_server
from tests.service_support import ROOT, ServiceProcess, make_model_dir, service_process

playwright_sync = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

EXTENSION = ROOT / "extension"
PAGES = ROOT / "tests" / "fixtures" / "pages"
ARTIFACTS = ROOT / "artifacts"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("browser")
    with service_process(make_model_dir(tiny_bundle, workdir), workdir / "server.log", CORS_ORIGINS="*") as running:
        yield running


@pytest.fixture(scope="module")
def pages(server: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nested.html as it is, and embed.html: the same page with the embeddable script from the service."""
    directory = tmp_path_factory.mktemp("pages")
    shutil.copy(PAGES / "nested.html", directory / "nested.html")
    snippet = f'<script src="{server.base}/static/translate-page.js" data-target="de"></script>\n</body>'
    (directory / "embed.html").write_text((PAGES / "nested.html").read_text().replace("</body>", snippet))
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


def v1_translations(server: ServiceProcess, texts: list[str]) -> dict[str, str]:
    unique = sorted(set(texts))
    response = httpx.post(
        f"{server.base}/v1/translate", json={"text": unique, "source": "en", "target": "de"}, timeout=60
    )
    assert response.status_code == 200, response.text
    return dict(zip(unique, [t["text"] for t in response.json()["translations"]], strict=True))


def wait_until(condition: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def check_translated(server: ServiceProcess, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every text meant to be translated holds the service's translation (whitespace kept), every other
    text is untouched, and the element tree is the same."""
    assert after["skeleton"] == before["skeleton"]
    old = {item["key"]: item for item in before["items"]}
    new = {item["key"]: item["value"] for item in after["items"]}
    assert set(new) == set(old)
    expected = v1_translations(server, [split_edges(i["value"])[1] for i in before["items"] if i["translate"]])
    translated = 0
    for key, item in old.items():
        if item["translate"]:
            lead, core, trail = split_edges(item["value"])
            assert new[key] == lead + expected[core] + trail, (key, item["value"], new[key])
            translated += new[key] != item["value"]
        else:
            assert new[key] == item["value"], (key, item["value"], new[key])
    assert translated >= 15  # the fixture has ~20 translatable texts; the toy model changes them


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), caret="initial")  # "hide" would leave style="" on inputs


def test_extension_translates_and_restores(browser: Any, server: ServiceProcess, pages: str) -> None:
    worker = browser.service_workers[0] if browser.service_workers else browser.wait_for_event("serviceworker")
    # the options the user would save on the options page
    worker.evaluate("(url) => chrome.storage.sync.set({ serviceUrl: url, target: 'de', apiKey: '' })", server.base)
    page = browser.new_page()
    page.goto(f"{pages}/nested.html")
    before = page.evaluate(SNAPSHOT_JS)
    tab_id = worker.evaluate("async (url) => (await chrome.tabs.query({ url }))[0].id", f"{pages}/nested.html")

    # what the context menu's "Translate this page" (and the popup's Translate) runs for the tab
    worker.evaluate("(tabId) => command(tabId, 'translate')", tab_id)
    status = wait_until(
        lambda: (
            (s := worker.evaluate("(t) => command(t, 'status')", tab_id))["state"] not in ("translating", "original")
            and s
        ),
        "the extension to finish translating",
    )
    assert status["state"] == "translated", status
    after = page.evaluate(SNAPSHOT_JS)
    check_translated(server, before, after)
    page.wait_for_timeout(1800)  # the progress overlay hides itself 1.5 s after the last batch
    screenshot(page, "extension-translated.png")

    worker.evaluate("(tabId) => command(tabId, 'restore')", tab_id)  # "Show original"
    assert page.evaluate(SNAPSHOT_JS) == before  # every text, attribute and element exactly as it was
    page.close()


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

    # auto-detected English into English: the service has no such model and says so (HTTP 400)
    page.select_option("#source", "auto")
    page.select_option("#target", "en")
    page.click("#translate")
    page.wait_for_selector("#error:not([hidden])")
    message = page.inner_text("#error")
    assert "400" in message and "not available" in message, message
    page.close()

"""Saved real pages (tests/fixtures/real_pages/: Debian's HTML documentation and a Wikipedia-style page of our
own; real_pages_zh/: Debian's Simplified Chinese documentation) through a real server, the way the page translator
sends them: no request fails, no text is flagged, and every block keeps its tags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.real_pages import CORPUS_ZH, licenses, pages, text_blocks, translate_page
from tests.service_support import ServiceProcess, make_model_dir, service_process


@pytest.fixture(scope="module")
def server(
    tiny_bundle: Path, tiny_zh_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("real-pages")
    make_model_dir(tiny_bundle, workdir)
    with service_process(make_model_dir(tiny_zh_bundle, workdir), workdir / "server.log") as running:
        yield running


def test_the_corpus_is_real_and_licensed() -> None:
    found = pages()
    assert len(found) >= 30
    known = licenses()
    assert {p.name for p in found} == set(known)
    assert all(known[p.name] for p in found)
    assert all(p.stat().st_size <= 26_000 for p in found)
    assert len({p.name.split("_")[1] for p in found}) >= 8  # many sources, not one site's template
    assert sum(len(text_blocks(p.read_text(encoding="utf-8"))) for p in found) >= 2000


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_a_real_page_translates_whole(server: ServiceProcess, page: Path) -> None:
    with httpx.Client(base_url=server.base, timeout=120) as client:
        run = translate_page(client, page)
    assert run.requests >= 1 and run.blocks >= 5
    assert run.failed_requests == []
    assert run.item_errors == []
    assert run.lost_tags == [], run.lost_tags[:3]


def test_the_chinese_pages_are_real_licensed_and_chinese() -> None:
    found = pages(CORPUS_ZH)
    assert len(found) >= 3 and {p.name for p in found} == set(licenses(CORPUS_ZH))
    text = "".join(found[0].read_text(encoding="utf-8"))
    assert sum("\u4e00" <= c <= "\u9fff" for c in text) > 1000


@pytest.mark.parametrize("page", pages(CORPUS_ZH), ids=lambda p: p.stem)
@pytest.mark.parametrize("source", ["zh", "auto"])
def test_a_real_chinese_page_translates_whole(server: ServiceProcess, page: Path, source: str) -> None:
    """Into English, named or detected: no request fails, whatever mix of Chinese, English and code a batch holds."""
    with httpx.Client(base_url=server.base, timeout=120) as client:
        run = translate_page(client, page, source=source, target="en")
    assert run.requests >= 1 and run.blocks >= 5
    assert run.failed_requests == []
    assert run.item_errors == []
    assert run.lost_tags == [], run.lost_tags[:3]

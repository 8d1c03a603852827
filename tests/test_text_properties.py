"""Property-based tests of every pure text function a request passes through: sentence splitting and
normalising, the markup pipeline (parse, project, write back), language-detection input shaping, and the
LibreTranslate parameter parsing.

For any text the strategies make (tests/text_strategies.py: page-like text and HTML mixed with arbitrary
Unicode), nothing raises but the documented errors, and the invariants hold: sentences and separators join
back to the text, a document keeps its tag multiset through translation, and the cost stays linear.

`make test` runs the `ci` profile (fixed seed, bounded examples); `make fuzz` the `nightly` one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from starlette.requests import Request

from service.api.libretranslate import LibreError, _alternatives, _string, _texts, read_params
from service.documents.subtitles import cue_markup, cue_text
from service.errors import InvalidRequest
from service.settings import Settings
from service.text.detection import Detector, head
from service.text.markup.document import NOT_IN_HTML, Unrepresentable, parse_html, serialize
from service.text.markup.translate import TooComplex, finish, prepare
from service.text.segmentation import Split, normalize, split_sentences
from tests.markup_support import Aligned, reversing, word_pieces
from tests.text_strategies import html_fragments, property_settings, texts

SETTINGS = Settings(model_dir="unused", redis_url=None)


# --- sentence splitting ----------------------------------------------------------------------------------


def joined(split: Split) -> str:
    return split.join(split.sentences)


@property_settings
@given(texts(), st.sampled_from([400, 40, 8]))
def test_sentences_and_separators_join_back_to_the_text(text: str, max_chars: int) -> None:
    split = split_sentences(text, max_chars)
    assert joined(split) == text
    assert len(split.sentences) == len(split.separators)
    for sentence in split.sentences:
        assert sentence and sentence == sentence.strip()
        assert len(sentence) <= max_chars or " " not in sentence  # only a word longer than the cap stays whole
    assert not split.leading.strip()


@property_settings
@given(st.text())
def test_any_unicode_splits_and_joins_back(text: str) -> None:
    assert joined(split_sentences(text)) == text


@property_settings
@given(texts())
def test_normalising_is_idempotent_and_trimmed(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()


@property_settings
@given(texts(max_parts=12).filter(lambda unit: len(unit) >= 4))
def test_splitting_cost_stays_linear(unit: str) -> None:
    """Any unit repeated to 100,000 characters splits in well under a second of CPU (about 0.05 s when
    linear); the quadratic shapes fixed earlier took tens of seconds at this size."""
    text = (unit * (100_000 // len(unit) + 1))[:100_000]
    start = time.process_time()
    split = split_sentences(text)
    assert time.process_time() - start < 1.5
    assert joined(split) == text


# --- HTML: parse, project, write back --------------------------------------------------------------------


def arbitrary(data: st.DataObject, segment: str) -> Aligned:
    """Whatever a model could answer: any pieces, any alignment (-1 where nothing was attended)."""
    source = word_pieces(segment)
    target = data.draw(st.lists(texts(3).map(lambda t: "▁" + t), max_size=8))
    alignment = data.draw(st.lists(st.integers(-1, len(source) - 1), min_size=len(target), max_size=len(target)))
    return Aligned("".join(target).replace("▁", " ").strip(), source, target, alignment)


def tag_multiset(root: Any) -> Counter[str]:
    return Counter(str(e.tag) if isinstance(e.tag, str) else "#comment" for e in root.iter() if e is not root)


def prepared_or_refused(html: str) -> Any:
    """The prepared document, or a documented refusal (and only where it is due)."""
    try:
        return prepare(html)
    except TooComplex:  # nesting beyond what the parser reads whole
        assert html.count("<") >= 255
    except Unrepresentable:
        assert NOT_IN_HTML.search(html)
    assume(False)


@property_settings
@given(html_fragments(), st.booleans())
def test_html_keeps_its_tags_through_translation(html: str, document: bool) -> None:
    if document:
        html = f"<!DOCTYPE html><html><head><title>A page</title></head><body>{html}</body></html>"
    prepared = prepared_or_refused(html)
    if prepared.output is not None:
        return
    before = tag_multiset(prepared.parsed.root)
    out = finish(prepared, [reversing(segment) for segment in prepared.segments])
    assert tag_multiset(prepared.parsed.root) == before
    reread = parse_html(out).root
    expected = tag_multiset(parse_html(html).root)
    assert tag_multiset(reread) == expected, out


@property_settings
@given(html_fragments(), st.data())
def test_html_survives_any_aligned_answer(html: str, data: st.DataObject) -> None:
    prepared = prepared_or_refused(html)
    if prepared.output is not None:
        return
    before = tag_multiset(prepared.parsed.root)
    out = finish(prepared, [arbitrary(data, segment) for segment in prepared.segments])
    assert tag_multiset(prepared.parsed.root) == before
    assert isinstance(out, str)


@property_settings
@given(html_fragments())
def test_untranslated_segments_leave_their_text_as_it_was(html: str) -> None:
    """A segment the translator could not translate (None) keeps its source; the document still comes out."""
    prepared = prepared_or_refused(html)
    if prepared.output is not None:
        return
    untouched = serialize(prepared.parsed)
    assert finish(prepared, [None] * len(prepared.segments)) == untouched


@property_settings
@given(st.text(max_size=300))
def test_any_unicode_parses_or_is_refused_cleanly(html: str) -> None:
    prepared = prepared_or_refused(html)
    if prepared.output is None:
        finish(prepared, [reversing(segment) for segment in prepared.segments])


@property_settings
@given(html_fragments(max_leaves=6).filter(lambda unit: len(unit) >= 8))
def test_html_cost_stays_linear(unit: str) -> None:
    """Any fragment repeated to about 60,000 characters is prepared and written back in well under two
    seconds of CPU."""
    html = unit * (60_000 // len(unit) + 1)
    start = time.process_time()
    try:
        prepared = prepare(html)
    except (TooComplex, Unrepresentable):
        return
    if prepared.output is None:
        finish(prepared, [reversing(segment) for segment in prepared.segments])
    assert time.process_time() - start < 3.0


# --- language detection's input --------------------------------------------------------------------------

_DETECTOR = Detector(["en", "de", "fr"])


@property_settings
@given(texts(), st.integers(1, 400))
def test_detection_sample_is_a_bounded_prefix(text: str, max_chars: int) -> None:
    sample = head(text, max_chars)
    assert text.startswith(sample) and len(sample) <= max_chars
    if len(text) > max_chars:
        assert len(sample) > max_chars // 2 or sample == text[:max_chars]


@property_settings
@given(texts())
def test_detection_ranks_any_text(text: str) -> None:
    ranked = _DETECTOR.detect(head(text, SETTINGS.detect_max_chars))
    assert ranked and {d.language for d in ranked} <= {"en", "de", "fr"}
    assert all(0 <= d.confidence <= 100 for d in ranked)
    assert sum(d.confidence for d in ranked) <= 100.5


# --- LibreTranslate parameters ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts(6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts(3), inner, max_size=4),
    max_leaves=10,
)


@property_settings
@given(st.dictionaries(st.sampled_from(["q", "source", "target", "format", "alternatives", "api_key"]), json_values))
def test_libretranslate_parameters_are_read_or_refused_with_400(params: dict[str, Any]) -> None:
    for read in (
        lambda: _texts(params.get("q"), SETTINGS),
        lambda: _texts(params.get("q"), SETTINGS),
        lambda: _string(params, "source", "auto"),
        lambda: _string(params, "target"),
        lambda: _alternatives(params),
    ):
        try:
            read()
        except LibreError as exc:
            assert exc.status == 400
        except InvalidRequest:  # check_segments' refusal, mapped to 400 by the LibreTranslate edge
            pass


class _App:
    def __init__(self) -> None:
        self.state = type("State", (), {"settings": SETTINGS})()


def _request(content_type: str, body: bytes, query: bytes) -> Request:
    chunks = [body]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop() if chunks else b"", "more_body": False}

    headers = [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/translate", "query_string": query}
    scope.update(headers=headers, app=_App())
    return Request(scope, receive)


_CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data",
    "text/plain",
]


def _bodies() -> st.SearchStrategy[bytes]:
    form = st.lists(st.tuples(texts(3), texts(6)), max_size=5).map(
        lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
    )
    multipart = st.lists(st.tuples(texts(3), texts(6)), max_size=3).map(
        lambda parts: (
            "".join(f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in parts)
            + "--XyZ--\r\n"
        ).encode("utf-8", "surrogatepass")
    )
    as_json = json_values.map(lambda v: json.dumps(v).encode())
    return st.one_of(form, multipart, as_json, st.binary(max_size=200))


@property_settings
@given(st.sampled_from(_CONTENT_TYPES), _bodies(), st.binary(max_size=60))
def test_libretranslate_bodies_are_read_or_refused_with_400(content_type: str, body: bytes, query: bytes) -> None:
    from starlette.exceptions import HTTPException

    async def read() -> None:
        try:
            params = await read_params(_request(content_type, body, query))
        except LibreError as exc:
            assert exc.status == 400
        except HTTPException as exc:  # Starlette's own refusal of a malformed form, a 400 at the edge
            assert exc.status_code == 400
        else:
            assert isinstance(params, dict)

    asyncio.run(read())


_CUE_PIECES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["<i>", "</i>", "<b>", "</b>", "<v Anna>", "</v>", "<c.yellow>", "</c>", "<00:00:01.500>"]),
    st.sampled_from(['<font color="#ff0">', "</font>", "<", ">", "&", "&amp;", "\n", "<3", "a < b"]),
)


@property_settings
@given(st.lists(_CUE_PIECES, max_size=16).map("".join))
def test_cue_text_comes_back_from_its_markup_byte_for_byte(text: str) -> None:
    assume(not NOT_IN_HTML.search(text) and "\r" not in text and "\f" not in text)
    assert cue_text(cue_markup(text)) == text

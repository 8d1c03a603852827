"""A bundle that cannot be trusted is refused with an error naming the file at fault."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from nmt_core.bundle import (
    DECODER_STEP_FILE,
    ENCODER_FILE,
    MANIFEST_FILE,
    SENTENCEPIECE_FILE,
    BundleError,
    DecodingDefaults,
    discover_bundles,
    load_bundle,
)


@pytest.fixture()
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def test_valid_bundle_loads_and_is_discovered(bundle_copy: Path) -> None:
    bundle = load_bundle(bundle_copy)
    assert bundle.encoder_path.name == ENCODER_FILE
    assert discover_bundles(bundle_copy.parent) == [bundle_copy]
    assert discover_bundles(bundle_copy) == [bundle_copy]


@pytest.mark.parametrize("name", [ENCODER_FILE, DECODER_STEP_FILE, SENTENCEPIECE_FILE])
def test_corrupted_file_is_named(bundle_copy: Path, name: str) -> None:
    path = bundle_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=re.escape(f"{name}: checksum mismatch")):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("name", [ENCODER_FILE, DECODER_STEP_FILE, SENTENCEPIECE_FILE, MANIFEST_FILE])
def test_missing_file_is_named(bundle_copy: Path, name: str) -> None:
    (bundle_copy / name).unlink()
    with pytest.raises(BundleError, match=re.escape(f"{name}: missing")):
        load_bundle(bundle_copy)


def _edit_manifest(bundle: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = bundle / MANIFEST_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_unknown_format_version(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda d: d.update(format_version=99))
    with pytest.raises(BundleError, match=re.escape("manifest.json: unknown bundle format_version 99")):
        load_bundle(bundle_copy)


def test_malformed_manifest(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda d: d.pop("directions"))
    with pytest.raises(BundleError, match=re.escape("manifest.json: malformed manifest")):
        load_bundle(bundle_copy)
    (bundle_copy / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(BundleError, match=re.escape("manifest.json: unreadable manifest")):
        load_bundle(bundle_copy)


def test_manifest_without_a_required_checksum(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda d: d["files"].pop(ENCODER_FILE))
    with pytest.raises(BundleError, match=f"no checksum for {ENCODER_FILE}"):
        load_bundle(bundle_copy)


def test_a_direction_may_have_its_own_decoding_defaults(bundle_copy: Path) -> None:
    """An entry names what differs; the rest comes from the bundle-wide block, not the library's defaults."""
    bundle_wide: dict[str, Any] = {"beam_size": 5, "length_penalty": 0.8}
    bundle_wide.update(max_length_ratio=1.7, max_length_offset=7)
    own = {"beam_size": 2, "length_penalty": 1.4}
    _edit_manifest(bundle_copy, lambda d: d.update(decoding=bundle_wide, decoding_by_direction={"de-en": own}))
    plan = load_bundle(bundle_copy).manifest.decoding
    assert plan.for_direction("de-en") == DecodingDefaults(
        beam_size=2, length_penalty=1.4, max_length_ratio=1.7, max_length_offset=7
    )
    assert plan.for_direction("en-de") == plan.defaults == plan.for_direction(None) == DecodingDefaults(**bundle_wide)
    assert plan.for_direction("de-en").search_options(beam_size=3).length_penalty == 1.4
    written = load_bundle(bundle_copy).manifest.to_json()
    assert written["decoding_by_direction"]["de-en"]["max_length_offset"] == 7
    _edit_manifest(bundle_copy, lambda d: d.pop("decoding_by_direction"))
    assert "decoding_by_direction" not in load_bundle(bundle_copy).manifest.to_json()  # older manifests unchanged


@pytest.mark.parametrize(
    "by_direction, message",
    [
        ({"en-fr": {"beam_size": 2}}, "directions the model lacks: ['en-fr']"),
        ({"de-en": {"beam": 2}}, "unexpected keyword argument 'beam'"),
        (["de-en"], "malformed manifest"),
    ],
)
def test_decoding_for_an_unknown_direction_or_setting_is_refused(
    bundle_copy: Path, by_direction: object, message: str
) -> None:
    _edit_manifest(bundle_copy, lambda d: d.update(decoding_by_direction=by_direction))
    with pytest.raises(BundleError, match=re.escape(message)):
        load_bundle(bundle_copy)

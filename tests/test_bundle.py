"""A bundle that cannot be trusted is refused with an error naming the file at fault."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from nmt_core.bundle import (
    DECODER_STEP_FILE,
    ENCODER_FILE,
    MANIFEST_FILE,
    SENTENCEPIECE_FILE,
    BundleError,
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

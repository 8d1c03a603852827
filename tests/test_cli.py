"""The user-facing model commands, run as a user would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from model.report import report
from model.tune_decoding import defaults_from_file, direction_winners, grid_search
from nmt_core.bundle import DecodingDefaults
from tests.fixtures import ROOT, toy_translation


def _run(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, check=True, timeout=120
    )
    return result.stdout


def test_translate_reads_stdin_and_files(tiny_bundle: Path, tiny_run: Path, tmp_path: Path) -> None:
    from_stdin = _run("model.translate", str(tiny_bundle), "--target", "de", stdin="the dog runs\na cat\n")
    assert len(from_stdin.splitlines()) == 2
    source = tmp_path / "in.txt"
    source.write_text("the dog runs\na cat\n")
    out = tmp_path / "out.txt"
    _run("model.translate", str(tiny_run), "--target", "de", "--input", str(source), "--output", str(out))
    assert out.read_text() == from_stdin  # checkpoint (PyTorch) and bundle (ONNX) agree


def test_evaluate_prints_all_scores(tiny_bundle: Path, tmp_path: Path) -> None:
    sentences = ["the dog runs", "a small cat sits", "the red car"]
    (tmp_path / "src.en").write_text("\n".join(sentences) + "\n")
    (tmp_path / "ref.de").write_text("\n".join(toy_translation(s) for s in sentences) + "\n")
    report = json.loads(
        _run(
            "model.evaluate",
            str(tiny_bundle),
            "--source",
            str(tmp_path / "src.en"),
            "--reference",
            str(tmp_path / "ref.de"),
            "--target",
            "de",
            "--beam-size",
            "2",
        )
    )
    assert report["sentences"] == 3 and report["beam_size"] == 2 and report["backend"] == "onnx"
    for key in ("sacrebleu", "chrf", "bleu_lc_tok"):
        assert 0.0 <= report[key] <= 100.0
    assert report["sacrebleu_signature"].startswith("nrefs:1")


def test_decoding_defaults_tuned_on_valid_reach_the_manifest(tiny_run: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    sentences = ["the dog runs", "a small cat sits on the red car", "the man plays with a ball"]
    (tmp_path / "val.en").write_text("\n".join(sentences) + "\n")
    (tmp_path / "val.de").write_text("\n".join(toy_translation(s) for s in sentences) + "\n")
    grid = grid_search(tiny_bundle, ["en-de", "de-en"], [1, 2], [0.0, 1.0], valid_set=str(tmp_path / "val.{lang}"))
    assert [(row["beam_size"], row["length_penalty"]) for row in grid["grid"]] == [
        (1, 0.0),
        (1, 1.0),
        (2, 0.0),
        (2, 1.0),
    ]
    best = max(row["mean_bleu_lc_tok"] for row in grid["grid"])
    chosen = grid["decoding"]
    winner = next(
        r
        for r in grid["grid"]
        if (r["beam_size"], r["length_penalty"]) == (chosen["beam_size"], chosen["length_penalty"])
    )
    assert winner["mean_bleu_lc_tok"] == best
    tuned = tmp_path / "decoding.json"
    tuned.write_text(json.dumps({**grid, "decoding": {**chosen, "beam_size": 3, "length_penalty": 0.8}}))
    _run("model.export", str(tiny_run), str(tmp_path / "bundle"), "--decoding", str(tuned))
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["decoding"]["beam_size"] == 3 and manifest["decoding"]["length_penalty"] == 0.8


def test_a_direction_gets_its_own_defaults_only_when_its_slices_gain_enough() -> None:
    grid = [
        {"beam_size": 4, "length_penalty": 0.6, "captions en-de": 30.0, "news en-de": 20.0, "de-en": 40.0},
        {"beam_size": 6, "length_penalty": 1.0, "captions en-de": 31.0, "news en-de": 21.0, "de-en": 38.0},
    ]
    directions = {"captions en-de": "en-de", "news en-de": "en-de", "de-en": "de-en"}
    overall = grid[0]  # both rows average 30.0; the tie goes to the smaller beam
    assert direction_winners(grid, directions, overall, min_gain=0.5) == {
        "en-de": DecodingDefaults(beam_size=6, length_penalty=1.0)
    }
    assert direction_winners(grid, directions, overall, min_gain=1.5) == {}  # en-de gains only 1.0
    assert direction_winners(grid, directions, grid[1], min_gain=0.0) == {
        "de-en": DecodingDefaults(beam_size=4, length_penalty=0.6)
    }  # the overall winner's own pair is never repeated per direction


def test_per_direction_defaults_go_from_tuning_through_export_to_report(
    tiny_run: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    sentences = ["the dog runs", "a small cat sits on the red car", "the man plays with a ball"]
    (tmp_path / "val.en").write_text("\n".join(sentences) + "\n")
    (tmp_path / "val.de").write_text("\n".join(toy_translation(s) for s in sentences) + "\n")
    valid = str(tmp_path / "val.{lang}")
    tuned = grid_search(tiny_bundle, ["en-de", "de-en"], [1, 2], [0.0, 1.0], valid_set=valid, per_direction_gain=0.0)

    def row_of(settings: dict[str, Any]) -> dict[str, Any]:
        pair = (settings["beam_size"], settings["length_penalty"])
        return next(row for row in tuned["grid"] if (row["beam_size"], row["length_penalty"]) == pair)

    overall = row_of(tuned["decoding"])
    for direction, own in tuned["decoding_by_direction"].items():
        assert row_of(own)[direction] >= overall[direction] and row_of(own) != overall
    # de-en gets beam 3 and an output cap of two tokens, both easy to observe; entries name only what differs
    chosen = {**tuned, "decoding": {**tuned["decoding"], "beam_size": 2}}
    chosen["decoding_by_direction"] = {"de-en": {"beam_size": 3, "max_length_ratio": 0.0, "max_length_offset": 2}}
    decoding = tmp_path / "decoding.json"
    decoding.write_text(json.dumps(chosen))
    _run("model.export", str(tiny_run), str(tmp_path / "bundle"), "--decoding", str(decoding))
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["decoding"]["beam_size"] == 2 and manifest["decoding_by_direction"]["de-en"]["beam_size"] == 3
    assert manifest["decoding_by_direction"]["de-en"]["length_penalty"] == manifest["decoding"]["length_penalty"]
    for model, tuning in ((tmp_path / "bundle", None), (tiny_run, defaults_from_file(decoding))):
        figures = report(model, ["en-de", "de-en"], test_set=valid, tuned=tuning)
        assert set(figures["en-de"]) == {"greedy", "beam2"} and set(figures["de-en"]) == {"greedy", "beam3"}
    text = "a small cat sits on the red car near the house\n"
    capped = _run("model.translate", str(tmp_path / "bundle"), "--source", "de", "--target", "en", stdin=text)
    whole = _run("model.translate", str(tmp_path / "bundle"), "--target", "en", "--beam-size", "3", stdin=text)
    assert len(capped.split()) <= 2 < len(whole.split())


def test_report_scores_each_direction_and_renders_the_model_card_table(tiny_bundle: Path, tmp_path: Path) -> None:
    sentences = ["the dog runs", "a small cat sits", "the red car"]
    (tmp_path / "test.en").write_text("\n".join(sentences) + "\n")
    (tmp_path / "test.de").write_text("\n".join(toy_translation(s) for s in sentences) + "\n")
    figures = report(tiny_bundle, ["en-de", "de-en"], 2, test_set=str(tmp_path / "test.{lang}"))
    assert set(figures) == {"en-de", "de-en"} and set(figures["en-de"]) == {"greedy", "beam2"}
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps({"test_set": "toy", **figures}))
    table = _run("model.report", "--markdown", str(saved), str(saved)).splitlines()
    assert len(table) == 2 + 4 and all(line.count("|") == 8 for line in table)
    beam_row = next(line for line in table if line.startswith("| en→de | beam 2 |"))
    assert f"**{figures['en-de']['beam2']['bleu_lc_tok']:.2f}**" in beam_row


def test_report_and_tuning_take_a_runs_held_out_slices(tiny_bundle: Path, tmp_path: Path) -> None:
    """Per-domain figures: each DOMAIN.SRC-TGT.tsv is its own slice, after the Multi30k ones."""
    sentences = ["the dog runs", "a small cat sits", "the red car"]
    (tmp_path / "test.en").write_text("\n".join(sentences) + "\n")
    (tmp_path / "test.de").write_text("\n".join(toy_translation(s) for s in sentences) + "\n")
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    for domain, rows in {"news": sentences[:2], "chat": sentences[1:]}.items():
        (heldout / f"{domain}.en-de.tsv").write_text("".join(f"{s}\t{toy_translation(s)}\n" for s in rows))
    (heldout / "news.en-fr.tsv").write_text("the dog runs\tle chien court\n")  # not asked for: skipped
    figures = report(tiny_bundle, ["en-de"], 2, test_set=str(tmp_path / "test.{lang}"), heldout=heldout)
    assert list(figures) == ["en-de", "chat en-de", "news en-de"]
    assert figures["news en-de"]["greedy"]["sentences"] == 2 and figures["chat en-de"]["beam2"]["sentences"] == 2
    tuned = grid_search(tiny_bundle, ["en-de"], [1, 2], [0.6], heldout=heldout)
    assert {k for k in tuned["grid"][0] if " " in k} == {"chat en-de", "news en-de"}
    assert "held-out" in tuned["selected_on"]

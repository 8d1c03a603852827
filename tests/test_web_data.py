"""The web-domain data command (issue 22) on packages built here: catalogs read, filtered, split by English
string, whole packages held out, and every source recorded in the manifest."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polib

from model.doc_data import Manual
from model.web_data import Corpus, build, clean, clean_pair, manual_records, split_of


def make_deb(root: Path, package: str, entries: list[polib.MOEntry], *catalog_paths: str) -> Path:
    tree = root / package
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.2-3\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    catalog = polib.MOFile()
    catalog.metadata = {"Content-Type": "text/plain; charset=UTF-8"}
    catalog.extend(entries)
    for relative in catalog_paths or (f"usr/share/locale/de/LC_MESSAGES/{package}.mo",):
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        catalog.save(str(tree / relative))
    doc = tree / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Format: x\n\nFiles: *\nLicense: GPL-2+\n")
    debs = root / "debs"
    debs.mkdir(exist_ok=True)
    deb = debs / f"{package}_1.2-3_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


def test_catalogs_become_a_corpus_with_held_out_strings_and_a_manifest(tmp_path: Path) -> None:
    strings = [f"Open the file number {i}" for i in range(300)]
    entries = [
        polib.MOEntry(msgid=s, msgstr=s.replace("Open the file number", "Die Datei öffnen, Nummer")) for s in strings
    ]
    entries += [
        polib.MOEntry(msgid="_Save As…", msgstr="Speichern _unter …"),
        polib.MOEntry(msgid="%d file", msgid_plural="%d files", msgstr_plural={0: "%d Datei", 1: "%d Dateien"}),
        polib.MOEntry(msgid="Untranslated", msgstr=""),
        polib.MOEntry(msgid="OK", msgstr="Ein sehr viel zu langer Text für so ein kurzes Wort"),
        polib.MOEntry(msgid="Delete %s from {folder}?", msgstr="%s aus {folder} löschen?"),
        polib.MOEntry(msgid="Rename %s to %s", msgstr="%s umbenennen"),  # a placeholder lost: dropped
    ]
    make_deb(tmp_path, "app-data", entries)
    make_deb(tmp_path, "held-data", [polib.MOEntry(msgid="Close the window", msgstr="Fenster schließen")])
    web_app = [polib.MOEntry(msgid="Log ~in", msgstr="~Anmelden", msgctxt="login")]
    make_deb(  # catalogs where web applications and LibreOffice keep them; Swiss German is not German here
        tmp_path, "web-app", web_app, "usr/share/web-app/languages/admin-de_DE.mo", "usr/share/web-app/de_CH.mo"
    )
    dest = tmp_path / "web"
    packages = ["app-data", "held-data", "web-app", "no-such-package-xyz"]
    records = build(packages, tmp_path / "debs", dest, {"held-data"})

    train = dict(line.split("\t") for line in (dest / "web.en-de.tsv").read_text().splitlines())
    held = {}
    for split in ("valid", "test"):
        path = dest / "heldout" / split / "ui.en-de.tsv"
        held.update(dict(line.split("\t") for line in path.read_text().splitlines()) if path.exists() else {})
    assert train["Save As…"] == "Speichern unter …"  # accelerators gone
    assert "%d file" not in train and "Untranslated" not in train and "OK" not in train
    assert train["Delete 42 from 42?"] == "42 aus 42 löschen?"  # placeholders as the service's stand-in
    assert not any("Rename" in s for s in train)
    assert not set(train) & set(held)  # a held-out string never trains
    assert all(split_of(s) != "train" for s in held) and 0 < len(held) < 30
    assert (dest / "heldout" / "ui_test" / "ui.en-de.tsv").read_text() == "Close the window\tFenster schließen\n"
    assert "Close the window" not in train
    assert train["Log in"] == "Anmelden"

    manifest = json.loads((dest / "manifest.json").read_text())
    by_package = {s["package"]: s for s in manifest["sources"]}
    assert by_package["app-data"]["version"] == "1.2-3" and by_package["app-data"]["license"] == "GPL-2+"
    assert by_package["app-data"]["catalogs"] == ["usr/share/locale/de/LC_MESSAGES/app-data.mo"]
    assert by_package["web-app"]["catalogs"] == ["usr/share/web-app/languages/admin-de_DE.mo"]
    assert by_package["no-such-package-xyz"]["error"]  # recorded, not fatal
    assert [r.package for r in records] == packages


def test_cleaning_ui_strings() -> None:
    assert clean("_File") == "File" and clean("&Open\n  recent") == "Open recent"
    assert clean("Tom & Jerry") == "Tom & Jerry" and clean("a &amp; b") == "a &amp; b"
    assert clean("S~ubject") == "Subject" and clean("Transparenz redu_zieren") == "Transparenz reduzieren"
    assert clean_pair("Set show_hidden", "show_hidden setzen") == ("Set show_hidden", "show_hidden setzen")
    assert clean_pair("Save _As", "Speichern _unter") == ("Save As", "Speichern unter")


def make_help_deb(root: Path, package: str, locale: str, paragraphs: dict[str, str]) -> None:
    """A help package as Debian ships LibreOffice's: one HTML page whose paragraphs carry their source ids."""
    tree = root / package
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 4:7.4-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    page = tree / "usr/share/libreoffice/help" / locale / "text/shared/01/01010000.html"
    page.parent.mkdir(parents=True)
    body = "".join(f'<p id="{ident}" class="paragraph">{text}</p>\n' for ident, text in paragraphs.items())
    page.write_text(f'<html><body><div id="DisplayArea">{body}</div></body></html>', encoding="utf-8")
    (root / "debs").mkdir(exist_ok=True)
    deb = root / "debs" / f"{package}_7.4-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(tree), str(deb)], check=True, capture_output=True)


def read_tsv(path: Path) -> dict[str, str]:
    return dict(line.split("\t") for line in path.read_text(encoding="utf-8").splitlines())


def test_chinese_catalogs_help_and_tatoeba(tmp_path: Path) -> None:
    entries = [
        polib.MOEntry(msgid="_File", msgstr="文件(_F)"),
        polib.MOEntry(msgid="_Open…", msgstr="打开(&O)…"),
        polib.MOEntry(msgid="Delete %s?", msgstr="刪除 %s？"),  # Traditional characters become Simplified
        polib.MOEntry(msgid="Settings", msgstr="Settings"),  # copied, not translated
        polib.MOEntry(msgid="Check for updates", msgstr="Check for updates now"),  # English in a zh catalog
        polib.MOEntry(msgid="Close", msgstr="关闭当前窗口并退出应用程序然后重新启动计算机"),  # ratio off
    ]
    make_deb(tmp_path, "app-data", entries, "usr/share/locale/zh_CN/LC_MESSAGES/app.mo")
    make_deb(tmp_path, "tw-data", entries, "usr/share/locale/zh_TW/LC_MESSAGES/app.mo")  # Traditional: not zh
    make_help_deb(
        tmp_path,
        "libreoffice-help-en-us",
        "en-US",
        {"hd_id3154788": "New", "par_id3154812": "Choose <b>File - New</b>.", "par_id1": "Only in English."},
    )
    make_help_deb(
        tmp_path,
        "libreoffice-help-zh-cn",
        "zh-CN",
        {"hd_id3154788": "新建", "par_id3154812": "选择<b>文件 - 新建</b>。", "par_id2": "只有中文。"},
    )
    tatoeba = tmp_path / "cmn.tsv"
    tatoeba.write_text("I like music.\t我喜歡音樂。\nHi.\t你好。\n", encoding="utf-8")
    dest = tmp_path / "web-zh"
    records = build(["app-data", "tw-data"], tmp_path / "debs", dest, set(), ["zh"], {"zh": tatoeba}, help_text=True)

    ui = read_tsv(dest / "web.en-zh.tsv")
    assert ui == {"File": "文件", "Open…": "打开…", "Delete 42?": "删除 42？"}
    help_pairs = read_tsv(dest / "help.en-zh.tsv")
    assert help_pairs == {"New": "新建", "Choose File - New.": "选择文件 - 新建。"}  # paired by id, markup flattened
    assert read_tsv(dest / "tatoeba.en-zh.tsv") == {"I like music.": "我喜欢音乐。", "Hi.": "你好。"}
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["tatoeba"]["zh"]["rows"] == 2 and manifest["tatoeba"]["zh"]["script_converted"] == 1
    assert "OpenCC" in manifest["script"]
    by_package = {r.package: r for r in records}
    assert by_package["tw-data"].pairs == {"zh": 0} and by_package["libreoffice-help-zh-cn"].pairs == {"zh": 2}


def make_manual_deb(root: Path, package: str, page: str, blocks: list[str]) -> None:
    tree = root / package
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 2.100\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: t\n"
    )
    (tree / page).parent.mkdir(parents=True, exist_ok=True)
    body = "".join(blocks)
    (tree / page).write_text(f'<html><head><meta charset="utf-8"></head><body>{body}</body></html>', encoding="utf-8")
    (root / "debs").mkdir(exist_ok=True)
    subprocess.run(["dpkg-deb", "--build", str(tree), str(root / "debs" / f"{package}_2.100_all.deb")], check=True)


def test_manuals_align_block_by_block_only_where_pages_agree(tmp_path: Path) -> None:
    manual = Manual("ref-en", "usr/share/ref/*.en.html", {"zh": "ref-zh"}, {"zh": ((".en.html", ".zh-cn.html"),)})
    english = ["<h1>Tutorials</h1>", "<p>Use <code>apt</code> to install packages.</p>", "<li>Read the manual.</li>"]
    chinese = ["<h1>教程</h1>", "<p>使用 <code>apt</code> 安装软件包。</p>", "<li>阅读手册。</li>"]
    make_manual_deb(tmp_path, "ref-en", "usr/share/ref/ch01.en.html", english)
    make_manual_deb(tmp_path, "ref-zh", "usr/share/ref/ch01.zh-cn.html", chinese)
    corpus = Corpus()
    records = manual_records(corpus, tmp_path / "debs", ["zh"], [manual])
    pairs = {s: t for (domain, _, _), found in corpus.pairs.items() if domain == "docs" for s, t in found.items()}
    assert pairs == {
        "Tutorials": "教程",
        "Use apt to install packages.": "使用 apt 安装软件包。",
        "Read the manual.": "阅读手册。",
    }
    assert [r.package for r in records] == ["ref-en", "ref-zh"] and records[1].pairs == {"zh": 3}

    shifted = tmp_path / "shifted"  # one block more in the translation: the page is skipped, not misaligned
    make_manual_deb(shifted, "ref-en", "usr/share/ref/ch01.en.html", english)
    make_manual_deb(shifted, "ref-zh", "usr/share/ref/ch01.zh-cn.html", ["<p>译者注。</p>", *chinese])
    corpus = Corpus()
    manual_records(corpus, shifted / "debs", ["zh"], [manual])
    assert not any(found for found in corpus.pairs.values())


def test_common_strings_always_train_and_leave_the_held_out_catalogs(tmp_path: Path) -> None:
    """ "Settings" hashes into a held-out slice and "Cancel" is in the held-out program too: both are words every
    program shows, so both train (and are written once more, to be weighed up); what only the held-out program
    says stays held out."""
    assert split_of("Settings") != "train"
    everyday = [
        polib.MOEntry(msgid="Settings", msgstr="Einstellungen"),
        polib.MOEntry(msgid="Cancel", msgstr="Abbrechen"),
    ]
    for package in ("editor", "viewer"):
        make_deb(tmp_path, package, everyday)
    make_deb(tmp_path, "player", [*everyday, polib.MOEntry(msgid="Shuffle", msgstr="Zufallswiedergabe")])
    make_deb(
        tmp_path,
        "mailer",
        [
            polib.MOEntry(msgid="Cancel", msgstr="Abbrechen"),
            polib.MOEntry(msgid="Reply to all", msgstr="Allen antworten"),
        ],
    )
    make_deb(
        tmp_path,
        "held",
        [
            polib.MOEntry(msgid="Cancel", msgstr="Abbrechen"),
            polib.MOEntry(msgid="Mark as spam", msgstr="Als Spam markieren"),
        ],
    )
    dest = tmp_path / "web"
    build(["editor", "viewer", "player", "mailer", "held"], tmp_path / "debs", dest, {"held"})

    def pairs(path: Path) -> dict[str, str]:
        return dict(line.split("\t") for line in path.read_text().splitlines()) if path.exists() else {}

    train, common = pairs(dest / "web.en-de.tsv"), pairs(dest / "common.en-de.tsv")
    assert train == {
        "Settings": "Einstellungen",
        "Cancel": "Abbrechen",
        "Shuffle": "Zufallswiedergabe",
        "Reply to all": "Allen antworten",
    }
    assert common == {"Settings": "Einstellungen", "Cancel": "Abbrechen"}  # three training packages or more
    assert pairs(dest / "heldout" / "ui_test" / "ui.en-de.tsv") == {"Mark as spam": "Als Spam markieren"}
    assert not any(pairs(dest / "heldout" / split / "ui.en-de.tsv") for split in ("valid", "test"))

"""Chinese in the text layer (issue 25): sentences end at full-width punctuation with no space after it, joining
spaces the translation for its own script, and a run-on line without spaces is still cut to the model's size."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmt_core.bundle import SENTENCEPIECE_FILE
from nmt_core.languages import canonical_language
from nmt_core.scripts import with_full_width_punctuation, without_gaps_between_unspaced
from nmt_core.spans import pattern_spans
from nmt_core.vocabulary import Vocabulary
from service.text.detection import Detector
from service.text.segmentation import split_sentences
from service.text.terms import TermMatcher
from service.validation import TranslateRequest

PARAGRAPH = (
    "循环神经网络是一类神经网络。它按顺序处理输入。每一步都有一个隐藏状态！隐藏状态会传到下一步。"
    "这样网络就能记住过去？长序列会带来梯度消失。长短期记忆网络解决了这个问题；它有三个门。"
    "门控制信息的流动。今天，它们被广泛使用。"
)


def test_a_ten_sentence_chinese_paragraph_without_spaces_is_ten_units() -> None:
    split = split_sentences(PARAGRAPH)
    assert len(split.sentences) == 10
    assert all(s.endswith(("。", "！", "？", "；")) for s in split.sentences)
    assert split.join(split.sentences) == PARAGRAPH


def test_closing_quotes_and_brackets_stay_with_their_sentence() -> None:
    split = split_sentences("他说：“你好。”我走了！（这是真的。）『再见！』最后一句。")
    assert split.sentences == ["他说：“你好。”", "我走了！", "（这是真的。）", "『再见！』", "最后一句。"]


def test_joining_into_english_adds_spaces_and_into_chinese_removes_them() -> None:
    chinese = split_sentences("你好。你好吗？\n我很好。")
    assert chinese.join(["Hello.", "How are you?", "I am fine."]) == "Hello. How are you?\nI am fine."
    english = split_sentences("Hello. How are you?  I am fine.\nThanks!")
    assert english.join(["你好。", "你好吗？", "我很好。", "谢谢！"]) == "你好。你好吗？我很好。\n谢谢！"
    mixed = split_sentences("See the docs. 然后再试。")
    assert mixed.join(["请看文档。", "Then try again."]) == "请看文档。 Then try again."  # the source's space stays


def test_a_run_on_chinese_line_is_cut_after_commas_or_at_the_limit() -> None:
    text = "我" * 300 + "，" + "你" * 600
    split = split_sentences(text, max_chars=400)
    assert [len(s) for s in split.sentences] == [301, 400, 200]
    assert split.join(split.sentences) == text


def test_chinese_is_told_by_its_script_even_in_two_characters() -> None:
    detector = Detector(["en", "de", "zh"])
    assert detector.detect("确定")[0].language == "zh"
    assert detector.detect("循环神经网络（RNN）是一类神经网络。")[0].language == "zh"
    assert detector.detect("The RNN (循环神经网络) reads its input in order.")[0].language == "en"
    assert Detector(["en", "de"]).detect("确定")[0].language != "zh"  # no Chinese model: never answered


def test_simplified_chinese_tags_name_the_zh_bundle_and_traditional_ones_do_not() -> None:
    for tag in ("zh", "zh-Hans", "zh-CN", "zh_CN", "ZH-hans", "cmn"):
        assert canonical_language(tag) == "zh"
        assert TranslateRequest(text="x", source=tag, target="en").source == "zh"
    for tag in ("zh-Hant", "zh-TW", "zh-HK", "en", "de"):
        assert canonical_language(tag) == tag


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("共3个文件", ["3"]),
        ("2023年发布了版本v1.2.3和17:00的会议", ["2023", "v1.2.3", "17:00"]),
        ("访问https://example.com/docs获取更多。", ["https://example.com/docs"]),
        ("发送到bob@example.com的邮件", ["bob@example.com"]),
        ("删除%s个文件（共%d个）", ["%s", "%d"]),
        ("打开/usr/bin目录，联系@bob了解", ["/usr/bin", "@bob"]),
    ],
)
def test_spans_are_found_against_chinese_characters(text: str, kept: list[str]) -> None:
    """No space separates a number or a URL from Chinese words; the span stops where the Chinese starts."""
    assert [text[f.start : f.end] for f in pattern_spans(text)] == kept


def test_glossary_terms_match_inside_chinese_text() -> None:
    matcher = TermMatcher(["数据库", "Linux 内核", "file"], fold=True)
    text = "打开数据库文件，Linux 内核和profile file"
    assert [(text[m.start : m.end], m.term) for m in matcher.find(text)] == [
        ("数据库", 0),
        ("Linux 内核", 1),
        ("file", 2),
    ]
    assert matcher.find("数据 库") == []  # the term's own spacing, as in any script


def test_detokenized_chinese_has_no_gaps_between_characters() -> None:
    assert without_gaps_between_unspaced("我们 学习 电脑 。 你好") == "我们学习电脑。你好"
    assert without_gaps_between_unspaced("使用 Linux 系统") == "使用 Linux 系统"  # spaces toward English stay
    assert without_gaps_between_unspaced("한국어 문장") == "한국어 문장"  # Korean spaces its words


def test_punctuation_beside_chinese_is_written_full_width() -> None:
    """SentencePiece folds ，！？：（） to ASCII in training text; Chinese output gets them back."""
    assert with_full_width_punctuation("打开文件菜单,然后选择「保存」。") == "打开文件菜单，然后选择「保存」。"
    assert with_full_width_punctuation("你好!你好吗?注意:他说(很好)。") == "你好！你好吗？注意：他说（很好）。"
    for kept in ("Hello, world! (yes)", "使用 Linux, 然后", "版本3,5和http://x.com", "北京(Beijing)"):
        assert with_full_width_punctuation(kept) == kept


def test_an_unknown_piece_the_model_writes_is_left_out(tiny_zh_bundle: Path) -> None:
    vocab = Vocabulary(tiny_zh_bundle / SENTENCEPIECE_FILE)
    ids = vocab.pieces("这狗跑。")
    assert vocab.decode([ids[0], vocab.specials.unk, *ids[1:]]) == vocab.decode(ids) == "这狗跑。"

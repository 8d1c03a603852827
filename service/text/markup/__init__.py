"""HTML-aware translation: block texts translated once, inline tags carried over by the word alignment."""

from service.text.markup.document import NOT_IN_HTML, Unrepresentable, check_representable
from service.text.markup.protocol import AlignedTranslation, Translate
from service.text.markup.translate import HtmlLimits, Offload, TooComplex, translate_html

__all__ = [
    "NOT_IN_HTML",
    "AlignedTranslation",
    "HtmlLimits",
    "Offload",
    "TooComplex",
    "Translate",
    "Unrepresentable",
    "check_representable",
    "translate_html",
]

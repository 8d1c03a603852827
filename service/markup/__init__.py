"""HTML-aware translation: block texts translated once, inline tags carried over by the word alignment."""

from service.markup.protocol import AlignedTranslation, Translate
from service.markup.translate import HtmlLimits, Offload, TooComplex, translate_html

__all__ = ["AlignedTranslation", "HtmlLimits", "Offload", "TooComplex", "Translate", "translate_html"]

"""HTML-aware translation: block texts translated once, inline tags carried over by the word alignment."""

from service.markup.protocol import AlignedTranslation, Translate
from service.markup.translate import translate_html

__all__ = ["AlignedTranslation", "Translate", "translate_html"]

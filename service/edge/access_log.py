"""Access-log redaction: deep-translator sends LibreTranslate keys as `?api_key=…`, and uvicorn logs
every request line with its query string. The parameter is still accepted; only its value is hidden."""

from __future__ import annotations

import logging
import re

_SECRET_PARAMETER = re.compile(r"((?:^|[?&])api_key=)[^&\s\"]*", re.IGNORECASE)
REDACTED = "REDACTED"


def redact(text: str) -> str:
    return _SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Rewrites the arguments of a log record (uvicorn passes the request path as one of them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_redaction(logger_names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")) -> None:
    for name in logger_names:
        logging.getLogger(name).addFilter(RedactSecrets())

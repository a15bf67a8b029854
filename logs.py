"""Invitation codes kept out of the logs: the value of any `code=` a request carries is redacted."""
from __future__ import annotations

import logging
import re

from flask import Flask

#: A `code` parameter's value, in a query or percent-encoded inside another one (`next=%2Fvote%3Fcode%3D…`).
CODE_PARAMETER = re.compile(r"((?:[?&;]|%3F|%26)code(?:=|%3D))(?:(?!%26)[^&;#\s\"'])*", re.IGNORECASE)
REDACTED = "[redacted]"
#: The loggers that write request lines: the development server's, and gunicorn's (which do not propagate).
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    """Return the text with the value of every `code` parameter replaced."""
    return CODE_PARAMETER.sub(rf"\1{REDACTED}", text)


class RedactCodes(logging.Filter):
    """Rewrite a record whose message or traceback holds a `code=` value; let every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # a malformed call: the handler reports it, as ever
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text; formatted here, the traceback is redacted like the message.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_redact_codes = RedactCodes()


def init_app(app: Flask) -> None:
    """Filter the app's, the servers' and the root logger's records, and the root logger's handlers.

    A logger's filter sees only the records logged on it, not those its children propagate: those
    reach the root logger's handlers, which are filtered too. Gunicorn configures its loggers before
    it loads the app, so they are in place by now.
    """
    loggers = [logging.getLogger(), app.logger, *map(logging.getLogger, REQUEST_LOGGERS)]
    for target in {id(t): t for logger in loggers for t in (logger, *logger.handlers)}.values():
        if _redact_codes not in target.filters:
            target.addFilter(_redact_codes)

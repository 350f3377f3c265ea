"""Where the CLI sends the library's log records: standard error, one line each."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self, *, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.WARNING)
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        """``warning: message`` (``debug scopecraft.engine: message`` with ``--debug``)."""
        if self.debug:
            return f"{record.levelname.lower()} {record.name}: {record.getMessage()}"
        return f"{record.levelname.lower()}: {record.getMessage()}"

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record on the current standard error."""
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # a logging failure must never break a command
            self.handleError(record)


def configure_logging(debug: bool) -> None:
    """Send ``scopecraft.*`` warnings (everything with ``--debug``) to standard error."""
    logger = logging.getLogger("scopecraft")
    for handler in list(logger.handlers):
        if isinstance(handler, _StderrHandler):
            logger.removeHandler(handler)
    logger.addHandler(_StderrHandler(debug=debug))
    # Without --debug the level stays inherited (warnings and up reach the handler).
    logger.setLevel(logging.DEBUG if debug else logging.NOTSET)

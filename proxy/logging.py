"""structlog setup, done once: JSON lines when serving, a readable console in the demo."""

from __future__ import annotations

import logging
import sys

import structlog

# A value the client chose (action, X-Request-Id, a parameter) is logged at most this long: one
# request must not write more log than a few lines' worth, whatever it carries.
CLIENT_VALUE_CHARS = 64


def clip(value: str | None, most: int = CLIENT_VALUE_CHARS) -> str | None:
    """`value` as a log line may carry it: the first `most` characters, then `…` and the full
    length (`getStatu…[1048576 chars]`), so a cut value is never taken for a whole one."""
    if value is None or len(value) <= most:
        return value
    return f"{value[:most]}…[{len(value)} chars]"


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Route structlog (and stdlib logging from uvicorn) to stderr in the chosen format."""
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.types.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(numeric_level, logging.WARNING), stream=sys.stderr, force=True)

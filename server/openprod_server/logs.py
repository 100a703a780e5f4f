"""Structured logs: one JSON object per line on stderr, so a venue tech can grep them and a
log shipper can parse them. Our own events, uvicorn's and asyncio's messages share the format.

Logs are rate-limited per kind of message: a flood of bad connections must not fill the disk
(a thousand refused sockets once wrote 618 MB in a minute). Each message kind (logger, event,
level) gets `LOG_BURST` lines per `LOG_WINDOW_S`; the rest are counted, and the next line of
that kind carries `"suppressed": n` (how many like it were left out before it). Tracebacks are
cut to their last `MAX_TRACEBACK` characters.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = logging.getLogger("openprod.relay")
LOG_BURST = 100
LOG_WINDOW_S = 10.0
MAX_TRACEBACK = 4_000
MAX_KINDS = 10_000


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        suppressed = getattr(record, "suppressed", None)
        if suppressed:
            entry["suppressed"] = suppressed
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)[-MAX_TRACEBACK:]
        return json.dumps(entry, default=str, separators=(",", ":"))


class RateLimit(logging.Filter):
    """At most `burst` lines per message kind per `window_s`; the next line says how many were dropped."""

    def __init__(self, burst: int = LOG_BURST, window_s: float = LOG_WINDOW_S,
                 clock: Any = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self._kinds: dict[tuple[str, str, int], list[float]] = {}  # kind -> [window start, lines, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(getattr(record, "event", None) or record.msg), record.levelno)
        now = self.clock()
        state = self._kinds.get(kind)
        if state is None:
            if len(self._kinds) >= MAX_KINDS:
                self._kinds.clear()
            state = self._kinds[kind] = [now, 0, 0]
        if now - state[0] >= self.window_s:
            state[0], state[1] = now, 0
        if state[1] >= self.burst:
            state[2] += 1
            return False
        state[1] += 1
        if state[2]:
            record.suppressed = int(state[2])
            state[2] = 0
        return True


def setup(level: str = "info") -> dict[str, Any]:
    """Route our logger and asyncio's (and return a uvicorn log_config routing its loggers) to
    rate-limited JSON on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RateLimit())
    for name in ("openprod.relay", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    LOGGER.setLevel(level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"rate": {"()": RateLimit}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
                                "filters": ["rate"]}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    LOGGER.log(level, event, extra={"event": event, "fields": fields})


def warn(event: str, **fields: Any) -> None:
    log(event, logging.WARNING, **fields)


def error(event: str, **fields: Any) -> None:
    log(event, logging.ERROR, **fields)


def now_ms() -> int:
    return time.time_ns() // 1_000_000

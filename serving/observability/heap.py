"""The garbage collector in a long-running server process.

The app imports several hundred thousand long-lived objects (LangChain and LangGraph, pydantic
schemas, SQLAlchemy's mappers, the bundle, the clinic). Python's full collection walks every
one of them: under bursts of requests a full collection ran every few seconds and stopped the
event loop for 180-260 ms each time, with the CPU mostly idle (measured on the Telegram
webhook, 2026-11-30; docs/TELEGRAM_BENCH.md). Frozen objects are moved to a permanent
generation the collector never walks, and a full collection takes a few milliseconds; objects
created while serving are still collected as before.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect what start-up left behind, then freeze the rest; the number of objects frozen.

    Call once start-up is done (app built, bundle loaded, demo data written), in a process
    that then serves for a long time. Not in tests that build many apps in one process: what
    is frozen is never collected, so their apps' garbage would pile up.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("froze %d start-up objects out of the garbage collector's walks", frozen)
    return frozen

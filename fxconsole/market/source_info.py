"""Where each stored series came from: ``<market store>.sources.json`` beside the store.

Written after every import or synthesis (atomically); read by the console, which must
say plainly when the bars it trains and trades on are synthetic. Light: JSON only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fxconsole.fsutil import atomic_write

logger = logging.getLogger(__name__)

SYNTH_PREFIX = "synth("


def sources_path(store_path: Path) -> Path:
    """The sources file of the market store at ``store_path``."""
    return store_path.with_name(store_path.stem + ".sources.json")


def read_sources(store_path: Path) -> dict[str, dict[str, Any]]:
    """``{"GBPJPY/M1": {"source": ..., "synthetic": bool}}`` (empty if unknown)."""
    path = sources_path(store_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("%s unreadable: %s", path, exc)
        return {}
    return {str(k): dict(v) for k, v in raw.items() if isinstance(v, dict)} \
        if isinstance(raw, dict) else {}


def record_source(store_path: Path, symbol: str, timeframe: str, source: str,
                  replaced: bool) -> None:
    """Note that ``source`` was stored into the series (merged, or replacing it): a series
    stays synthetic while any synthetic bars remain in it."""
    sources = read_sources(store_path)
    key = f"{symbol}/{timeframe}"
    synthetic = source.startswith(SYNTH_PREFIX)
    if not replaced:
        synthetic = synthetic or bool(sources.get(key, {}).get("synthetic", False))
    sources[key] = {"source": source, "synthetic": synthetic}
    atomic_write(sources_path(store_path), json.dumps(sources, indent=1).encode())


def is_synthetic(store_path: Path, symbol: str, timeframe: str) -> bool:
    """Whether the stored series holds synthetic bars (as far as recorded)."""
    return bool(read_sources(store_path).get(f"{symbol}/{timeframe}", {}).get("synthetic"))

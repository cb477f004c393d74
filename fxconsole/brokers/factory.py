"""Build the live worker's broker from the configuration.

``live.broker = "paper"`` (the default) plays stored bars of ``live.paper_split`` (or
synthetic ones with ``live.paper_source = "synth"``) through :class:`PaperBroker`;
``"oanda"`` trades OANDA v20 with credentials from the environment or the workspace's
``.env`` (imported only when asked for, so paper trading needs neither).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from fxconsole.brokers.base import Broker, instrument_name
from fxconsole.brokers.paper import PaperBroker
from fxconsole.brokers.paper_bars import PaperBars
from fxconsole.config import Config
from fxconsole.market.bars import pip_size
from fxconsole.workspace import Workspace

logger = logging.getLogger(__name__)


def paper_bars(config: Config, workspace: Workspace) -> PaperBars:
    """The bars the paper broker plays (stored bars of the split, or synthetic ones).

    Raises:
        FileNotFoundError: replay without a market store.
        LookupError: replay without stored bars of the symbol and timeframe.
        ValueError: a split without bars.
    """
    live, data = config.live, config.data
    if live.paper_source == "synth":
        return PaperBars.synthetic(data.symbol, data.timeframe, live.history_bars,
                                   config.synth.seed, config.synth.start)
    from fxconsole.market.store import MarketStore

    path = workspace.market_db
    if not path.is_file():
        raise FileNotFoundError(f"no market store at {path} for the paper broker to replay; "
                                "run `fxconsole data synth` or set live.paper_source = "
                                "\"synth\"")
    with MarketStore(path, read_only=True) as store:
        bars = store.load_bars(data.symbol, data.timeframe)
    if bars is None:
        raise LookupError(f"{path}: no bars of {data.symbol} {data.timeframe} to replay")
    return PaperBars.replay(bars, live.paper_split, data.train_fraction,
                            data.validation_fraction, config.synth.seed)


def make_broker(config: Config, workspace: Workspace, conn: sqlite3.Connection, *,
                clock: Callable[[], float] = time.monotonic) -> Broker:
    """The broker of ``live.broker``.

    Args:
        config: the configuration.
        workspace: where the market store and the ``.env`` file are.
        conn: the console database (the paper broker keeps its account there).
        clock: monotonic seconds driving the paper broker's play.

    Raises:
        FileNotFoundError, LookupError, ValueError: the paper broker has nothing to play.
        fxconsole.brokers.base.BrokerError: OANDA credentials or settings are unusable.
    """
    instrument = instrument_name(config.data.symbol)
    if config.live.broker == "paper":
        return PaperBroker(conn, paper_bars(config, workspace), instrument,
                           pip_size(config.data.symbol), config.env.spread_pips,
                           config.live.bars_per_second, clock)
    if config.live.broker == "oanda":
        from fxconsole.brokers.credentials import load_credentials
        from fxconsole.brokers.oanda import OandaBroker

        return OandaBroker(config.oanda, load_credentials(workspace.root))
    raise ValueError(f"unknown live.broker {config.live.broker!r}; allowed: paper, oanda")

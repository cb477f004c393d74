"""Fixtures of the console tests (helpers in ``ui_support.py``).

``async def`` tests run in a fresh event loop each (``asyncio.run``): Textual's Pilot
needs one, and the project has no async pytest plugin.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import T0, Store, fake_probe, fill

from fxconsole.config import Config
from fxconsole.ui.app import FxConsoleApp


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "ws")
    fill(s)
    yield s
    s.conn.close()


@pytest.fixture
def make_app(store: Store) -> Callable[..., FxConsoleApp]:
    def make(**kwargs: Any) -> FxConsoleApp:
        kwargs = {"clock": lambda: T0, "probe": fake_probe, "interval": 0.25, **kwargs}
        return FxConsoleApp(store.ws, Config(), **kwargs)
    return make


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine test function to completion."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True

"""Pytest plugin with a ``fake_moveworks`` fixture: a started :class:`FakeMoveworks`.

Enable it with ``pytest_plugins = ["moveworks_async.testing.pytest_plugin"]`` in the root
``conftest.py``. Configure the server per test with keyword arguments of
:class:`FakeMoveworks`, either with the marker ``@pytest.mark.fake_moveworks(polls_to_complete=1)``
or by indirect parametrization (``parametrize("fake_moveworks", [{...}], indirect=True)``;
the parameter wins over the marker). The fixture is a pytest-asyncio fixture when
pytest-asyncio is installed, else a plain async fixture for anyio's pytest plugin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import pytest

from ._server import FakeMoveworks

__all__ = ["fake_moveworks"]

_F = TypeVar("_F", bound=Callable[..., Any])
_fixture: Callable[[_F], _F]
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the environment
    _fixture = cast("Callable[[_F], _F]", pytest.fixture)
else:
    _fixture = cast("Callable[[_F], _F]", pytest_asyncio.fixture)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_moveworks`` marker."""
    config.addinivalue_line(
        "markers", "fake_moveworks(**kwargs): keyword arguments for the fake_moveworks fixture"
    )


@_fixture
async def fake_moveworks(request: pytest.FixtureRequest) -> AsyncIterator[FakeMoveworks]:
    """Yield a started fake Moveworks server; it is closed after the test."""
    marker = request.node.get_closest_marker("fake_moveworks")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    kwargs.update(getattr(request, "param", {}))
    async with FakeMoveworks(**kwargs) as server:
        yield server

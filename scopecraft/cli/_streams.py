"""Closing the engine's async iterators (log and event streams) when a loop leaves early."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

__all__ = ["closing"]

T = TypeVar("T")


@asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Yield ``stream`` and close it on the way out (``contextlib.aclosing`` for iterators
    typed as ``AsyncIterator``), so a ``break`` or a cancel never leaves a generator open."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()

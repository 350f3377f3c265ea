"""`SyncEngine` is the blocking twin of `Engine`: each of its verbs takes exactly the
arguments the async verb takes (names, kinds, defaults), so code moves between them by
dropping ``await``."""

from __future__ import annotations

import inspect

import pytest

from scopecraft import Engine, SyncEngine

_OWN = {"close", "engine"}
"""What only the twin has: closing its portal, and the engine underneath."""


def _sync_verbs() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(SyncEngine)
        if not name.startswith("_") and name not in _OWN and callable(member)
    )


def _parameters(func: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(func)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


def test_the_twin_has_verbs() -> None:
    """The list below is not empty by accident."""
    assert {"create_session", "wait", "events", "session_logs"} <= set(_sync_verbs())


@pytest.mark.parametrize("name", _sync_verbs())
def test_each_sync_verb_takes_the_async_verbs_arguments(name: str) -> None:
    """Same parameter names, in the same order, of the same kinds, with the same defaults."""
    assert hasattr(Engine, name), f"SyncEngine.{name} has no Engine.{name}"
    assert _parameters(getattr(SyncEngine, name)) == _parameters(getattr(Engine, name))

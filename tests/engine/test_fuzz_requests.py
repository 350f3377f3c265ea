"""Fuzzed requests: whatever the arguments, the engine answers with a ScopecraftError that
says what is wrong, or a session; never another exception, never a half-made session."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import make_repo

import scopecraft
from scopecraft import Engine, PriorityQueuePolicy
from scopecraft.testing import MemoryStorage

# Nothing ever starts: every mode's limit is 0, dispatch sessions are queued too.
_HOLD = PriorityQueuePolicy(
    {"autonomous": 0, "planning": 0, "interactive": 0, "dispatch": 0}, queue_dispatch=True
)

_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfffb", "", " ", "\x00", "../x", "-x", "x" * 300]),
)
_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([math.nan, math.inf, -math.inf, -5, 0, True]),
)
_value = st.one_of(st.none(), _text, _number, st.lists(st.integers(), max_size=2))
_resources = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["cpus", "memory_mb", "pids", "gpus"]), _value, max_size=3),
    _text,
)
_requests = st.fixed_dictionaries(
    {"mode": st.one_of(st.sampled_from(["autonomous", "planning", "dispatch"]), _value)},
    optional={
        "priority": st.one_of(st.sampled_from(["high", "low", "normal"]), _value),
        "branch": st.one_of(st.sampled_from(["feature/x", "refs/heads/x"]), _value),
        "executor": st.one_of(st.just("local"), _value),
        "agent": st.one_of(st.just("fake"), _value),
        "model": _value,
        "image": _value,
        "prompt": _value,
        "resources": _resources,
        "created_by": _value,
        "budget_usd": _value,
        "permissions": st.one_of(st.sampled_from(["read-only", "edit", "full"]), _value),
        "dangerous": st.one_of(st.booleans(), _value),
        "parent_id": _value,
    },
)


@pytest.fixture
def anyio_backend() -> str:
    """One backend is enough for a fuzz run: the code under test is the same."""
    return "asyncio"


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kwargs=_requests, task_id=st.one_of(st.just("ok-01A"), _text), budget=_value)
def test_fuzzed_requests_raise_only_scopecraft_errors(
    tmp_path_factory: pytest.TempPathFactory,
    kwargs: dict[str, Any],
    task_id: Any,
    budget: Any,
) -> None:
    """create_session, set_budget and continue_session with fuzzed arguments either succeed
    or raise a ScopecraftError (its message non-empty); nothing else escapes."""
    global _REPO
    if _REPO is None:
        base = tmp_path_factory.mktemp("fuzz")
        _REPO = (make_repo(base / "src", {"ok-01A": "fake: say hi"}), base / "home")
    repo, home = _REPO

    async def main() -> None:
        async with Engine.open(repo, home=home, storage=MemoryStorage(), policy=_HOLD) as engine:
            session = None
            try:
                session = await engine.create_session(task_id, **kwargs)
            except scopecraft.ScopecraftError as exc:
                assert str(exc)  # noqa: PT017 - a fuzz run cannot know which call raises
                assert await engine.list_sessions(all=True) == []
            target = session.id if session is not None else "ses-nosuchsession"
            for name in ("set_budget", "continue_session"):
                try:
                    await getattr(engine, name)(target, budget)
                except scopecraft.ScopecraftError as exc:
                    assert str(exc)  # noqa: PT017 - a fuzz run cannot know which call raises

    anyio.run(main)


_REPO: tuple[Path, Path] | None = None

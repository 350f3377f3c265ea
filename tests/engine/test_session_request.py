"""One `SessionRequest`: checked once, frozen, submitted by the engine, the sync twin, the CLI
and MCP alike, and read back from the ``session_queued`` event it queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import scopecraft
from scopecraft import Engine, Permissions, Priority, SessionMode, SessionRequest
from scopecraft.events import SessionQueued

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


def test_of_normalises_what_it_is_given() -> None:
    """Names become enums, ``dangerous`` becomes ``permissions='full'``, a planning session
    defaults to read-only, limits keep only what was given."""
    request = SessionRequest.of(
        "ok-01A", mode="autonomous", priority="normal", resources={"cpus": 1.5}, budget_usd=2
    )
    assert request.mode is SessionMode.AUTONOMOUS
    assert request.priority is Priority.MEDIUM
    assert request.permissions is Permissions.EDIT
    assert request.resources == {"cpus": 1.5}
    assert request.limits() == scopecraft.Resources(cpus=1.5)
    assert SessionRequest.of("ok-01A", mode="planning").permissions is Permissions.READ_ONLY
    full = SessionRequest.of("ok-01A", mode="autonomous", dangerous=True)
    assert full.permissions is Permissions.FULL
    assert full.dangerous


def test_a_request_is_frozen() -> None:
    """A checked request cannot be changed afterwards (a copy with changes is checked again
    by making a new one)."""
    request = SessionRequest.of("ok-01A", mode="autonomous")
    with pytest.raises(ValidationError):
        request.agent = "codex"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"mode": "sideways"}, scopecraft.RequestRefused, "unknown mode"),
        ({"mode": "orchestration"}, scopecraft.RequestRefused, "orchestration"),
        ({"mode": "autonomous", "priority": "urgent"}, scopecraft.RequestRefused, "priority"),
        ({"mode": "autonomous", "permissions": "root"}, scopecraft.RequestRefused, "permissions"),
        (
            {"mode": "autonomous", "dangerous": True, "permissions": "edit"},
            scopecraft.RequestRefused,
            "contradicts",
        ),
        ({"mode": "autonomous", "resources": {"gpus": 1}}, scopecraft.RequestRefused, "gpus"),
        ({"mode": "autonomous", "resources": {"cpus": -1}}, scopecraft.RequestRefused, "cpus"),
        ({"mode": "autonomous", "budget_usd": -1}, scopecraft.RequestRefused, "budget_usd"),
        ({"mode": "autonomous", "agent": 3}, scopecraft.RequestRefused, "agent must be a name"),
        ({"mode": "autonomous", "prompt": "\ud800"}, scopecraft.RequestRefused, "Unicode"),
        ({"mode": "autonomous", "branch": "-x"}, scopecraft.InvalidName, "branch"),
        ({"mode": "autonomous", "parent_id": "../up"}, scopecraft.InvalidName, "task id"),
    ],
)
def test_of_refuses_a_bad_request_saying_why(
    arguments: dict[str, Any], error: type[Exception], words: str
) -> None:
    """Every field is checked when the request is made, with the engine's own errors."""
    with pytest.raises(error, match=words):
        SessionRequest.of("ok-01A", **arguments)


def test_of_refuses_a_bad_task_id() -> None:
    """The task id is a validated name before anything reads a file."""
    with pytest.raises(scopecraft.InvalidName):
        SessionRequest.of("$(touch x)", mode="autonomous")


async def test_submit_queues_what_create_session_would(repo: Path, home: Path) -> None:
    """`Engine.submit()` of a request and `create_session()` with the same arguments queue
    the same session; the queued event reads back as the request, its defaults filled in."""
    async with Engine.open(repo, home=home) as engine:
        request = SessionRequest.of("ok-01A", prompt="be brief", **LOCAL)
        submitted = await engine.submit(request)
        created = await engine.create_session("ok-01A", prompt="be brief", **LOCAL)
        keep = {"task_id", "mode", "executor", "agent", "permissions", "priority", "cpus"}
        assert submitted.model_dump(include=keep) == created.model_dump(include=keep)
        found = [e async for e in engine.events(session_id=submitted.id)]
        (queued,) = (e for e in found if isinstance(e, SessionQueued))
        back = SessionRequest.from_queued(queued)
        filled = {"priority", "executor", "created_by", "branch"}
        assert back.model_dump(exclude=filled) == request.model_dump(exclude=filled)
        assert back.priority is not None
        assert back.executor == "local"
        assert back.branch == submitted.branch
        for session in (submitted, created):
            await engine.wait(session.id, timeout=60)


async def test_submit_refuses_what_is_not_a_request(repo: Path, home: Path) -> None:
    """Arguments in a mapping are not a request: the error names the way to make one."""
    async with Engine.open(repo, home=home) as engine:
        with pytest.raises(scopecraft.RequestRefused, match=r"SessionRequest\.of"):
            await engine.submit({"task_id": "ok-01A", **LOCAL})  # type: ignore[arg-type]
        assert await engine.list_sessions(all=True) == []


async def test_queue_status_and_cost_report_are_engine_verbs(repo: Path, home: Path) -> None:
    """The queue as the scheduler sees it and the cost report are asked of the engine (the
    CLI and the MCP server show these)."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("hang-01C", **LOCAL)
        status = await engine.queue_status()
        shown = [e.session.id for e in [*status.queued, *status.active]]
        assert session.id in shown
        report = await engine.cost_report("task")
        assert report.total_usd == 0.0
        await engine.cancel_session(session.id)
        await engine.wait(session.id, timeout=60)


def test_the_sync_twin_submits_a_request(repo: Path, home: Path) -> None:
    """`SyncEngine.submit()` takes the same request; `create_session()` makes one."""
    with scopecraft.connect(repo, home=home) as engine:
        session = engine.submit(SessionRequest.of("ok-01A", **LOCAL))
        assert engine.wait(session.id, timeout=60).status is scopecraft.SessionStatus.COMPLETED
        assert engine.queue_status().queued == []
        assert engine.cost_report().total_usd >= 0.0

"""The projection: one fold for every store, and a fast replay that agrees with it."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from scopecraft import Priority, SessionMode
from scopecraft._projection import PASSIVE_EVENT_TYPES, apply, replay, replay_rows
from scopecraft.events import (
    AgentMessage,
    CostReported,
    Event,
    SessionCompleted,
    SessionQueued,
    SessionStarted,
    SessionStarting,
    ToolUsed,
    parse_event,
)

SID = "ses-projection01"


def _queued() -> SessionQueued:
    return SessionQueued(
        session_id=SID,
        task_id="t-01A",
        mode=SessionMode.AUTONOMOUS,
        priority=Priority.HIGH,
        executor="local",
        agent="fake",
        seq=1,
    )


_PASSIVE_SAMPLES: dict[str, dict[str, object]] = {
    "agent_message": {"text": "hi"},
    "tool_used": {"name": "Bash"},
    "log_line_written": {"task_id": "t-01A", "text": "x"},
    "changes_recorded": {"head": "abc", "committed": True},
    "artifact_stored": {"kind": "plan", "data": {}},
    "queue_depth_reported": {"queued": 1, "running": 0},
    "resource_usage_reported": {},
    "error_occurred": {"where": "x", "message": "y"},
    "feedback_given": {"text": "more"},
    "session_waiting": {"reason": "limit_reached"},
    "task_status_changed": {"task_id": "t-01A", "status": "done"},
    "worktree_setup_ran": {"copied": [".env"]},
}


def _sample(type_name: str) -> Event:
    """A valid event of the given passive type."""
    return parse_event(
        {"type": type_name, "session_id": SID, "seq": 2, **_PASSIVE_SAMPLES[type_name]}
    )


def test_passive_events_change_only_seq_and_time() -> None:
    """Every event type listed as passive changes nothing but ``last_seq`` and ``updated_at``."""
    base = apply(None, _queued())
    for type_name in PASSIVE_EVENT_TYPES:
        after = apply(base, _sample(type_name))
        assert (
            after.model_copy(update={"last_seq": base.last_seq, "updated_at": base.updated_at})
            == base
        )


@settings(max_examples=50, deadline=None)
@given(kinds=st.lists(st.sampled_from(["msg", "tool", "cost"]), max_size=60))
def test_replay_rows_agrees_with_replay(kinds: list[str]) -> None:
    """The fast replay over stored rows gives the same session as folding every event."""
    events: list[Event] = [_queued()]
    seq = 1

    def add(event: Event) -> None:
        events.append(event)

    for kind in ["start", *kinds, "end"]:
        seq += 1
        ts = datetime(2026, 1, 1, tzinfo=UTC).replace(microsecond=seq)
        common = {"session_id": SID, "seq": seq, "ts": ts}
        if kind == "start":
            add(SessionStarting(attempt=1, runtime_name="r", **common))
            seq += 1
            add(SessionStarted(attempt=1, runtime_id="r", session_id=SID, seq=seq, ts=ts))
        elif kind == "msg":
            add(AgentMessage(text=f"m{seq}", **common))
        elif kind == "tool":
            add(ToolUsed(name="Bash", **common))
        elif kind == "cost":
            add(CostReported(usd=0.1, total_usd=0.1 * seq, **common))
        else:
            add(SessionCompleted(attempt=1, **common))
    rows = [(e.type, e.seq, e.ts, e.model_dump_json()) for e in events]
    assert replay_rows(rows) == replay(events)


def test_a_retry_reason_is_cleared_when_the_retry_starts() -> None:
    """``Session.error`` says "retrying after ..." while the retry waits, and nothing once
    the retry's attempt is starting (the reason is history then)."""
    from scopecraft.events import SessionFailed, SessionRetryScheduled

    session = apply(None, _queued())
    for event in (
        SessionStarting(session_id=SID, seq=2, attempt=1, runtime_name="r1"),
        SessionStarted(session_id=SID, seq=3, attempt=1, runtime_id="x"),
        SessionFailed(session_id=SID, seq=4, attempt=1, reason="overloaded", retryable=True),
        SessionRetryScheduled(
            session_id=SID,
            seq=5,
            attempt=2,
            not_before=datetime(2026, 1, 1, tzinfo=UTC),
            reason="retrying after: overloaded",
        ),
    ):
        session = apply(session, event)
    assert session is not None
    assert session.error == "retrying after: overloaded"
    session = apply(session, SessionStarting(session_id=SID, seq=6, attempt=2, runtime_name="r2"))
    assert session is not None
    assert session.error is None

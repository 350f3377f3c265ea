"""Run scopecraft sessions end to end with a real agent CLI: the program the engine-level real
agent tests start inside the loopback-only network namespace (next to the model server).

    python engine_session.py SPEC.json RESULT.json

The spec names the repository, the engine's home and configuration, and the steps: ``create``
(a session, with ``create_session``'s arguments; ``"wait": false`` goes on at once),
``continue`` (feedback for the last session), ``until_log`` (wait until a log line holds the
text, or ``"count"`` lines do: an interactive agent waits for input when its turn ends) and
``cancel`` (``{"wait": true}`` alone waits). After a step the session is waited for (not
after ``until_log`` or a step with ``"wait": false``); the result holds each step's session
projection, events and last log lines.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import scopecraft
from scopecraft.policies import PriorityQueuePolicy, RetryRules


def main(spec_path: str, result_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    results: list[dict[str, Any]] = []
    retries = RetryRules(base_delay=float(spec.get("retry_delay", 0.2)), jitter=0.0)
    with scopecraft.connect(
        spec["repo"],
        home=spec["home"],
        config=spec.get("config") or {},
        forward_env=spec.get("forward_env") or (),
        policy=PriorityQueuePolicy(retries=retries),
    ) as engine:
        session_id: str | None = None
        for step in spec["steps"]:
            if "create" in step:
                session_id = engine.create_session(**step["create"]).id
            elif session_id is None:
                raise SystemExit(f"{step} before create")
            elif "continue" in step:
                engine.continue_session(session_id, step["continue"])
            elif "until_log" in step:
                # An interactive agent waits for input when its turn ends: wait for the line
                # that says so, then go on while it still runs.
                _until_log(
                    engine,
                    session_id,
                    step["until_log"],
                    float(spec.get("timeout", 90)),
                    count=int(step.get("count", 1)),
                )
            elif "cancel" in step:
                engine.cancel_session(session_id)
            if step.get("wait") is False or "until_log" in step:
                session = engine.get_session(session_id)
            else:
                session = engine.wait(session_id, timeout=float(spec.get("timeout", 90)))
            events = engine.events(session_id=session_id)
            logs = engine.session_logs(session_id)
            results.append(
                {
                    "session": session.model_dump(mode="json"),
                    "events": [e.model_dump(mode="json") for e in events],
                    "logs": [f"{line.stream}: {line.text}" for line in logs][-200:],
                }
            )
    Path(result_path).write_text(json.dumps(results))
    return 0


def _until_log(engine: Any, session_id: str, text: str, timeout: float, *, count: int) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        engine.refresh()
        if sum(text in line.text for line in engine.session_logs(session_id)) >= count:
            return
        session = engine.get_session(session_id)
        if session.is_terminal:
            raise SystemExit(
                f"the session ended ({session.status.value}: {session.error}) before its log "
                f"said {text!r}"
            )
        time.sleep(0.3)
    tail = [f"{line.stream}: {line.text}" for line in engine.session_logs(session_id)][-40:]
    engine.cancel_session(session_id)
    raise SystemExit(
        f"the session's log did not say {text!r} {count} time(s) within {timeout} s; "
        "it ends:\n" + "\n".join(tail)
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

"""Run scopecraft sessions end to end with a real agent CLI: the program the engine-level real
agent tests start inside the loopback-only network namespace (next to the model server).

    python engine_session.py SPEC.json RESULT.json

The spec names the repository, the engine's home and configuration, and the steps: ``create``
(a session, with ``create_session``'s arguments) and ``continue`` (feedback for the last
session). After each step the session is waited for; the result holds each session's
projection and events.
"""

from __future__ import annotations

import json
import sys
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
            else:
                assert session_id is not None, "continue before create"
                engine.continue_session(session_id, step["continue"])
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

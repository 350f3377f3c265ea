"""A separate process for the multi-process SQLite tests (run as a script, not collected).

``python _sqlite_worker.py write DB INDEX ROUNDS GO_FILE``: waits for GO_FILE, opens the store,
creates its own session and tries to create the shared one, then appends ROUNDS events and
batches of log lines to each. Prints ``{"store_id": ...}``.

``python _sqlite_worker.py lease DB HOLDER SECONDS GO_FILE``: competes for one lease for
SECONDS and prints the wall-clock intervals in which it surely held it.

Any error ends the process with a traceback and a non-zero exit code.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import time
from pathlib import Path

import anyio

from scopecraft._errors import DuplicateSession
from scopecraft._models import utcnow
from scopecraft.events import AgentMessage
from scopecraft.storage import LogLine, SqliteStorage
from scopecraft.testing.contracts.storage import queued_event

SHARED = "ses-shared"
LINES_PER_BATCH = 5
LEASE = "scheduler"
LEASE_TTL = 0.2
CLOCK_MARGIN = 0.002  # SQLite reads the clock in whole milliseconds


def _wait_for(go: Path) -> None:
    # Before the event loop starts: every worker then opens the store at about the same time.
    while not go.exists():
        time.sleep(0.005)


def _lines(prefix: str) -> list[LogLine]:
    return [
        LogLine(stream="stdout", text=f"{prefix}/{n}", ts=utcnow()) for n in range(LINES_PER_BATCH)
    ]


async def write(db: Path, index: int, rounds: int) -> None:
    """Append events and log lines to an own and a shared session."""
    own = f"ses-worker{index}"
    async with SqliteStorage(db, busy_timeout=5.0) as store:
        await store.append(own, [queued_event(own)])
        with contextlib.suppress(DuplicateSession):
            await store.append(SHARED, [queued_event(SHARED)])
        for r in range(rounds):
            text = f"w{index}-r{r}"
            await store.append(own, [AgentMessage(session_id=own, text=text)], _lines(text))
            await store.append(SHARED, [AgentMessage(session_id=SHARED, text=text)], _lines(text))
        print(json.dumps({"store_id": store.store_id}))


async def lease(db: Path, holder: str, seconds: float) -> None:
    """Compete for a lease; record the windows in which this process surely held it.

    A window opens when an acquire succeeds and closes at the latest ``ttl`` after the start
    of the last successful call (less the database clock's millisecond resolution), or when
    the process releases the lease or fails to renew it.
    """
    held: list[list[float]] = []
    window: list[float] | None = None
    async with SqliteStorage(db, busy_timeout=5.0) as store:
        deadline = time.time() + seconds
        streak = 0
        while time.time() < deadline:
            before = time.time()
            if not await store.acquire_lease(LEASE, holder, LEASE_TTL):
                if window is not None:
                    held.append(window)
                    window = None
                await anyio.sleep(random.uniform(0.0, 0.02))
                continue
            end = before + LEASE_TTL - CLOCK_MARGIN
            if window is None:
                window = [time.time(), end]
            window[1] = max(window[1], end)
            named = await store.lease_holder(LEASE)
            # Answered before `end`, so the database read it while this lease was valid.
            if time.time() < end and named != holder:
                raise AssertionError(f"{holder} holds the lease but {named!r} is named")
            streak += 1
            if streak % 3 == 0:
                window[1] = min(window[1], time.time())
                held.append(window)
                window = None
                await store.release_lease(LEASE, holder)
                await anyio.sleep(0.05)
            else:
                await anyio.sleep(random.uniform(0.0, 0.02))
        if window is not None:
            held.append(window)
    print(json.dumps({"held": held}))


def main(argv: list[str]) -> None:
    """Run the mode named by the first argument."""
    mode, db = argv[0], Path(argv[1])
    _wait_for(Path(argv[4]))
    if mode == "write":
        anyio.run(write, db, int(argv[2]), int(argv[3]))
    elif mode == "lease":
        anyio.run(lease, db, argv[2], float(argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])

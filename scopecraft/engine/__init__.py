"""The engine: one facade, `Engine`, over narrow components.

`Engine` holds the user verbs (create, dispatch, wait, cancel, continue, ...) and delegates
each to a component; every component receives a small `Context` and the few others it
needs, never the engine:

- `Requests` checks a `SessionRequest` against this engine and queues it;
- `Journal` is the only writer to the store: redaction, running cost totals, wake-ups, the
  scheduler's queue index;
- `Scheduler` holds the scheduler lease and starts what the queue policy allows;
- `AttemptRunner` launches an attempt, supervises its runtime and finalizes it;
- `Costs` sums costs by scope and applies the policy's budgets;
- `Runtimes` names attempts' runtimes and folders, and stops them;
- `Tasks` finds the repository's tasks.

`docs/architecture.md` follows one session through them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._facade import Engine
    from ._requests import SessionRequest

__all__ = ["Engine", "SessionRequest"]

_WHERE = {"Engine": "._facade", "SessionRequest": "._requests"}


def __getattr__(name: str) -> Any:
    """Import on first use: importing a component does not load the whole engine."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = vars(importlib.import_module(module, __name__))[name]
    globals()[name] = value
    return value

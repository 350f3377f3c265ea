"""The public surface: ``__all__`` matches what the package exports, and stays importable."""

from __future__ import annotations

import subprocess
import sys
import types

import scopecraft


def test_all_matches_public_names() -> None:
    """Every name in ``__all__`` resolves, and every public attribute is in ``__all__``."""
    for name in scopecraft.__all__:
        assert getattr(scopecraft, name) is not None, name
    public = {
        n
        for n in dir(scopecraft)
        if not n.startswith("_") and not isinstance(getattr(scopecraft, n), types.ModuleType)
    }
    helpers = {"annotations", "TYPE_CHECKING", "Any"}
    assert public - helpers == set(scopecraft.__all__) - {"__version__"}


def test_design_names_are_exported() -> None:
    """The names DESIGN.md promises are all in ``__all__``."""
    promised = {
        "Engine",
        "connect",
        "Session",
        "Task",
        "LogEntry",
        "SessionMode",
        "SessionStatus",
        "Priority",
        "PriorityQueuePolicy",
        "ScopecraftError",
        "SessionTimeout",
        "TaskNotFound",
        "InvalidName",
    }
    assert promised <= set(scopecraft.__all__)


def test_errors_form_one_tree() -> None:
    """Every exported exception derives from ScopecraftError, and leaves keep their builtin."""
    for name in scopecraft.__all__:
        obj = getattr(scopecraft, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, scopecraft.ScopecraftError), name
    assert issubclass(scopecraft.SessionTimeout, TimeoutError)
    assert issubclass(scopecraft.TaskNotFound, LookupError)
    assert issubclass(scopecraft.InvalidName, ValueError)


def test_import_is_light() -> None:
    """``import scopecraft`` loads no backend (docker, libtmux, pygit2) and no engine."""
    code = (
        "import sys, scopecraft; "
        "names = ('docker', 'libtmux', 'pygit2', 'scopecraft.engine._facade'); "
        "heavy = [m for m in names if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_enums_and_priority_aliases() -> None:
    """Five modes, eight statuses, four priorities; ``normal`` means medium, any case."""
    assert len(scopecraft.SessionMode) == 5
    assert len(scopecraft.SessionStatus) == 8
    assert [p.value for p in scopecraft.Priority] == ["highest", "high", "medium", "low"]
    assert scopecraft.Priority("normal") is scopecraft.Priority.MEDIUM
    assert scopecraft.Priority("HIGH") is scopecraft.Priority.HIGH


def test_events_have_a_public_module() -> None:
    """`scopecraft.events` is where every event class, the `Event` union and the readers
    live, the same objects the engine emits and `scopecraft` itself has no copy of."""
    import scopecraft.events as events

    for name in events.__all__:
        value = getattr(events, name)
        if isinstance(value, type):
            assert value.__module__ == "scopecraft.events", name
    started = {"type": "session_started", "session_id": "s", "attempt": 1, "runtime_id": "r"}
    assert isinstance(events.parse_event(started), events.SessionStarted)

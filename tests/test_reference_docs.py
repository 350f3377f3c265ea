"""The API reference (docs/reference.md) lists every verb a user can call on the engine."""

from __future__ import annotations

import re
from pathlib import Path

import scopecraft

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def _documented_engine_members() -> set[str]:
    text = REFERENCE.read_text(encoding="utf-8")
    block = text.split("::: scopecraft.Engine\n", 1)[1].split("\n::: ", 1)[0]
    listed = block.split("members:\n", 1)[1]
    return set(re.findall(r"^\s+- (\w+)$", listed, flags=re.MULTILINE))


def test_every_sync_verb_is_documented_on_the_engine() -> None:
    """Each public method of `SyncEngine` (the blocking twin of every user verb) is among the
    Engine members the reference shows, and each listed member exists on `Engine`."""
    documented = _documented_engine_members()
    sync_verbs = {
        name
        for name in dir(scopecraft.SyncEngine)
        if not name.startswith("_") and name not in {"close", "engine"}
    }
    assert sync_verbs <= documented, sorted(sync_verbs - documented)
    missing = {name for name in documented if not hasattr(scopecraft.Engine, name)}
    assert not missing, sorted(missing)


def test_internal_engine_helpers_are_not_documented() -> None:
    """Helpers the engine's own parts call (append, folded, binding_for, ...) are not shown as
    user API."""
    documented = _documented_engine_members()
    for internal in ("append", "folded", "binding_for", "load_session_secrets", "wake_event"):
        assert internal not in documented

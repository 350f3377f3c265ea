"""Scopecraft's own 264 real task files, read in place: every one loads and round-trips."""

from __future__ import annotations

import difflib
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from scopecraft._models import Priority
from scopecraft.tasks import (
    TaskStatus,
    TaskStore,
    TaskType,
    parse_document,
    read_document,
    update_task_file,
)

REAL_FILE_COUNT = 264
ROUND_TRIP_IDENTICAL_AT_LEAST = 264
"""Measured: all 264 files render back to identical bytes (parse, then render in order)."""

NOW = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.md") if p.is_file())


def test_every_real_file_loads(real_tasks: Path) -> None:
    """All 264 files are valid tasks: none is reported by check_tasks."""
    assert len(_files(real_tasks)) == REAL_FILE_COUNT
    store = TaskStore(real_tasks)
    assert store.check_tasks() == []
    tasks = store.list_tasks()
    assert len(tasks) == REAL_FILE_COUNT
    assert {task.path for task in tasks} == set(_files(real_tasks))


def test_real_values_normalise_to_canonical_ones(real_tasks: Path) -> None:
    """To Do, Done, 🟡 To Do, Progress, 🐞 Bug, ▶️ Medium ... all map to canonical values."""
    tasks = TaskStore(real_tasks).list_tasks()
    assert {task.status for task in tasks} <= set(TaskStatus)
    assert {task.type for task in tasks} <= set(TaskType)
    assert Counter(task.priority for task in tasks)[Priority.MEDIUM] > 0
    raw_statuses = {str(read_document(task.path).front_matter["status"]) for task in tasks}
    assert {"To Do", "Done", "In Progress", "🟡 To Do", "Progress"} <= raw_statuses


def test_real_files_round_trip_byte_for_byte(
    real_tasks: Path, record_property: Callable[[str, object], None]
) -> None:
    """Parsing and rendering in the original order gives back identical bytes."""
    identical = [
        path
        for path in _files(real_tasks)
        if parse_document(path.read_bytes().decode("utf-8")).render(original_order=True).encode()
        == path.read_bytes()
    ]
    record_property("round_trip_identical", len(identical))
    print(f"byte-for-byte round trips: {len(identical)}/{REAL_FILE_COUNT}")
    assert len(identical) >= ROUND_TRIP_IDENTICAL_AT_LEAST


def test_real_identities_follow_scopecraft_resolution(real_tasks: Path) -> None:
    """Legacy names, NN- prefixes, stray overviews and duplicate ids get sensible identities."""
    store = TaskStore(real_tasks)
    assert store.get_task("add-tags-supp-to-core-v2-typs-05A").location == "current"
    stray = store.get_task("current")
    assert (stray.is_parent, stray.parent_id) == (False, None)
    legacy = store.get_task("03-ui-update")
    assert (legacy.parent_id, legacy.sequence) == ("implement-v2-structure", 3)
    assert {t.id for t in store.parallel_group("implement-v2-structure", 3)} == {
        "03-ui-update",
        "03_mcp-update",
        "03_ui-update",
    }
    otel = store.overview("otel-event-sourcing")
    assert otel is not None
    assert otel.instruction.startswith("## Problem Statement")
    loose = store.get_task("07_anal-and-fix-ci-of-ci-05R")
    assert (loose.location, loose.parent_id, loose.sequence) == ("current", None, None)


def test_status_and_log_updates_change_only_those_lines(tmp_path: Path, real_tasks: Path) -> None:
    """On a copy of every real file, an update changes the status line and adds one log line.

    Front-matter-first files are rewritten title-first, with the same content.
    """
    copy = tmp_path / ".tasks"
    shutil.copytree(real_tasks, copy)
    for path in _files(copy):
        before = path.read_text(encoding="utf-8")
        document = parse_document(before)
        update_task_file(path, status="blocked", log="Waiting on review", now=NOW)
        after = path.read_text(encoding="utf-8")
        entry = "- 2025-07-01 12:30: Waiting on review"
        again = parse_document(after)
        assert again.status == "blocked"
        assert again.section_text("Log").endswith(entry)
        if document.front_matter_first:
            assert again.title == document.title
            assert {k: v for k, v in again.front_matter.items() if k != "status"} == {
                k: v for k, v in document.front_matter.items() if k != "status"
            }
            continue
        old, new = before.splitlines(), after.splitlines()
        changes = [
            (tag, old[i1:i2], new[j1:j2])
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
                None, old, new, autojunk=False
            ).get_opcodes()
            if tag != "equal"
        ]
        status_change = [c for c in changes if any(line.startswith("status:") for line in c[1])]
        assert len(status_change) == 1, path
        assert status_change[0][2] == ["status: blocked"], path
        other = [c for c in changes if c not in status_change]
        added = [line for _, _, lines in other for line in lines]
        removed = [line for _, lines, _ in other for line in lines]
        assert entry in added, path
        assert set(added) - {entry} <= {"", "## Log"}, path
        assert not [line for line in removed if line.strip()], path

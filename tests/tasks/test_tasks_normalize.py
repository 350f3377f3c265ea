"""Normalisation of the statuses, types, priorities and tags people write by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scopecraft._models import Priority
from scopecraft.tasks import (
    TaskStatus,
    TaskType,
    normalize_priority,
    normalize_status,
    normalize_tags,
    normalize_type,
)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("todo", "todo"),
        ("To Do", "todo"),
        ("TO DO", "todo"),
        ("to-do", "todo"),
        ("🟡 To Do", "todo"),
        ("🟡", "todo"),
        ("in_progress", "in_progress"),
        ("In Progress", "in_progress"),
        ("🔵 In Progress", "in_progress"),
        ("in-progress", "in_progress"),
        ("Progress", "in_progress"),
        ("Done", "done"),
        ("✅ Done", "done"),
        ("🟢 Done", "done"),
        ("completed", "done"),
        ("🔴 Blocked", "blocked"),
        ("on hold", "blocked"),
        ("Reviewing", "reviewing"),
        ("In Review", "reviewing"),
        ("⚪ Archived", "archived"),
        ("  done  ", "done"),
    ],
)
def test_status_spellings_map_to_canonical_values(written: str, canonical: str) -> None:
    """Every spelling Scopecraft has used (any case, emoji prefixes) gives its snake_case value."""
    assert normalize_status(written) == canonical
    assert canonical in set(TaskStatus)


def test_unknown_status_is_kept_in_snake_case_not_guessed() -> None:
    """An unknown status is not forced to todo: its words are kept, in snake_case."""
    assert normalize_status("Waiting on QA") == "waiting_on_qa"
    assert normalize_status("renewed") == "renewed"
    assert normalize_status("Terminé") == "terminé"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("feature", TaskType.FEATURE),
        ("🌟 Feature", TaskType.FEATURE),
        ("🐞 Bug", TaskType.BUG),
        ("🐛 Bug", TaskType.BUG),
        ("BUG", TaskType.BUG),
        ("Chore", TaskType.CHORE),
        ("docs", TaskType.DOCUMENTATION),
        ("📚", TaskType.DOCUMENTATION),
        ("Spike", TaskType.SPIKE),
        ("💡 Idea", TaskType.IDEA),
        ("Tech Debt", "tech_debt"),
    ],
)
def test_type_spellings_map_to_canonical_values(written: str, canonical: str) -> None:
    """Types lose emoji and case; an unknown type keeps its words in snake_case."""
    assert normalize_type(written) == canonical


@pytest.mark.parametrize(
    ("written", "priority"),
    [
        (None, Priority.MEDIUM),
        ("", Priority.MEDIUM),
        ("normal", Priority.MEDIUM),
        ("Normal", Priority.MEDIUM),
        ("▶️ Medium", Priority.MEDIUM),
        ("▶️", Priority.MEDIUM),
        ("🔼 High", Priority.HIGH),
        ("High", Priority.HIGH),
        ("🔥 Highest", Priority.HIGHEST),
        ("critical", Priority.HIGHEST),
        ("🔽 Low", Priority.LOW),
        ("whenever", Priority.MEDIUM),
        (3, Priority.MEDIUM),
    ],
)
def test_priority_spellings_map_to_the_enum(written: object, priority: Priority) -> None:
    """Priorities map to the Priority enum; missing, empty or unknown ones are medium."""
    assert normalize_priority(written) is priority


@pytest.mark.parametrize(
    ("written", "tags"),
    [
        (None, ()),
        ("solo", ("solo",)),
        (["a", "team:ux", None, "", 3], ("a", "team:ux", "3")),
        (("x",), ("x",)),
    ],
)
def test_tags_become_a_tuple_of_strings(written: object, tags: tuple[str, ...]) -> None:
    """Tags are a tuple of non-empty strings; a single string is one tag, as Scopecraft reads."""
    assert normalize_tags(written) == tags


@given(st.text(max_size=40))
def test_property_normalisation_never_fails_and_is_idempotent(text: str) -> None:
    """Any text normalises without error, and normalising a normalised value changes nothing."""
    for normalize in (normalize_status, normalize_type):
        once = normalize(text)
        assert normalize(once) == once
    assert isinstance(normalize_priority(text), Priority)

"""Canonical values for the front-matter fields people write by hand.

Scopecraft files carry the same status in many spellings: ``todo``, ``To Do``, ``🟡 To Do``,
``TODO``. Its current metadata schema names the canonical values in snake_case (``todo``,
``in_progress``, ``done``, ``blocked``, ``reviewing``, ``archived``; types ``feature``, ``bug``,
``chore``, ``documentation``, ``test``, ``spike``, ``idea``; priorities ``highest`` to ``low``)
and shows an emoji and a label beside each. The functions here map any of those spellings to the
canonical value. They never touch a file: normalisation is for the `Task`
model, and a file keeps what it says until the engine writes a new status.

Matching is by whole words after the emoji and separators are removed, never by substring, so an
unknown value is kept (in snake_case) rather than guessed at.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TypeVar

from scopecraft._models import Priority

__all__ = [
    "TaskStatus",
    "TaskType",
    "normalize_priority",
    "normalize_status",
    "normalize_tags",
    "normalize_type",
]


class TaskStatus(enum.StrEnum):
    """Scopecraft's canonical task statuses (a task's own status, not a session's)."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"
    REVIEWING = "reviewing"
    ARCHIVED = "archived"


class TaskType(enum.StrEnum):
    """Scopecraft's canonical task types."""

    FEATURE = "feature"
    BUG = "bug"
    CHORE = "chore"
    DOCUMENTATION = "documentation"
    TEST = "test"
    SPIKE = "spike"
    IDEA = "idea"


# Spellings seen in Scopecraft's history and its schema's labels, keyed by their snake_case form.
# "progress" is what an old emoji-stripping bug left in real files ("🔵 In Progress" -> "Progress").
_STATUS_ALIASES: Mapping[str, TaskStatus] = {
    "todo": TaskStatus.TODO,
    "to_do": TaskStatus.TODO,
    "open": TaskStatus.TODO,
    "new": TaskStatus.TODO,
    "pending": TaskStatus.TODO,
    "not_started": TaskStatus.TODO,
    "in_progress": TaskStatus.IN_PROGRESS,
    "inprogress": TaskStatus.IN_PROGRESS,
    "progress": TaskStatus.IN_PROGRESS,
    "doing": TaskStatus.IN_PROGRESS,
    "started": TaskStatus.IN_PROGRESS,
    "ongoing": TaskStatus.IN_PROGRESS,
    "wip": TaskStatus.IN_PROGRESS,
    "active": TaskStatus.IN_PROGRESS,
    "done": TaskStatus.DONE,
    "complete": TaskStatus.DONE,
    "completed": TaskStatus.DONE,
    "finished": TaskStatus.DONE,
    "closed": TaskStatus.DONE,
    "resolved": TaskStatus.DONE,
    "blocked": TaskStatus.BLOCKED,
    "on_hold": TaskStatus.BLOCKED,
    "waiting": TaskStatus.BLOCKED,
    "review": TaskStatus.REVIEWING,
    "reviewing": TaskStatus.REVIEWING,
    "in_review": TaskStatus.REVIEWING,
    "archived": TaskStatus.ARCHIVED,
    "archive": TaskStatus.ARCHIVED,
}

_STATUS_EMOJI: Mapping[str, TaskStatus] = {
    "🟡": TaskStatus.TODO,
    "🔵": TaskStatus.IN_PROGRESS,
    "🟢": TaskStatus.DONE,
    "✅": TaskStatus.DONE,
    "🔴": TaskStatus.BLOCKED,
    "🟣": TaskStatus.REVIEWING,
    "⚪": TaskStatus.ARCHIVED,
}

_TYPE_ALIASES: Mapping[str, TaskType] = {
    **{member.value: member for member in TaskType},
    "docs": TaskType.DOCUMENTATION,
    "doc": TaskType.DOCUMENTATION,
    "tests": TaskType.TEST,
}

_TYPE_EMOJI: Mapping[str, TaskType] = {
    "🌟": TaskType.FEATURE,
    "🐛": TaskType.BUG,
    "🐞": TaskType.BUG,
    "🔧": TaskType.CHORE,
    "📚": TaskType.DOCUMENTATION,
    "🧪": TaskType.TEST,
    "🔍": TaskType.SPIKE,
    "💡": TaskType.IDEA,
}

_PRIORITY_ALIASES: Mapping[str, Priority] = {
    "highest": Priority.HIGHEST,
    "critical": Priority.HIGHEST,
    "urgent": Priority.HIGHEST,
    "high": Priority.HIGH,
    "important": Priority.HIGH,
    "medium": Priority.MEDIUM,
    "normal": Priority.MEDIUM,
    "med": Priority.MEDIUM,
    "default": Priority.MEDIUM,
    "low": Priority.LOW,
    "lowest": Priority.LOW,
    "minor": Priority.LOW,
}

_PRIORITY_EMOJI: Mapping[str, Priority] = {
    "🔥": Priority.HIGHEST,
    "🔼": Priority.HIGH,
    "▶": Priority.MEDIUM,
    "🔽": Priority.LOW,
}

_SEPARATORS = re.compile(r"[\W_]+")

_T = TypeVar("_T")


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _split_decoration(value: str) -> tuple[str, str]:
    """Split ``"🟡 To Do"`` into its decoration (``"🟡"``) and its words (``"To Do"``).

    Leading and trailing characters that are neither letters nor digits (emoji, variation
    selectors, joiners, spaces, punctuation) are the decoration.
    """
    text = value.strip()
    start = 0
    while start < len(text) and not _is_word_char(text[start]):
        start += 1
    end = len(text)
    while end > start and not _is_word_char(text[end - 1]):
        end -= 1
    decoration = (text[:start] + text[end:]).strip()
    return decoration, text[start:end]


def _snake(words: str) -> str:
    return _SEPARATORS.sub("_", words.casefold()).strip("_")


def _emoji_key(decoration: str) -> str:
    # Drop variation selectors, joiners and spaces so "▶️" and "▶" are the same key.
    return "".join(c for c in decoration if unicodedata.category(c) not in ("Mn", "Cf", "Zs"))


def _lookup(value: object, aliases: Mapping[str, _T], emoji: Mapping[str, _T]) -> _T | str:
    decoration, words = _split_decoration(str(value))
    key = _snake(words)
    if key in aliases:
        return aliases[key]
    if not key:
        symbol = _emoji_key(decoration)
        for mark, member in emoji.items():
            if symbol.startswith(mark):
                return member
    return key or str(value).strip()


def normalize_status(value: object) -> str:
    """Return the canonical snake_case form of a task status.

    ``To Do``, ``todo``, ``🟡 To Do`` and ``TODO`` give ``todo``; ``In Progress`` and
    ``🔵 In Progress`` give ``in_progress``; ``Done`` and ``✅ Done`` give ``done``. An unknown
    status keeps its words in snake_case (``"Waiting on QA"`` gives ``waiting_on_qa``).

    Args:
        value: The status as written in the front matter.

    Returns:
        A `TaskStatus` value, or the snake_case form of an unknown status.
    """
    return str(_lookup(value, _STATUS_ALIASES, _STATUS_EMOJI))


def normalize_type(value: object) -> str:
    """Return the canonical snake_case form of a task type.

    ``Feature``, ``🌟 Feature`` and ``feature`` give ``feature``; ``🐞 Bug`` gives ``bug``;
    ``docs`` gives ``documentation``. An unknown type keeps its words in snake_case.

    Args:
        value: The type as written in the front matter.

    Returns:
        A `TaskType` value, or the snake_case form of an unknown type.
    """
    return str(_lookup(value, _TYPE_ALIASES, _TYPE_EMOJI))


def normalize_priority(value: object) -> Priority:
    """Return the `Priority` a front-matter value stands for.

    ``High``, ``🔼 High`` and ``high`` give ``high``; ``normal`` gives ``medium``. A missing,
    empty or unknown priority is ``medium``, Scopecraft's default.

    Args:
        value: The priority as written in the front matter, or ``None`` when absent.

    Returns:
        The priority.
    """
    if value is None:
        return Priority.MEDIUM
    found = _lookup(value, _PRIORITY_ALIASES, _PRIORITY_EMOJI)
    return found if isinstance(found, Priority) else Priority.MEDIUM


def normalize_tags(value: object) -> tuple[str, ...]:
    """Return front-matter tags as a tuple of strings.

    A list gives its items as strings (empty and null items dropped); a single string gives a
    one-item tuple, as Scopecraft reads it; a missing value gives ``()``.

    Args:
        value: The ``tags`` value from the front matter.

    Returns:
        The tags, in their written order.
    """
    if value is None:
        return ()
    items: Iterable[object] = value if isinstance(value, list | tuple) else (value,)
    tags = (str(item).strip() for item in items if item is not None)
    return tuple(tag for tag in tags if tag)

"""Plans from planning sessions: the schema, extraction from agent output, and subtask files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._errors import ScopecraftError
from ._models import Task

__all__ = ["Plan", "PlanInvalid", "PlannedSubtask", "extract_plan", "write_plan"]

_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)```", re.S)


class PlanInvalid(ScopecraftError, ValueError):
    """The agent's output holds no plan that matches the schema; says what is wrong."""


class PlannedSubtask(BaseModel):
    """One subtask of a plan."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str = Field(min_length=1, max_length=200, description="A short imperative title.")
    sequence: int = Field(ge=1, le=99, description="Order; equal numbers may run in parallel.")
    instruction: str = Field(min_length=1, description="What to do and how to check it.")
    type: str = Field(default="feature", description="Scopecraft task type.")
    area: str | None = Field(default=None, description="Area; default the parent's.")


class Plan(BaseModel):
    """A validated plan: subtasks with titles, sequence numbers and instructions."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    subtasks: list[PlannedSubtask] = Field(min_length=1, max_length=50)
    summary: str = ""


def _candidates(text: str) -> list[str]:
    found = [m.group(1) for m in _FENCED.finditer(text)]
    start = text.find("{")
    end = text.rfind("}")
    if start >= 0 and end > start:
        found.append(text[start : end + 1])
    return found


def extract_plan(texts: Iterable[str]) -> Plan:
    """Find the last valid plan in the agent's texts (its messages, then its final result).

    Raises:
        PlanInvalid: no JSON object in the texts validates; the message says why.
    """
    problems: list[str] = []
    for text in reversed(list(texts)):
        for candidate in reversed(_candidates(text)):
            try:
                data = json.loads(candidate)
            except json.JSONDecodeError as exc:
                problems.append(f"not JSON ({exc.msg} at line {exc.lineno})")
                continue
            try:
                return Plan.model_validate(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "the object"
                problems.append(f"{where}: {first['msg']}")
    if not problems:
        raise PlanInvalid("the answer holds no JSON object with a `subtasks` list")
    raise PlanInvalid("the plan does not validate: " + problems[0])


def write_plan(plan: Plan, task: Task, tasks_root: Path) -> list[Task]:
    """Write the plan's subtasks as Scopecraft subtask files of ``task`` under ``tasks_root``.

    A plain task file becomes a parent folder (its text kept as ``_overview.md``) first.

    Returns:
        The subtasks written, in order.

    Raises:
        TaskError: the files could not be written.
    """
    from .tasks import TaskStore, name_from_title, new_task_document

    store = TaskStore(tasks_root)
    parent = store.get_task(task.id)
    if not parent.is_parent:
        folder = parent.path.parent / parent.id
        folder.mkdir()
        parent.path.rename(folder / "_overview.md")
    written: list[Task] = []
    for item in sorted(plan.subtasks, key=lambda s: s.sequence):
        document = new_task_document(
            item.title,
            type=item.type,
            area=item.area or task.area,
            instruction=item.instruction,
        )
        name = name_from_title(item.title) or "subtask"
        written.append(
            store.create_task(document, name=name, parent_id=task.id, sequence=item.sequence)
        )
    return written

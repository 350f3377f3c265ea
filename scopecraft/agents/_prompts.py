"""Prompts: a task and a template per session mode, overridable per repository.

A template is Markdown with `string.Template` placeholders (``$name`` or ``${name}``),
filled with `safe_substitute()`, so an unknown ``$word`` stays as it is.
The built-in templates ship in ``scopecraft/agents/templates/<mode>.md``; a repository can
replace one with ``<repo root>/.scopecraft/prompts/<mode>.md``.

Placeholders:

``$mode``, ``$task_id``, ``$title``, ``$type``, ``$status``, ``$area``, ``$priority``
    the task's fields;
``$instruction``, ``$tasks``, ``$deliverable``
    the task's sections, verbatim (empty when missing);
``$instruction_section``, ``$tasks_section``, ``$deliverable_section``
    the same under their ``## `` heading followed by a blank line, or empty when missing;
``$overview_id``, ``$overview_title``, ``$overview_instruction``
    the parent task's, for a subtask (empty otherwise);
``$overview_section``
    the parent's title and instruction as context (its instruction quoted with ``> ``, so
    that lines meant for the parent's own run, such as the fake agent's ``fake:`` lines, are
    not taken as the subtask's), or empty.

The task's instruction always reaches the prompt verbatim: when a template does not place it,
it is appended under ``## Instruction``. An explicit prompt (``extra``) is appended last.
"""

from __future__ import annotations

import importlib.resources
import string
from pathlib import Path

from scopecraft._errors import AgentError
from scopecraft._models import SessionMode, Task

__all__ = ["build_prompt", "load_template"]


def load_template(mode: SessionMode | str, repo_root: Path | None = None) -> str:
    """Return the template for ``mode``: the repository's override if any, else the built-in.

    Args:
        mode: The session mode.
        repo_root: The repository whose ``.scopecraft/prompts/<mode>.md`` overrides it.

    Raises:
        AgentError: the mode is unknown, or the override lies outside the repository
            (a symbolic link out of it) or cannot be read.
    """
    try:
        mode = SessionMode(mode)
    except ValueError as exc:
        raise AgentError(f"no prompt template for unknown mode {mode!r}") from exc
    if repo_root is not None:
        root = Path(repo_root).resolve()
        override = root / ".scopecraft" / "prompts" / f"{mode.value}.md"
        if override.is_file():
            resolved = override.resolve()
            if not resolved.is_relative_to(root):
                raise AgentError(
                    f"prompt template {override} points outside the repository ({resolved}); "
                    "keep overrides inside the repository"
                )
            try:
                return resolved.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AgentError(f"cannot read prompt template {override}: {exc}") from exc
    resource = importlib.resources.files("scopecraft.agents") / "templates" / f"{mode.value}.md"
    return resource.read_text(encoding="utf-8")


def _section(heading: str, body: str) -> str:
    body = body.strip("\n")
    return f"## {heading}\n\n{body}\n\n" if body.strip() else ""


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip("\n").splitlines())


def build_prompt(
    task: Task,
    *,
    mode: SessionMode,
    overview: Task | None = None,
    repo_root: Path | None = None,
    extra: str | None = None,
) -> str:
    """Build the prompt of a session on ``task``.

    Args:
        task: The task to work on.
        mode: The session mode, which picks the template.
        overview: The parent task (its ``_overview.md``) when ``task`` is a subtask.
        repo_root: The repository, for a template override in ``.scopecraft/prompts/``.
        extra: An explicit prompt from the user, appended at the end.

    Returns:
        The prompt text.

    Raises:
        AgentError: the template cannot be loaded (see `load_template()`).
    """
    template = load_template(mode, repo_root)
    instruction = task.instruction.strip("\n")
    overview_section = ""
    if overview is not None:
        parts = [f"## Parent task: {overview.title} ({overview.id})", ""]
        if overview.instruction.strip():
            parts += [
                "The overall goal this task is part of (context only, not your instruction):",
                "",
                _quote(overview.instruction),
                "",
            ]
        overview_section = "\n".join(parts) + "\n"
    values = {
        "mode": SessionMode(mode).value,
        "task_id": task.id,
        "title": task.title,
        "type": task.type,
        "status": task.status,
        "area": task.area,
        "priority": task.priority.value,
        "instruction": instruction,
        "tasks": task.tasks_section.strip("\n"),
        "deliverable": task.deliverable.strip("\n"),
        "instruction_section": _section("Instruction", instruction),
        "tasks_section": _section("Tasks", task.tasks_section),
        "deliverable_section": _section("Deliverable", task.deliverable),
        "overview_id": overview.id if overview else "",
        "overview_title": overview.title if overview else "",
        "overview_instruction": overview.instruction.strip("\n") if overview else "",
        "overview_section": overview_section,
    }
    prompt = string.Template(template).safe_substitute(values).rstrip() + "\n"
    if instruction.strip() and instruction not in prompt:
        prompt += "\n" + _section("Instruction", instruction).rstrip() + "\n"
    if extra is not None and extra.strip():
        prompt += "\n" + extra.strip("\n") + "\n"
    return prompt

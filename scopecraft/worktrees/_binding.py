"""Binding rules, forward and reverse, as pure functions (no git, no file system).

Forward: a task's *environment id* is its parent's id for a subtask, else its own id; its branch
is the branch template with ``{env_id}`` filled in; its worktree is the path template filled in
under the worktree root.

Reverse: a branch names an environment (through the template, or through the sessions that ran
on it); the environment owns the task whose id is the env id, that task's subtasks, and the
tasks whose id ends in ``-<env id>``. A bare month-letter code such as ``05A`` never selects
tasks: dozens of unrelated tasks share one.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from .._errors import ConfigError, InvalidName, TaskNotFound
from .._models import Session
from .._names import validate_branch, validate_task_id
from ._errors import AmbiguousBinding

__all__ = [
    "BranchTemplate",
    "TaskLike",
    "check_path_template",
    "is_bare_code",
    "owned_tasks",
    "owns",
    "render_worktree_path",
    "resolve_env_id",
]


class TaskLike(Protocol):
    """What reverse binding needs of a task (a `Task` has it)."""

    @property
    def id(self) -> str:
        """The task's id."""
        ...

    @property
    def parent_id(self) -> str | None:
        """The parent task's id, for a subtask."""
        ...

    @property
    def env_id(self) -> str:
        """The environment id."""
        ...


_TaskT = TypeVar("_TaskT", bound=TaskLike)

_BARE_CODE = re.compile(r"[0-9]{2}[A-Z]")
_ENV_GROUP = r"(?P<env_id>[A-Za-z0-9][A-Za-z0-9_-]{0,127})"
_PATH_FIELDS = frozenset({"env_id", "repo_name"})


def _fields(template: str, what: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"the {what} {template!r} is not a valid template: {exc}") from exc
    names: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec or conversion:
            raise ConfigError(f"the {what} {template!r} may not use format specs or conversions")
        names.append(field)
    return names


def is_bare_code(value: str) -> bool:
    """Tell whether ``value`` is only a month-letter code such as ``05A``.

    Args:
        value: An env id, a suffix or a name.

    Returns:
        True for two digits and a capital letter, which never identify a task on their own.
    """
    return _BARE_CODE.fullmatch(value) is not None


class BranchTemplate:
    """A branch template such as ``feature/{env_id}``: render it, and read it backwards.

    Args:
        template: The template; it holds ``{env_id}`` exactly once and nothing else to fill.

    Raises:
        ConfigError: the template is malformed or would not make a valid branch name.
    """

    __slots__ = ("_pattern", "template")

    def __init__(self, template: str) -> None:
        fields = _fields(template, "branch template")
        if fields != ["env_id"]:
            raise ConfigError(
                f"the branch template {template!r} must hold {{env_id}} exactly once and no "
                "other field (for example feature/{env_id} or task/{env_id})"
            )
        prefix, _, suffix = template.partition("{env_id}")
        try:
            validate_branch(f"{prefix}x{suffix}")
        except InvalidName as exc:
            raise ConfigError(
                f"the branch template {template!r} makes bad branches: {exc}"
            ) from exc
        self.template = template
        self._pattern = re.compile(re.escape(prefix) + _ENV_GROUP + re.escape(suffix))

    def render(self, env_id: str) -> str:
        """Return the branch of an environment.

        Args:
            env_id: The environment id.

        Returns:
            The branch name, validated.

        Raises:
            InvalidName: ``env_id`` is not a task id, or the branch is not a safe name.
        """
        validate_task_id(env_id)
        return validate_branch(self.template.format(env_id=env_id))

    def env_id_of(self, branch: str) -> str | None:
        """Return the env id that this template gives ``branch``, or ``None``.

        Args:
            branch: A branch name (not validated here: a non-matching name gives ``None``).

        Returns:
            The env id, or ``None`` when ``branch`` does not follow the template.
        """
        match = self._pattern.fullmatch(branch)
        return match.group("env_id") if match else None

    def glob(self) -> str:
        """Return an ``fnmatch`` pattern of the template's branches (``feature/*``)."""
        return self.template.replace("{env_id}", "*")


def check_path_template(template: str) -> str:
    """Check a worktree path template (relative to the worktree root).

    Args:
        template: For example ``{env_id}`` (the default) or ``{repo_name}-{env_id}``.

    Returns:
        ``template`` unchanged.

    Raises:
        ConfigError: it names fields other than ``{env_id}`` and ``{repo_name}``, lacks
            ``{env_id}``, is absolute, or climbs with ``..``.
    """
    fields = _fields(template, "worktree path template")
    unknown = set(fields) - _PATH_FIELDS
    if unknown or "env_id" not in fields:
        raise ConfigError(
            f"the worktree path template {template!r} must hold {{env_id}} and may also hold "
            "{repo_name}; nothing else"
        )
    parts = Path(template).parts
    if Path(template).is_absolute() or ".." in parts or template.startswith("~"):
        raise ConfigError(
            f"the worktree path template {template!r} must be relative to the worktree root, "
            "without '..'"
        )
    return template


def render_worktree_path(root: Path, template: str, env_id: str, repo_name: str) -> Path:
    """Return the worktree folder of an environment, resolved and checked to lie in ``root``.

    Args:
        root: The folder worktrees go in.
        template: A template checked by `check_path_template()`.
        env_id: The environment id.
        repo_name: The main worktree's folder name.

    Returns:
        The resolved folder.

    Raises:
        InvalidName: ``env_id`` is not a task id, or the folder would escape ``root``.
    """
    validate_task_id(env_id)
    relative = template.format(env_id=env_id, repo_name=repo_name)
    base = root.resolve()
    target = (base / relative).resolve()
    if target == base or base not in target.parents:
        raise InvalidName("worktree path", relative, f"it must lie inside {base}")
    return target


def owns(env_id: str, task: TaskLike) -> bool:
    """Tell whether the environment ``env_id`` owns ``task``.

    Args:
        env_id: A full environment id (not a bare month-letter code).
        task: The task.

    Returns:
        True for the task whose id is ``env_id``, its subtasks, and tasks whose id ends in
        ``-<env_id>``.
    """
    if is_bare_code(env_id):
        return False
    return task.id == env_id or task.parent_id == env_id or task.id.endswith(f"-{env_id}")


def owned_tasks(env_id: str, tasks: Iterable[_TaskT]) -> list[_TaskT]:
    """Return the tasks an environment owns, by id.

    Args:
        env_id: The environment id.
        tasks: Every task to consider.

    Returns:
        The owned tasks.

    Raises:
        InvalidName: ``env_id`` is not a task id.
        AmbiguousBinding: ``env_id`` is a bare month-letter code (the candidates are listed).
    """
    validate_task_id(env_id)
    pool = list(tasks)
    if is_bare_code(env_id):
        candidates = sorted({t.env_id for t in pool if t.id.endswith(f"-{env_id}")})
        raise AmbiguousBinding(
            env_id, candidates, f"a bare month-letter code such as {env_id} names no task"
        )
    return sorted((t for t in pool if owns(env_id, t)), key=lambda t: t.id)


def resolve_env_id(
    name: str,
    *,
    tasks: Sequence[TaskLike],
    template: BranchTemplate,
    sessions: Sequence[Session] = (),
) -> str:
    """Turn a branch name, an env id or a task id into one environment id.

    In order: a branch that follows the template; a branch that sessions ran on; a task id
    (its env id); the last ``/`` component of a branch that is a task id. A name that matches
    nothing exactly may still be the unique ``-<name>`` suffix of task ids, unless it is a
    bare month-letter code.

    Args:
        name: What a person or a caller asked for.
        tasks: Every known task.
        template: The branch template.
        sessions: Sessions, whose ``branch`` binds custom branches to their tasks.

    Returns:
        The environment id.

    Raises:
        InvalidName: ``name`` is not a valid branch or task id.
        AmbiguousBinding: ``name`` could mean several environments, or is a bare month-letter
            code (the error lists the candidates).
        TaskNotFound: ``name`` matches nothing.
    """
    validate_branch(name)
    by_id = {t.id: t for t in tasks}
    env = template.env_id_of(name)
    if env is not None and not is_bare_code(env):
        return env
    on_branch = {s.task_id for s in sessions if s.branch == name}
    if on_branch:
        envs = sorted({by_id[t].env_id if t in by_id else t for t in on_branch})
        if len(envs) == 1:
            return envs[0]
        raise AmbiguousBinding(name, envs, "sessions of several environments ran on it")
    last = name.rsplit("/", 1)[-1]
    for candidate in (name, last):
        if candidate in by_id:
            return by_id[candidate].env_id
    key = env if env is not None else last
    matches = sorted({t.env_id for t in tasks if t.id.endswith(f"-{key}")})
    if is_bare_code(key):
        raise AmbiguousBinding(
            name, matches, f"a bare month-letter code such as {key} is never enough"
        )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousBinding(name, matches, f"several environments end in -{key}")
    if env is not None:
        return env
    raise TaskNotFound(name, "it names no branch, environment or task; `scopecraft tasks list`")

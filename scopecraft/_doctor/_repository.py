"""The checks of what sessions need here: git, the repository and its tasks, the home
folder and the store (read only: a store that does not exist is not created)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from .._config import EngineConfig
from .._errors import ScopecraftError
from ._model import DoctorCheck, first_line, git_env, run_git, run_program

__all__ = [
    "MIN_GIT_VERSION",
    "check_git",
    "check_home",
    "check_repository",
    "check_store",
]

MIN_GIT_VERSION = (2, 31)
"""The oldest git scopecraft runs with (``git rev-parse --path-format`` came in 2.31)."""

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def _version_of(text: str) -> tuple[int, ...] | None:
    match = _VERSION.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def check_git(env: Mapping[str, str]) -> DoctorCheck:
    """The ``git`` line: git found on ``PATH``, and at least `MIN_GIT_VERSION`."""
    path = shutil.which("git", path=env.get("PATH"))
    install = "install git 2.31 or newer (apt-get install git, brew install git)"
    if path is None:
        return DoctorCheck("git", "fail", "git is not found on PATH", install)
    ran = run_program([path, "--version"], cwd=None, env=git_env(env))
    line = first_line(ran.out)
    if ran.code != 0 or not line:
        reason = first_line(ran.err) or f"exit code {ran.code}"
        return DoctorCheck("git", "fail", f"`{path} --version` failed: {reason}", install)
    version = _version_of(line)
    shown = line.removeprefix("git version ").strip()
    if version is not None and version[:2] < MIN_GIT_VERSION:
        return DoctorCheck(
            "git",
            "fail",
            f"git {shown} at {path} is older than 2.31, which scopecraft needs",
            install,
        )
    return DoctorCheck("git", "ok", f"git {shown} ({path})")


def check_repository(
    repo: Path, home: Path, config: EngineConfig, env: Mapping[str, str]
) -> list[DoctorCheck]:
    """The ``repository``, ``commits``, ``default branch``, ``tasks`` and ``tasks committed``
    lines; only the first when ``repo`` is not in a git repository."""
    folder = Path(os.path.abspath(repo))
    if not folder.is_dir():
        return [
            DoctorCheck(
                "repository",
                "fail",
                f"{folder} does not exist",
                "pass --repo (or set SCOPECRAFT_REPO to) a folder inside a git repository",
            )
        ]
    common = run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=folder, env=env)
    top = run_git("rev-parse", "--show-toplevel", cwd=folder, env=env)
    if common.code != 0 or not common.out.strip():
        reason = first_line(common.err) or f"git exited {common.code}"
        return [
            DoctorCheck(
                "repository",
                "fail",
                f"{folder} is not inside a git repository ({reason})",
                "run `git init` there, or pass --repo a folder inside a git repository",
            )
        ]
    common_dir = Path(common.out.strip())
    root = common_dir.parent if common_dir.name == ".git" else common_dir
    detail = f"{root}"
    here = top.out.strip()
    if top.code == 0 and here and Path(here).resolve() != root.resolve():
        detail += f" (--repo is its linked worktree {here})"
    checks = [DoctorCheck("repository", "ok", detail)]
    head = run_git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=root, env=env)
    branch = run_git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root, env=env).out.strip()
    if head.code != 0 or not head.out.strip():
        checks.append(
            DoctorCheck(
                "commits",
                "fail",
                "the repository has no commit yet (worktrees start from a commit)",
                "make a first commit: git commit --allow-empty -m 'first commit'",
            )
        )
    else:
        on = f"on {branch}" if branch else "detached"
        checks.append(DoctorCheck("commits", "ok", f"HEAD is {head.out.strip()[:12]} ({on})"))
        checks.append(_check_default_branch(root, branch, config))
    checks += _check_tasks(root, home, config, env)
    return checks


def _check_default_branch(root: Path, branch: str, config: EngineConfig) -> DoctorCheck:
    import anyio

    from ..worktrees._git import GitWorktreeOrchestrator

    try:
        info = anyio.run(GitWorktreeOrchestrator(root).repo_info)
    except ScopecraftError as exc:
        return DoctorCheck(
            "default branch",
            "fail",
            str(exc),
            "check out a branch (git switch -c main) or set origin/HEAD",
        )
    start = config.base or info.default_branch
    detail = f"{info.default_branch}; task worktrees start from {start}"
    if branch and branch != start:
        return DoctorCheck(
            "default branch",
            "warn",
            f"{detail}, but the main worktree is on {branch}",
            f"commit task files on {start} (git switch {start}) so that sessions see them",
        )
    return DoctorCheck("default branch", "ok", detail)


def _check_tasks(
    root: Path, home: Path, config: EngineConfig, env: Mapping[str, str]
) -> list[DoctorCheck]:
    from ..tasks import TaskStore

    store = TaskStore.for_repo(root, home=home, layout=config.task_layout)
    if not store.root.is_dir():
        return [
            DoctorCheck(
                "tasks",
                "warn",
                f"no task folder yet ({root / '.tasks'} or {store.root})"
                if store.layout == "central"
                else f"no task folder yet ({store.root})",
                'create a task: scopecraft tasks new "Title" --area AREA',
            )
        ]
    problems = store.check_tasks()
    count = len(store.list_tasks())
    where = f"{store.root} ({'repository' if store.layout == 'repo' else 'central'} layout)"
    if problems:
        checks = [
            DoctorCheck(
                "tasks",
                "warn",
                f"{count} task(s) in {where}; {len(problems)} file(s) cannot be read",
                "`scopecraft tasks check` says what is wrong with each",
            )
        ]
    else:
        checks = [DoctorCheck("tasks", "ok", f"{count} task(s) in {where}")]
    if store.layout != "repo":
        checks.append(
            DoctorCheck("tasks committed", "ok", "central layout: task files are not in git")
        )
        return checks
    rel = os.path.relpath(store.root, root)
    status = run_git(
        "--no-optional-locks",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=matching",
        "--",
        rel,
        cwd=root,
        env=env,
    )
    if status.code != 0:
        checks.append(
            DoctorCheck(
                "tasks committed",
                "warn",
                f"git status failed: {first_line(status.err) or status.code}",
                "run `git status` in the repository to see why",
            )
        )
        return checks
    changed, ignored = _uncommitted(status.out)
    if changed or ignored:
        every = [*changed, *ignored]
        shown = ", ".join(every[:3]) + (f" and {len(every) - 3} more" if len(every) > 3 else "")
        why = f" ({len(ignored)} ignored by .gitignore)" if ignored else ""
        force = " -f" if ignored else ""
        checks.append(
            DoctorCheck(
                "tasks committed",
                "warn",
                f"{len(every)} task file(s) not committed{why}: {shown}",
                f"git add{force} {rel} && git commit -m 'Tasks' (sessions work in worktrees cut "
                "from commits: they do not see uncommitted task files)",
            )
        )
    else:
        checks.append(DoctorCheck("tasks committed", "ok", "every task file is committed"))
    return checks


def _uncommitted(porcelain: str) -> tuple[list[str], list[str]]:
    """The changed and the ignored paths of ``git status --porcelain=v1 -z`` output."""
    changed: list[str] = []
    ignored: list[str] = []
    entries = iter(porcelain.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        (ignored if code == "!!" else changed).append(path)
        if code[0] in "RC":
            next(entries, None)  # a rename's or copy's source path follows
    return changed, ignored


def check_home(home: Path) -> DoctorCheck:
    """The ``home`` line: a folder that exists or can be created, writable, private (0700)."""
    fix = "set SCOPECRAFT_HOME (or pass --home) to a folder you can write"
    try:
        info = home.stat()
    except (FileNotFoundError, NotADirectoryError):
        ancestor = home.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            why = f"{ancestor} is not a folder"
        elif not os.access(ancestor, os.W_OK | os.X_OK):
            why = f"{ancestor} is not writable"
        else:
            return DoctorCheck(
                "home", "ok", f"{home} does not exist yet; it is created (0700) on first use"
            )
        return DoctorCheck("home", "fail", f"{home} cannot be created: {why}", fix)
    except OSError as exc:
        return DoctorCheck("home", "fail", f"{home} cannot be read: {exc.strerror or exc}", fix)
    if not stat.S_ISDIR(info.st_mode):
        return DoctorCheck("home", "fail", f"{home} is not a folder", fix)
    if not os.access(home, os.W_OK | os.X_OK):
        return DoctorCheck("home", "fail", f"{home} is not writable", fix)
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        return DoctorCheck(
            "home",
            "warn",
            f"{home} belongs to uid {info.st_uid}, not to you (uid {os.getuid()})",
            "use a home folder of your own (SCOPECRAFT_HOME or --home)",
        )
    if mode & 0o077:
        return DoctorCheck(
            "home",
            "warn",
            f"{home} has mode {mode:04o}: other users may read session output",
            f"chmod 700 {home} (scopecraft also makes it private when it next opens)",
        )
    return DoctorCheck("home", "ok", f"{home} (writable, private 0700)")


def check_store(path: Path) -> DoctorCheck:
    """The ``store`` line: the SQLite store opened read-only (never created), its schema
    version and its sessions."""
    from ..storage._sqlite_schema import latest_version

    if not path.exists():
        return DoctorCheck("store", "ok", f"no store yet ({path}); the first session creates it")
    latest = latest_version()
    move = f"move {path} away (its sessions are then forgotten) or point --home at another folder"
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as conn:
            meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            if meta is None:
                return DoctorCheck("store", "fail", f"{path} is not a scopecraft store", move)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            counts = dict(conn.execute("SELECT status, count(*) FROM sessions GROUP BY status"))
    except sqlite3.Error as exc:
        return DoctorCheck("store", "fail", f"{path} cannot be read: {exc}", move)
    try:
        version = int(row[0]) if row is not None else 0
    except ValueError:
        return DoctorCheck("store", "fail", f"{path} has a schema version {row[0]!r}", move)
    if version > latest:
        return DoctorCheck(
            "store",
            "fail",
            f"{path} has schema version {version}; this scopecraft reads up to {latest}",
            "upgrade scopecraft, or point --home at another folder",
        )
    from .._models import TERMINAL_STATUSES

    terminal = {status.value for status in TERMINAL_STATUSES}
    total = sum(counts.values())
    live = sum(n for status, n in counts.items() if status not in terminal)
    detail = f"{path}: schema version {version}, {total} session(s), {live} not ended"
    if version < latest:
        detail += f" (migrated to version {latest} when it next opens)"
    return DoctorCheck("store", "ok", detail)

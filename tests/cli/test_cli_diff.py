"""`session diff`: a session's changes, read from the main repository, never its worktree."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli.cli_support import Cli, cli_for
from support import git


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def _ended(cli: Cli, task_id: str) -> dict[str, object]:
    started = cli.start(task_id)
    done: dict[str, object] = cli.json("session", "wait", started["id"], "--timeout", "60")
    return done


def test_diff_shows_the_file_the_session_wrote(cli: Cli) -> None:
    """`session diff` prints the patch of the session's branch from its base (the file the
    agent wrote, added), a summary on standard error; `--stat` the summary of files; and
    `--json` the files with their counts and the commits compared."""
    done = _ended(cli, "ok-01A")
    session_id = str(done["id"])
    result = cli("session", "diff", session_id)
    assert result.exit_code == 0, result.stderr
    assert "diff --git a/notes/out.txt b/notes/out.txt" in result.stdout
    assert "+made by the agent" in result.stdout.splitlines()
    assert f"{session_id} on feature/ok-01A" in result.stderr
    stat = cli("session", "diff", session_id, "--stat")
    assert stat.exit_code == 0, stat.stderr
    assert re.search(r"^ notes/out\.txt +\| +1 \+$", stat.stdout, re.MULTILINE), stat.stdout
    assert "changed" in stat.stdout
    assert "+made by the agent" not in stat.stdout
    data = cli.json("session", "diff", session_id)
    files = {f["path"]: f for f in data["files"]}
    assert files["notes/out.txt"]["insertions"] == 1
    assert data["branch"] == "feature/ok-01A"
    assert data["head"] != data["base"]
    assert data["stat"] is None
    assert "+made by the agent" in data["patch"]
    events = cli.json("session", "events", session_id)
    (recorded,) = [e for e in events if e["type"] == "changes_recorded"]
    assert data["head"] == recorded["head"]
    assert sorted(files) == sorted(recorded["files"])


def test_diff_of_a_session_without_a_branch_is_not_found(cli: Cli) -> None:
    """A session still queued has no branch to compare: exit 3 with a one-line reason;
    an unknown session id is exit 3 too."""
    queued = cli.start("ok-01A", "--no-wait")
    result = cli("session", "diff", queued["id"])
    if queued["branch"] is None:
        assert result.exit_code == 3
        assert "no branch yet" in result.stderr
    assert cli("session", "diff", "ses-aaaaaaaaaaaa").exit_code == 3
    cli.json("session", "wait", queued["id"], "--timeout", "60")


# -- a hostile worktree ------------------------------------------------------------------------


def _evil_git_dir(folder: Path, config: str) -> None:
    """A git directory the agent made, its config holding ``config``."""
    subprocess.run(["git", "init", "-q", str(folder)], check=True, capture_output=True)
    inner = folder / ".git"
    for item in inner.iterdir():
        item.rename(folder / item.name)
    inner.rmdir()
    with (folder / "config").open("a") as handle:
        handle.write("[core]\n\tbare = false\n" + config)


def _gitdir_elsewhere(tree: Path, canary: Path) -> None:
    _evil_git_dir(
        tree / ".evilgit",
        f"\tfsmonitor = touch {canary}\n\tpager = touch {canary}\n"
        f"[diff]\n\texternal = touch {canary}\n",
    )
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _hooks(tree: Path, canary: Path) -> None:
    hooks = tree / "myhooks"
    hooks.mkdir()
    for name in ("post-checkout", "post-index-change", "reference-transaction", "pre-commit"):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\ntouch {canary}\n")
        hook.chmod(0o755)
    _evil_git_dir(tree / ".evilgit", f"\thooksPath = {hooks}\n")
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _dotgit_folder(tree: Path, canary: Path) -> None:
    (tree / ".git").unlink()
    _evil_git_dir(tree / ".git", "")
    (tree / "other.txt").write_text("not the session's work\n")
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", "another history", cwd=tree)
    with (tree / ".git" / "config").open("a") as handle:
        handle.write(f"\tfsmonitor = touch {canary}\n")


# Each way of making git run a command, with a git command that does run it when git is
# run in the worktree the ordinary way (the control that shows the vector is live).
VECTORS: dict[str, tuple[Callable[[Path, Path], None], tuple[str, ...]]] = {
    "gitdir-elsewhere-fsmonitor-pager-external-diff": (_gitdir_elsewhere, ("status",)),
    "hooks-path": (_hooks, ("commit", "-q", "--allow-empty", "-m", "x")),
    "dotgit-folder-with-other-history": (_dotgit_folder, ("status",)),
}


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_a_hostile_worktree_makes_diff_run_nothing(cli: Cli, tmp_path: Path, vector: str) -> None:
    """After the session ended, its agent's worktree is made hostile (a `.git` pointing at
    a git directory whose config runs a command, hooks, a `.git` folder with another
    history): `session diff` runs none of it (no canary file) and still shows what the
    session committed, read from the main repository. Plain git run in that worktree
    does run the planted command (the control)."""
    done = _ended(cli, "ok-01A")
    tree = Path(str(done["worktree_path"]))
    canary = tmp_path / "canary"
    plant, control = VECTORS[vector]
    plant(tree, canary)
    assert not canary.exists()
    result = cli("session", "diff", str(done["id"]))
    assert result.exit_code == 0, result.stderr
    assert "+made by the agent" in result.stdout.splitlines()
    assert "other.txt" not in result.stdout
    stat = cli("session", "diff", str(done["id"]), "--stat")
    assert stat.exit_code == 0, stat.stderr
    assert "notes/out.txt" in stat.stdout
    assert not canary.exists(), f"session diff ran a command the agent planted ({vector})"
    subprocess.run(["git", *control], cwd=tree, capture_output=True, check=False)
    assert canary.exists(), "the control: git run the ordinary way runs the planted command"

"""Setup per worktree: copy listed ignored files, run an argv, report or fail with output."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from support import git

from scopecraft.worktrees import GitWorktreeOrchestrator, WorktreeSetup, WorktreeSetupFailed


@pytest.mark.anyio
async def test_ignored_files_are_copied_and_the_command_output_returned(wt_repo: Path) -> None:
    """``.env`` and an ignored folder are copied; tracked, missing or unignored ones are not."""
    (wt_repo / "node_modules" / "pkg").mkdir(parents=True)
    (wt_repo / "node_modules" / "pkg" / "index.js").write_text("x\n")
    (wt_repo / "notes.txt").write_text("untracked, not ignored\n")
    setup = WorktreeSetup(
        copy=(".env", "node_modules", "README.md", "missing.env", "notes.txt"),
        command=("sh", "-c", 'echo "installing in $SCOPECRAFT_ENV_ID"; cat .env'),
    )
    orch = GitWorktreeOrchestrator(wt_repo, setup=setup)
    binding = await orch.bind_env("auth-05A")
    prepared = await orch.prepare(binding)
    result = prepared.setup
    assert result is not None
    assert result.copied == (".env", "node_modules")
    assert sorted(s.split(":")[0] for s in result.skipped) == [
        "README.md",
        "missing.env",
        "notes.txt",
    ]
    assert result.exit_code == 0
    assert result.output == "installing in auth-05A\nTOKEN=local\n"
    assert (binding.path / "node_modules" / "pkg" / "index.js").read_text() == "x\n"
    assert git("status", "--porcelain", cwd=binding.path) == "", "copies never show as changes"
    assert (await orch.prepare(binding)).setup is None, "a done setup is not run again"


@pytest.mark.anyio
async def test_a_failing_setup_raises_with_its_output_and_runs_again(wt_repo: Path) -> None:
    """A setup exiting non-zero raises with its output; the worktree stays; the next retries."""
    flag = wt_repo.parent / "ok"
    script = f'echo "step one"; echo "broken dependency" >&2; test -e {flag}'
    orch = GitWorktreeOrchestrator(wt_repo, setup={"command": ["sh", "-c", script]})
    binding = await orch.bind_env("auth-05A")
    with pytest.raises(WorktreeSetupFailed, match="exited with 1") as caught:
        await orch.prepare(binding)
    assert caught.value.result.output == "step one\nbroken dependency\n"
    assert "broken dependency" in str(caught.value)
    assert binding.path.is_dir()
    flag.touch()
    again = await orch.prepare(binding)
    assert not again.created
    assert again.setup is not None
    assert again.setup.exit_code == 0


@pytest.mark.anyio
async def test_a_missing_program_or_a_timeout_fails_clearly(wt_repo: Path) -> None:
    """A setup program that cannot start, or runs too long, is a failure that says so."""
    orch = GitWorktreeOrchestrator(wt_repo, setup={"command": ["no-such-program-xyz"]})
    with pytest.raises(WorktreeSetupFailed, match="could not start"):
        await orch.prepare(await orch.bind_env("auth-05A"))
    slow = GitWorktreeOrchestrator(wt_repo, setup={"command": ["sleep", "5"], "timeout": 0.2})
    with pytest.raises(WorktreeSetupFailed, match="ran past"):
        await slow.prepare(await slow.bind_env("auth-05A"))


def test_setup_paths_and_argv_are_validated() -> None:
    """Copy entries that climb, are absolute, start with '-' or name .git are refused."""
    for bad in ("../secret", "/etc/passwd", "-rf", "~/.ssh", ".git/config", "a\nb"):
        with pytest.raises(ValidationError, match="setup path"):
            WorktreeSetup(copy=(bad,))
    with pytest.raises(ValidationError, match="argv"):
        WorktreeSetup(command=("",))
    with pytest.raises(ValidationError):
        WorktreeSetup.model_validate({"command": "npm install"})


@pytest.mark.anyio
async def test_a_symlink_out_of_the_repository_is_not_followed(
    wt_repo: Path, tmp_path: Path
) -> None:
    """A listed path that resolves outside the main worktree is skipped, not copied."""
    (tmp_path / "outside.env").write_text("SECRET=1\n")
    (wt_repo / ".env").unlink()
    (wt_repo / ".env").symlink_to(tmp_path / "outside.env")
    orch = GitWorktreeOrchestrator(wt_repo, setup={"copy": [".env"]})
    prepared = await orch.prepare(await orch.bind_env("auth-05A"))
    assert prepared.setup is not None
    assert prepared.setup.copied == ()
    assert "escapes" in prepared.setup.skipped[0]
    assert not (prepared.binding.path / ".env").exists()

"""``scopecraft doctor``: one line per check with its fix; exit 1 only when something needed
is missing.

Every test here runs with a ``PATH`` that holds no real agent CLI (folders holding a
``claude``, ``codex`` or ``gemini`` executable are left out), so ``doctor`` never starts one;
agents are stand-in sh scripts of the test's. The one test of the real CLIs runs ``doctor``
in a network namespace holding only loopback (``unshare -n``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli.cli_support import Cli
from cli.test_agents_check import write_claude
from real_agents.conftest import require_agent
from support import git, make_repo, write_task

from scopecraft import connect
from scopecraft._doctor import DoctorCheck, doctor_failed, run_doctor
from scopecraft.cli._common import ExitCode

SECRET = "sk-ant-api03-DOCTOR-PLANTED-SECRET-0123456789"
REAL_AGENT_CLIS = ("claude", "codex", "gemini")
CREDENTIAL_NAMES = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY")
# The user's own home, where `.ci/install-agents` keeps the real CLIs (tests replace HOME).
USER_HOME = os.environ.get("HOME", "")


def path_without_agents(*first: str) -> str:
    """This process's ``PATH`` less every folder holding a real agent CLI, after ``first``."""
    folders = [
        folder
        for folder in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if folder and not any(os.access(Path(folder, name), os.X_OK) for name in REAL_AGENT_CLIS)
    ]
    return os.pathsep.join([*first, *folders])


@pytest.fixture(autouse=True)
def no_real_agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real agent CLI on ``PATH`` (a ``bin`` folder of the test's, returned, comes first),
    no credential in the environment, a user home without logins."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", path_without_agents(str(folder)))
    for name in (*CREDENTIAL_NAMES, "CLAUDE_CONFIG_DIR", "CODEX_HOME", "SCOPECRAFT_HOME"):
        monkeypatch.delenv(name, raising=False)
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.setenv("HOME", str(user))
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a first commit and one committed task."""
    return make_repo(tmp_path / "src", {"greet-01A": "Say hello."})


@pytest.fixture
def cli(repo: Path, tmp_path: Path) -> Cli:
    """The CLI on the test repository, with a home that does not exist yet."""
    return Cli(repo, tmp_path / "home")


def lines(cli: Cli, *args: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    """Run `doctor ARGS --json`: the exit code, the checks by name, standard error."""
    result = cli("doctor", *args, as_json=True)
    rows = json.loads(result.stdout)
    return result.exit_code, {row["check"]: row for row in rows}, result.stderr


def test_a_healthy_repository_passes_and_nothing_is_created(cli: Cli, repo: Path) -> None:
    """git, the repository, its commit, its default branch and its committed task are ok, a
    home that does not exist yet is ok (it can be made), and there is no store yet; the exit
    code is 0 and neither the home nor a store is created."""
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK, checks
    for name in ("git", "repository", "commits", "default branch", "tasks", "tasks committed"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["git"]["detail"].startswith("git 2.")
    assert checks["repository"]["detail"] == str(repo.resolve())
    assert "(on main)" in checks["commits"]["detail"]
    assert checks["default branch"]["detail"].startswith("main;")
    assert checks["tasks"]["detail"].startswith("1 task(s) in ")
    assert "repository layout" in checks["tasks"]["detail"]
    assert checks["home"]["status"] == "ok"
    assert "does not exist yet" in checks["home"]["detail"]
    assert checks["store"]["status"] == "ok"
    assert checks["store"]["detail"].startswith("no store yet")
    assert not cli.home.exists()


def test_the_table_has_one_line_per_check_with_its_fix(cli: Cli) -> None:
    """For people: one line per check, `STATUS CHECK DETAIL` and `fix: ...` when there is a
    fix, then a summary line."""
    result = cli("doctor")
    assert result.exit_code == ExitCode.OK, result.stdout
    out = result.stdout.splitlines()
    checks = json.loads(cli("doctor", as_json=True).stdout)
    assert len(out) == len(checks) + 1
    for line, check in zip(out, checks, strict=False):
        assert line.split()[0] == check["status"]
        assert check["check"] in line
        assert check["detail"] in line
        assert (f"fix: {check['fix']}" in line) == (check["fix"] is not None)
    assert out[-1].startswith("ready")


def test_json_is_a_list_of_check_status_detail_fix(cli: Cli) -> None:
    """`--json` prints a JSON array of objects with exactly `check`, `status`, `detail`,
    `fix`; statuses are ok, warn or fail; an ok line has no fix, any other line has one;
    check names are unique and cover every part."""
    result = cli("doctor", as_json=True)
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) == {"check", "status", "detail", "fix"}
        assert row["status"] in ("ok", "warn", "fail")
        assert isinstance(row["detail"], str)
        assert row["detail"]
        if row["status"] == "ok":
            assert row["fix"] is None
        else:
            assert isinstance(row["fix"], str)
            assert row["fix"]
    names = [row["check"] for row in rows]
    assert len(names) == len(set(names))
    for name in ("git", "repository", "tasks", "docker", "tmux", "home", "store"):
        assert name in names
    assert "agent claude-code" in names
    assert "agent codex" in names


def test_a_repository_without_commits_fails(tmp_path: Path) -> None:
    """`git init` alone: the commits line fails with the command that makes a first commit,
    and the exit code is 1."""
    repo = tmp_path / "fresh"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    code, checks, _ = lines(Cli(repo, tmp_path / "home"))
    assert code == ExitCode.FAILED
    assert checks["repository"]["status"] == "ok"
    assert checks["commits"]["status"] == "fail"
    assert "no commit yet" in checks["commits"]["detail"]
    assert "git commit --allow-empty" in checks["commits"]["fix"]
    assert checks["tasks"]["status"] == "warn"
    assert "scopecraft tasks new" in checks["tasks"]["fix"]


def test_a_folder_outside_git_fails(tmp_path: Path) -> None:
    """A folder that is not in a git repository fails the repository line (exit 1)."""
    folder = tmp_path / "plain"
    folder.mkdir()
    code, checks, _ = lines(Cli(folder, tmp_path / "home"))
    assert code == ExitCode.FAILED
    assert checks["repository"]["status"] == "fail"
    assert "not inside a git repository" in checks["repository"]["detail"]
    assert "git init" in checks["repository"]["fix"]
    assert "commits" not in checks


def test_without_git_everything_git_fails(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """No git on `PATH`: the git line fails and says how to install it (exit 1); the other
    parts are still checked."""
    monkeypatch.setenv("PATH", str(cli.repo.parent / "nothing-here"))
    code, checks, _ = lines(cli)
    assert code == ExitCode.FAILED
    assert checks["git"]["status"] == "fail"
    assert "install git" in checks["git"]["fix"]
    assert "repository" not in checks
    assert checks["tmux"]["status"] == "warn"
    assert checks["home"]["status"] == "ok"


def test_a_dead_docker_socket_is_a_warning_with_its_fix(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DOCKER_HOST=unix:///nonexistent`: the docker line warns that the engine does not
    answer on that socket, says how to start one or do without, and the exit code stays 0;
    `--require docker` makes it a failure (exit 1)."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK
    docker = checks["docker"]
    assert docker["status"] == "warn"
    assert "does not answer on /nonexistent" in docker["detail"]
    assert "start the Docker engine" in docker["fix"]
    assert "--executor local" in docker["fix"]
    assert "docker images" not in checks
    code, checks, _ = lines(cli, "--require", "docker")
    assert code == ExitCode.FAILED
    assert checks["docker"]["status"] == "fail"
    table = cli("doctor")
    line = next(x for x in table.stdout.splitlines() if x.split()[1:2] == ["docker"])
    assert line.startswith("warn")
    assert "fix: start the Docker engine" in line


def test_claude_not_on_path_is_said(cli: Cli) -> None:
    """Without `claude` on `PATH` the claude-code line says it is not found and how to install
    it; a warning (exit 0) unless `--require claude-code` (exit 1)."""
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK
    claude = checks["agent claude-code"]
    assert claude["status"] == "warn"
    assert "'claude' is not found on PATH" in claude["detail"]
    assert "install Claude Code" in claude["fix"]
    code, checks, _ = lines(cli, "--require", "tmux,claude-code")
    assert code == ExitCode.FAILED
    assert checks["agent claude-code"]["status"] == "fail"


def test_a_stand_in_claude_is_found_and_its_credential_named(
    cli: Cli, no_real_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `claude` (a stand-in script) on `PATH` that takes every option: its version and the
    options are ok; without a credential it warns with the way to log in; with an API key it
    is ok and names the variable, never the value."""
    write_claude(no_real_agents)
    code, checks, _ = lines(cli, "--require", "claude-code")
    claude = checks["agent claude-code"]
    assert claude["status"] == "warn"
    assert "9.9.9 (Stand-in)" in claude["detail"]
    assert "options ok" in claude["detail"]
    assert "no credential found" in claude["detail"]
    assert "ANTHROPIC_API_KEY" in claude["fix"]
    assert code == ExitCode.OK  # a credential may come from elsewhere: never a failure
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    result = cli("doctor", "--require", "claude-code", as_json=True)
    checks = {row["check"]: row for row in json.loads(result.stdout)}
    assert checks["agent claude-code"]["status"] == "ok"
    assert "credential: ANTHROPIC_API_KEY" in checks["agent claude-code"]["detail"]
    assert SECRET not in result.stdout + result.stderr


def test_tmux_missing_warns_unless_required(
    cli: Cli, no_real_agents: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `PATH` with git but no tmux: the tmux line warns with how to install it; required,
    it fails."""
    git_path = shutil.which("git")
    assert git_path is not None
    (no_real_agents / "git").symlink_to(git_path)
    monkeypatch.setenv("PATH", str(no_real_agents))
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK, checks
    assert checks["tmux"]["status"] == "warn"
    assert "install tmux" in checks["tmux"]["fix"]
    code, checks, _ = lines(cli, "--require", "tmux")
    assert code == ExitCode.FAILED
    assert checks["tmux"]["status"] == "fail"


def test_require_names_are_checked(cli: Cli) -> None:
    """`--require` takes docker, tmux and installed agents' names; anything else is bad
    usage (exit 2) naming what it takes."""
    result = cli("doctor", "--require", "docker,nonsense")
    assert result.exit_code == ExitCode.USAGE
    assert "'nonsense'" in result.stderr
    assert "claude-code" in result.stderr


def test_uncommitted_task_files_are_a_warning(cli: Cli, repo: Path) -> None:
    """A task file not committed yet warns, naming it, with the commit that fixes it: sessions
    work in worktrees cut from commits and would not see it."""
    write_task(repo, "late-01B", "Later.")
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK
    line = checks["tasks committed"]
    assert line["status"] == "warn"
    assert "1 task file(s) not committed" in line["detail"]
    assert "current/late-01B.task.md" in line["detail"]
    assert line["fix"].startswith("git add .tasks")
    assert checks["tasks"]["detail"].startswith("2 task(s)")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "late", cwd=repo)
    assert lines(cli)[1]["tasks committed"]["status"] == "ok"
    (repo / ".gitignore").write_text(".tasks/backlog/\n")
    write_task(repo, "hidden-01D", "Ignored.", folder="backlog")
    line = lines(cli)[1]["tasks committed"]
    assert line["status"] == "warn"
    assert "1 task file(s) not committed (1 ignored by .gitignore)" in line["detail"]
    assert line["fix"].startswith("git add -f .tasks")


def test_unreadable_task_files_are_a_warning(cli: Cli, repo: Path) -> None:
    """A malformed task file makes the tasks line warn and point at `tasks check`."""
    (repo / ".tasks" / "current" / "broken-01C.task.md").write_text("no front matter\n")
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK
    assert checks["tasks"]["status"] == "warn"
    assert "1 file(s) cannot be read" in checks["tasks"]["detail"]
    assert "scopecraft tasks check" in checks["tasks"]["fix"]


def test_a_home_that_cannot_be_created_fails(repo: Path, tmp_path: Path) -> None:
    """A home under a regular file cannot be created: the home line fails with the fix
    (another SCOPECRAFT_HOME) and the exit code is 1."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, checks, _ = lines(Cli(repo, blocker / "home"))
    assert code == ExitCode.FAILED
    assert checks["home"]["status"] == "fail"
    assert "cannot be created" in checks["home"]["detail"]
    assert "SCOPECRAFT_HOME" in checks["home"]["fix"]


def _run_with_read_only_home(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`python -m scopecraft doctor --json` with ``home`` not writable: mode 0500 for a user
    other than root; for root (who writes anywhere) a read-only tmpfs mounted on it in a
    mount namespace of its own (``unshare -m``)."""
    home.mkdir(mode=0o700)
    env = dict(os.environ, COLUMNS="200")
    argv = [sys.executable, "-m", "scopecraft", "--repo", str(repo), "--home", str(home)]
    argv += ["--json", "doctor"]
    if os.geteuid() != 0:
        home.chmod(0o500)
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, env=env, timeout=120, check=False
            )
        finally:
            home.chmod(0o700)
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode(errors='replace')}")
    script = 'mount -t tmpfs -o ro,mode=0700 none "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(home), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_home_that_is_not_writable_fails(repo: Path, tmp_path: Path) -> None:
    """A home that exists but cannot be written: the home line fails (exit 1)."""
    run = _run_with_read_only_home(repo, tmp_path / "home")
    assert run.returncode == ExitCode.FAILED, (run.stdout, run.stderr)
    checks = {row["check"]: row for row in json.loads(run.stdout)}
    assert checks["home"]["status"] == "fail"
    assert "is not writable" in checks["home"]["detail"]
    assert "SCOPECRAFT_HOME" in checks["home"]["fix"]


def test_a_home_others_can_read_is_a_warning(cli: Cli) -> None:
    """A home of mode 0755 warns that other users may read session output, fix `chmod 700`."""
    cli.home.mkdir(mode=0o755)
    cli.home.chmod(0o755)
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK
    assert checks["home"]["status"] == "warn"
    assert "0755" in checks["home"]["detail"]
    assert checks["home"]["fix"].startswith(f"chmod 700 {cli.home}")


def test_an_existing_store_is_read_without_writing(cli: Cli, repo: Path) -> None:
    """A store made by the engine: ok with its schema version and session count, and the
    database file is not modified by the check."""
    with connect(repo, home=cli.home):
        pass
    db = cli.home / "scopecraft.db"
    before = db.read_bytes()
    code, checks, _ = lines(cli)
    assert code == ExitCode.OK
    store = checks["store"]
    assert store["status"] == "ok"
    assert "schema version 1, 0 session(s), 0 not ended" in store["detail"]
    assert db.read_bytes() == before
    assert checks["home"]["status"] == "ok"
    assert "private 0700" in checks["home"]["detail"]


def test_a_broken_or_newer_store_fails(cli: Cli, repo: Path) -> None:
    """A store file that is not a database, or one of a newer schema, fails the store line
    with what to do (exit 1)."""
    cli.home.mkdir(mode=0o700)
    db = cli.home / "scopecraft.db"
    db.write_bytes(b"not a database at all" * 100)
    code, checks, _ = lines(cli)
    assert code == ExitCode.FAILED
    assert checks["store"]["status"] == "fail"
    assert "cannot be read" in checks["store"]["detail"]
    db.unlink()
    with connect(repo, home=cli.home):
        pass
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    code, checks, _ = lines(cli)
    assert code == ExitCode.FAILED
    assert "schema version 99" in checks["store"]["detail"]
    assert "upgrade scopecraft" in checks["store"]["fix"]


def test_run_doctor_from_python(repo: Path, tmp_path: Path) -> None:
    """`run_doctor` returns the same rows as frozen `DoctorCheck` values; `doctor_failed`
    tells whether any failed."""
    checks = run_doctor(repo, home=tmp_path / "home", environ=dict(os.environ))
    assert all(isinstance(check, DoctorCheck) for check in checks)
    assert not doctor_failed(checks)
    assert doctor_failed([*checks, DoctorCheck("x", "fail", "broken", "mend it")])
    with pytest.raises(AttributeError):
        checks[0].status = "fail"  # type: ignore[misc]
    assert checks[0].to_dict() == {
        "check": "git",
        "status": "ok",
        "detail": checks[0].detail,
        "fix": None,
    }


@pytest.mark.real_agent
def test_real_clis_offline(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the installed Claude Code and Codex CLIs on `PATH`, `doctor` run in a network
    namespace holding only loopback finds both, with their versions and options; a planted
    API key is named, never printed."""
    monkeypatch.setenv("HOME", USER_HOME)
    folders = dict.fromkeys(str(Path(require_agent(n)).parent) for n in ("claude", "codex"))
    user = tmp_path / "user-real"
    user.mkdir()
    env = {
        "PATH": os.pathsep.join([*folders, os.environ.get("PATH", os.defpath)]),
        "HOME": str(user),
        "COLUMNS": "200",
        "ANTHROPIC_API_KEY": SECRET,
    }
    argv = ["unshare", "-n", sys.executable, "-m", "scopecraft", "--repo", str(repo)]
    argv += ["--home", str(tmp_path / "home"), "--json", "doctor"]
    argv += ["--require", "claude-code,codex"]
    run = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False
    )
    assert run.returncode == ExitCode.OK, (run.stdout, run.stderr)
    checks = {row["check"]: row for row in json.loads(run.stdout)}
    claude, codex = checks["agent claude-code"], checks["agent codex"]
    assert claude["status"] == "ok", claude
    assert "(Claude Code)" in claude["detail"]
    assert "credential: ANTHROPIC_API_KEY" in claude["detail"]
    assert codex["status"] == "warn", codex  # no OpenAI credential planted
    assert "codex-cli" in codex["detail"]
    assert "options ok" in codex["detail"]
    assert SECRET not in run.stdout + run.stderr

"""``scopecraft agents check``: each agent's CLI found, its version, its options, credentials.

Stand-in CLIs are small sh scripts written to ``tmp_path`` and found on ``PATH`` (or at a
configured path); the real Claude Code and Codex CLIs run in a network namespace without any
interface up (``unshare -n``), so they cannot reach the internet.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from cli.cli_support import Cli
from real_agents.conftest import installed_version, require_agent

from scopecraft._plugins import PluginRegistry
from scopecraft.agents import AgentAdapter, AgentCommand, AgentRequest
from scopecraft.agents._check import QUIET_ENV, AgentCheck, check_agents
from scopecraft.cli._common import ExitCode

CLAUDE_FLAGS = (
    "--print",
    "--output-format",
    "--verbose",
    "--model",
    "--permission-mode",
    "--resume",
    "--allowedTools",
    "--dangerously-skip-permissions",
    "--settings",
)
CODEX_TOP_FLAGS = (
    "--model",
    "--sandbox",
    "--ask-for-approval",
    "--dangerously-bypass-approvals-and-sandbox",
)
CODEX_EXEC_FLAGS = (
    "--json",
    "--model",
    "--sandbox",
    "--dangerously-bypass-approvals-and-sandbox",
    "--skip-git-repo-check",
)
ROW_KEYS = {
    "name",
    "ok",
    "configured",
    "executable",
    "program",
    "found",
    "path",
    "version",
    "flags_ok",
    "flags_checked",
    "flags_missing",
    "authenticated",
    "auth_source",
    "notes",
}
SECRET = "sk-ant-api03-THIS-IS-A-PLANTED-SECRET-0123456789"
OPENAI_SECRET = "sk-proj-PLANTED-OPENAI-SECRET-9876543210"
SECRET_NAMES = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY")


def help_text(flags: tuple[str, ...]) -> str:
    """A help text that lists ``flags``, one per line, as CLIs do."""
    return "Usage: cli [options]\n\nOptions:\n" + "".join(
        f"  {f} <value>  Does a thing.\n" for f in flags
    )


def write_cli(
    path: Path,
    *,
    version: str = "9.9.9 (Stand-in)",
    helps: dict[str, str],
    env_dump: Path | None = None,
    extra: str = "",
) -> Path:
    """Write an executable sh script answering ``--version`` and each ``<words> --help`` of
    ``helps`` (keyed by the words before ``--help``); anything else exits 2."""
    lines = ["#!/bin/sh"]
    if env_dump is not None:
        lines.append(f"env > {shlex.quote(str(env_dump))}")
    lines.append(extra)
    lines.append('case "$*" in')
    lines.append(f"  --version) printf '%s\\n' {shlex.quote(version)} ;;")
    for words, text in helps.items():
        pattern = shlex.quote(f"{words} --help".strip())
        lines.append(f"  {pattern}) printf '%s' {shlex.quote(text)} ;;")
    lines.append('  *) echo "unknown option $*" >&2; exit 2 ;;')
    lines.append("esac")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def write_claude(folder: Path, *, flags: tuple[str, ...] = CLAUDE_FLAGS, **kw: Any) -> Path:
    """A stand-in ``claude`` whose help lists ``flags``."""
    return write_cli(folder / "claude", helps={"": help_text(flags)}, **kw)


def write_codex(folder: Path, *, exec_flags: tuple[str, ...] = CODEX_EXEC_FLAGS) -> Path:
    """A stand-in ``codex`` whose ``exec --help`` alone lists ``--json``, as the real one."""
    return write_cli(
        folder / "codex",
        version="codex-cli 0.0.1",
        helps={
            "": help_text(CODEX_TOP_FLAGS),
            "exec": help_text(exec_flags),
            "resume": help_text(CODEX_TOP_FLAGS),
        },
    )


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credential in the environment, a home without logins, and a ``PATH`` holding an
    empty ``bin`` folder of the test's (returned) and the system's tools, no agent CLI."""
    for name in (*SECRET_NAMES, "CLAUDE_CONFIG_DIR", "CODEX_HOME", "SCOPECRAFT_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    user_home = tmp_path / "user"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return folder


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI, in-process; `agents check` needs neither a repository nor a store."""
    return Cli(tmp_path, tmp_path / "home")


def rows_of(cli: Cli, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run `agents check ARGS --json`: the exit code, the rows by order, the whole output."""
    result = cli("agents", "check", *args, as_json=True)
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return result.exit_code, rows, result.stdout + result.stderr


def test_json_is_a_list_of_rows_with_fixed_keys(cli: Cli, clean_env: Path) -> None:
    """`--json` prints a JSON array with one object per agent asked for, in the order asked,
    each with the same keys and value types; a found CLI whose help lists every option is
    ok and the exit code is 0."""
    write_claude(clean_env)
    write_codex(clean_env)
    code, rows, _ = rows_of(cli, "codex", "claude-code")
    assert code == ExitCode.OK
    assert [row["name"] for row in rows] == ["codex", "claude-code"]
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["ok"] is True
        assert row["found"] is True
        assert row["configured"] is True
        assert row["flags_ok"] is True
        assert row["flags_missing"] == []
        assert isinstance(row["flags_checked"], list)
        assert isinstance(row["program"], list)
        assert isinstance(row["notes"], list)
        assert row["authenticated"] is False
        assert row["auth_source"] is None
    codex, claude = rows
    assert claude["executable"] == "claude"
    assert claude["path"] == str(clean_env / "claude")
    assert claude["version"] == "9.9.9 (Stand-in)"
    assert set(claude["flags_checked"]) == set(CLAUDE_FLAGS)
    assert codex["version"] == "codex-cli 0.0.1"
    # --json is only in `codex exec --help`: the unattended options were looked for there.
    assert set(codex["flags_checked"]) == set(CODEX_TOP_FLAGS) | set(CODEX_EXEC_FLAGS)
    # Without a credential, the note says how to give one.
    login = Path(os.environ["HOME"], ".claude", ".credentials.json")
    assert claude["notes"] == [
        "no credential found: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, "
        f"or log in so that {login} exists"
    ]


def test_missing_executable_is_not_found(cli: Cli, clean_env: Path) -> None:
    """An agent whose executable is on no `PATH` folder is reported not found (no path, no
    version, flags unknown) and the command exits 1, in JSON and in the table."""
    code, rows, _ = rows_of(cli, "claude-code")
    assert code == ExitCode.FAILED
    (row,) = rows
    assert row["found"] is False
    assert row["ok"] is False
    assert row["path"] is None
    assert row["version"] is None
    assert row["flags_ok"] is None
    assert row["executable"] == "claude"
    assert any("not found on PATH" in note for note in row["notes"])
    table = cli("agents", "check", "claude-code")
    assert table.exit_code == ExitCode.FAILED
    assert "no (claude)" in table.stdout


def test_configured_path_that_does_not_exist_is_not_found(tmp_path: Path) -> None:
    """A configured `executable` path that does not exist is not found, and the row names
    that path (the Python API, as the engine's configuration gives it)."""
    missing = tmp_path / "nowhere" / "claude"
    (row,) = check_agents(["claude-code"], config={"claude-code": {"executable": str(missing)}})
    assert isinstance(row, AgentCheck)
    assert not row.found
    assert not row.ok
    assert row.executable == str(missing)
    assert any("not found there" in note for note in row.notes)


def test_configured_path_is_the_one_run(tmp_path: Path, clean_env: Path) -> None:
    """A configured `executable` path is what is checked, even with another `claude` on
    `PATH`: the row's path and version are the configured script's."""
    write_claude(clean_env, version="1.0.0 (the one on PATH)")
    script = write_claude(tmp_path / "elsewhere", version="2.0.0 (the configured one)")
    (row,) = check_agents(["claude-code"], config={"claude-code": {"executable": str(script)}})
    assert row.path == str(script)
    assert row.version == "2.0.0 (the configured one)"
    assert row.ok


def test_flag_missing_from_help_is_reported(cli: Cli, clean_env: Path) -> None:
    """A CLI that prints a version but whose help lacks one option scopecraft passes
    (`--allowedTools`) is found, with its version, and that option is named as missing; the
    command exits 1 and the table says `missing --allowedTools`."""
    flags = tuple(f for f in CLAUDE_FLAGS if f != "--allowedTools")
    write_claude(clean_env, flags=flags, version="0.1.0 (old)")
    code, rows, _ = rows_of(cli, "claude-code")
    assert code == ExitCode.FAILED
    (row,) = rows
    assert row["found"] is True
    assert row["version"] == "0.1.0 (old)"
    assert row["flags_ok"] is False
    assert row["flags_missing"] == ["--allowedTools"]
    assert any("--allowedTools" in note and "claude --help" in note for note in row["notes"])
    table = cli("agents", "check", "claude-code")
    assert table.exit_code == ExitCode.FAILED
    assert "missing --allowedTools" in table.stdout


def test_subcommand_help_is_the_one_searched(cli: Cli, clean_env: Path) -> None:
    """Codex's unattended options are looked for in `codex exec --help`: one missing there is
    reported with that command, though the top-level help is complete."""
    write_codex(clean_env, exec_flags=tuple(f for f in CODEX_EXEC_FLAGS if f != "--json"))
    code, rows, _ = rows_of(cli, "codex")
    assert code == ExitCode.FAILED
    (row,) = rows
    assert row["flags_missing"] == ["--json"]
    assert any("codex exec --help" in note for note in row["notes"])


def test_help_that_fails_leaves_flags_unknown(cli: Cli, clean_env: Path) -> None:
    """A CLI that answers `--version` but exits non-zero on `--help` with an error has its
    flags unknown, not missing, and the check fails (exit 1): nothing confirms them."""
    write_cli(clean_env / "claude", helps={})
    code, rows, _ = rows_of(cli, "claude-code")
    assert code == ExitCode.FAILED
    (row,) = rows
    assert row["version"] == "9.9.9 (Stand-in)"
    assert row["flags_ok"] is None
    assert row["flags_missing"] == []
    assert any("exited 2" in note for note in row["notes"])


def test_no_secret_is_printed_or_passed(
    cli: Cli, clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With API keys set, the rows say which variable holds a credential and never its value
    (table or JSON), and the CLI's `--version` and `--help` run in a minimal environment: no
    secret, a throwaway home, the telemetry and update switches set."""
    dump = tmp_path / "env.txt"
    write_cli(
        clean_env / "claude",
        helps={"": help_text(CLAUDE_FLAGS)},
        env_dump=dump,
        # Were the key passed on, it would be the version line, and so printed.
        extra='[ -n "${ANTHROPIC_API_KEY:-}" ] && echo "$ANTHROPIC_API_KEY"',
    )
    write_codex(clean_env)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
    code, rows, output = rows_of(cli, "claude-code", "codex")
    table = cli("agents", "check", "claude-code", "codex")
    assert code == ExitCode.OK
    for text in (output, table.stdout + table.stderr):
        assert SECRET not in text
        assert OPENAI_SECRET not in text
    claude, codex = rows
    assert (claude["authenticated"], claude["auth_source"]) == (True, "ANTHROPIC_API_KEY")
    assert (codex["authenticated"], codex["auth_source"]) == (True, "OPENAI_API_KEY")
    assert claude["version"] == "9.9.9 (Stand-in)"
    assert "ANTHROPIC_API_KEY" in table.stdout
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert SECRET not in dump.read_text()
    for name, value in QUIET_ENV.items():
        assert seen[name] == value
    assert seen["HOME"] != str(Path.home())
    assert not Path(seen["HOME"]).exists()  # the throwaway home is gone
    passed = {*QUIET_ENV, "HOME", "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}
    assert set(seen) - passed <= {"PWD", "SHLVL", "_", "OLDPWD"}  # what sh sets itself


def test_login_files_count_and_stay_unread(
    cli: Cli, clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscription login (`.credentials.json` in `CLAUDE_CONFIG_DIR`, `auth.json` in
    `CODEX_HOME`) counts as authenticated; the row names the file, never its content."""
    write_claude(clean_env)
    write_codex(clean_env)
    claude_dir = tmp_path / "claude-config"
    claude_dir.mkdir()
    (claude_dir / ".credentials.json").write_text(json.dumps({"token": SECRET}))
    codex_dir = tmp_path / "codex-home"
    codex_dir.mkdir()
    (codex_dir / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": OPENAI_SECRET}))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude_dir))
    monkeypatch.setenv("CODEX_HOME", str(codex_dir))
    code, rows, output = rows_of(cli, "claude-code", "codex")
    assert code == ExitCode.OK
    claude, codex = rows
    assert claude["auth_source"] == str(claude_dir / ".credentials.json")
    assert codex["auth_source"] == str(codex_dir / "auth.json")
    assert SECRET not in output
    assert OPENAI_SECRET not in output


def test_unknown_agent_exits_3(cli: Cli, clean_env: Path) -> None:
    """Asking about an agent that is not installed is an error (exit 3) naming the ones that
    are."""
    result = cli("agents", "check", "no-such-agent")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no-such-agent" in result.stderr
    assert "claude-code" in result.stderr


def test_unconfigured_command_agent_fails_only_when_named(
    cli: Cli, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `command` agent without argv has nothing to run: `not configured`. It fails the
    check when asked for by name, not when every agent is checked."""
    code, rows, _ = rows_of(cli, "command")
    assert code == ExitCode.FAILED
    (row,) = rows
    assert row["configured"] is False
    assert row["found"] is False
    assert any("no argv configured" in note for note in row["notes"])
    write_claude(clean_env)
    write_codex(clean_env)
    monkeypatch.setenv("SCOPECRAFT_DISABLE_PLUGINS", "agents:fake,agents:gemini,agents:opencode")
    code, rows, _ = rows_of(cli)
    assert [r["name"] for r in rows] == ["claude-code", "codex", "command"]
    assert code == ExitCode.OK


def test_configured_command_agent_is_checked_like_any(tmp_path: Path) -> None:
    """A `command` agent given an argv is checked from that argv: its program, its options
    (placeholders resolved away), its help; an option its help lacks is missing."""
    script = write_cli(tmp_path / "my-agent", helps={"run": help_text(("--task-file",))})
    argv = [str(script), "run", "--task-file", "{prompt_file}", "--quiet", "{workdir}"]
    (row,) = check_agents(["command"], config={"command": {"argv": argv, "prompt_on_stdin": False}})
    assert row.configured
    assert row.program == (str(script),)
    assert row.version == "9.9.9 (Stand-in)"
    assert row.flags_checked == ("--task-file", "--quiet")
    assert row.flags_missing == ("--quiet",)
    assert not row.ok
    assert row.authenticated is None


class _BrokenAgent(AgentAdapter):
    """An agent plugin whose `command()` has a bug (it inherits the optional members'
    defaults)."""

    name = "broken"
    secret_env: tuple[str, ...] = ()
    can_resume = False

    def command(self, request: AgentRequest) -> AgentCommand:
        raise KeyError("a bug")

    def parser(self, session_id: str) -> Any:
        raise NotImplementedError


def test_plugin_whose_command_raises_is_a_finding() -> None:
    """A plugin whose `command()` raises (not an `AgentError` refusal) is reported as a
    fault (configured, not found, the exception named), and the other agents are still
    checked."""
    registry = PluginRegistry(disabled=(), extra={("agents", "broken"): _BrokenAgent})
    broken, fake = check_agents(["broken", "fake"], plugins=registry)
    assert broken.configured
    assert not broken.ok
    assert any("KeyError" in note for note in broken.notes)
    assert fake.found


def test_fake_agent_is_found_as_shell_and_script(clean_env: Path) -> None:
    """The fake agent's program is the shell and its packaged script: both are the row's
    program, the shell its path."""
    (row,) = check_agents(["fake"])
    assert row.found
    assert row.executable == "/bin/sh"
    assert row.program[1].endswith("fake_agent.sh")
    assert Path(row.program[1]).is_file()
    assert "--print" in row.flags_checked


def test_a_hanging_cli_is_killed_at_the_timeout(tmp_path: Path, clean_env: Path) -> None:
    """A CLI that never answers is given up on at the timeout, its whole process group
    killed (the child it started included), and the row says it gave no answer."""
    pids = tmp_path / "pids"
    write_cli(
        clean_env / "claude",
        helps={},
        extra=f"sleep 60 & echo $$ $! >> {shlex.quote(str(pids))}; wait",
    )
    started = time.monotonic()
    (row,) = check_agents(["claude-code"], timeout=0.5)
    assert time.monotonic() - started < 20
    assert row.version is None
    assert row.flags_ok is None
    assert any("gave no answer within 0.5 s" in note for note in row.notes)
    started_pids = [int(p) for p in pids.read_text().split()]
    assert len(started_pids) == 4  # --version and --help: the script and its sleep, each
    deadline = time.monotonic() + 10
    while (alive := [p for p in started_pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- the real CLIs -------------------------------------------------------------------------------


def _offline_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m scopecraft agents check ARGS` under `unshare -n`, with the real CLIs'
    folders first on `PATH`, planted API keys, and a home of the test's."""
    folders = dict.fromkeys(str(Path(require_agent(n)).parent) for n in ("claude", "codex"))
    home = tmp_path / "user"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.pathsep.join([*folders, os.environ.get("PATH", os.defpath)]),
        "HOME": str(home),
        "SCOPECRAFT_HOME": str(tmp_path / "scopecraft-home"),
        "COLUMNS": "200",
        "ANTHROPIC_API_KEY": SECRET,
        "OPENAI_API_KEY": OPENAI_SECRET,
    }
    argv = ["unshare", "-n", sys.executable, "-m", "scopecraft", "agents", "check", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=90, check=False
    )


@pytest.mark.real_agent
def test_real_clis_are_found_and_accept_every_flag(tmp_path: Path) -> None:
    """The installed Claude Code and Codex CLIs, offline, are found on `PATH`, report the
    version npm installed, and their help texts list every option the adapters pass (exit
    0); the planted API keys are named as the credentials and never printed."""
    run = _offline_check(tmp_path, "claude-code", "codex", "--json")
    assert run.returncode == ExitCode.OK, (run.stdout, run.stderr)
    claude, codex = json.loads(run.stdout)
    for row, binary, package, flag in (
        (claude, "claude", "@anthropic-ai/claude-code", "--permission-mode"),
        (codex, "codex", "@openai/codex", "--json"),
    ):
        assert row["ok"] is True, row
        assert row["path"] == require_agent(binary)
        assert row["flags_ok"] is True
        assert row["flags_missing"] == []
        assert flag in row["flags_checked"]
        npm_version = installed_version(package)
        assert npm_version is not None
        assert npm_version in row["version"]
        assert row["authenticated"] is True
    assert claude["auth_source"] == "ANTHROPIC_API_KEY"
    assert codex["auth_source"] == "OPENAI_API_KEY"
    for text in (run.stdout, run.stderr):
        assert SECRET not in text
        assert OPENAI_SECRET not in text


@pytest.mark.real_agent
def test_real_clis_table(tmp_path: Path) -> None:
    """The table for people, with the real CLIs offline: one row each, with the path, the
    version and `ok` for the flags; no secret value."""
    run = _offline_check(tmp_path, "claude-code", "codex")
    assert run.returncode == ExitCode.OK, (run.stdout, run.stderr)
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["AGENT", "FOUND", "VERSION", "FLAGS", "AUTH"]
    claude = next(line for line in lines if line.startswith("claude-code"))
    codex = next(line for line in lines if line.startswith("codex"))
    assert "(Claude Code)" in claude
    assert "ok (" in claude
    assert "codex-cli" in codex
    assert "ok (" in codex
    assert SECRET not in run.stdout + run.stderr

"""Is each agent CLI ready? Found, its version, the options scopecraft passes it, credentials.

`check_agents()` builds each adapter the way the engine does (entry-point group
``scopecraft.agents``, keyword options from ``EngineConfig.agents``) and asks its
``command()`` for every request a session can make of it on this machine: each permission
level, unattended and in a terminal, fresh and resumed, and in a container when the command
starts with the same program. From those argvs it learns the program (the executable, with
the script it runs when it is an interpreter: ``claude``, ``codex``, ``/bin/sh <script>``), the
subcommands (the words before the first option: ``codex exec``) and the options; then it runs
``<program> --version`` and ``<program> [subcommand] --help`` and looks for every option in the
help text.

The program runs with argv only (never a shell), standard input closed, a time limit, in a
throwaway home folder and with a minimal environment: ``PATH``, the locale and time zone, and
the switches that turn the CLIs' telemetry, updates and error reports off. No secret reaches
it. Credentials are looked up without reading a value: which variable of the adapter's
``secret_env`` is set, or which login file exists.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._errors import AgentError, AgentNotFound, PluginError, ScopecraftError
from .._models import Permissions, SessionMode
from .._plugins import PluginRegistry
from ._protocol import AgentAdapter, AgentRequest

__all__ = ["QUIET_ENV", "AgentCheck", "check_agent", "check_agents"]

QUIET_ENV: Mapping[str, str] = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}
"""Set for every ``--version`` and ``--help`` run: the CLIs' telemetry and updates off."""

_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
_MAX_OUTPUT = 1_000_000  # bytes of a --help read; more is not a help text
_MAX_LINE = 200  # characters of a version line or of a quoted error line
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

# Where an agent keeps a subscription login: (variable naming the folder, default folder
# under the home, file), by adapter name. The adapters copy that file into each session.
_LOGIN_FILES: Mapping[str, tuple[str, str, str]] = {
    "claude-code": ("CLAUDE_CONFIG_DIR", ".claude", ".credentials.json"),
    "codex": ("CODEX_HOME", ".codex", "auth.json"),
}

# Stand-ins for what a session puts in a request; they tell these values from the program's
# own words and options in the argv built.
_PROMPT = "scopecraft agents check"
_MODEL = "scopecraft-check-model"
_RESUME_ID = "scopecraft-check-session"
_STAND_IN_DIR = "/scopecraft-check"


@dataclass(frozen=True, slots=True)
class AgentCheck:
    """What `check_agent()` found about one agent.

    Attributes:
        name: The agent's entry-point name (``claude-code``, ``codex``, ...).
        program: The executable the adapter runs, as configured, and the script it runs
            when every command starts with one (what ``--version`` and ``--help`` follow);
            empty when there is none.
        path: Where ``program[0]`` was found (on ``PATH``, or the configured path), or
            ``None`` when it was not.
        version: The first line ``<program> --version`` printed, or ``None`` when it failed.
        flags_checked: Every option the adapter passes, as looked for in the help texts.
        flags_missing: The options no help text mentions.
        flags_ok: True when every option is in the help, False when some are missing,
            ``None`` when that could not be told (not found, or no help text).
        authenticated: Whether a credential was found; ``None`` when the agent needs none.
        auth_source: Where it was found: a variable's name or a login file's path (never a
            value).
        configured: False when the adapter has nothing to run (a ``command`` agent without
            ``argv``).
        notes: Why something is missing or unknown, one sentence each.
    """

    name: str
    program: tuple[str, ...] = ()
    path: str | None = None
    version: str | None = None
    flags_checked: tuple[str, ...] = ()
    flags_missing: tuple[str, ...] = ()
    flags_ok: bool | None = None
    authenticated: bool | None = None
    auth_source: str | None = None
    configured: bool = True
    notes: tuple[str, ...] = ()

    @property
    def executable(self) -> str | None:
        """What the adapter runs, as configured (a name on ``PATH`` or a path)."""
        return self.program[0] if self.program else None

    @property
    def found(self) -> bool:
        """True when the executable exists and may be run."""
        return self.path is not None

    @property
    def ok(self) -> bool:
        """True when the agent is found and its help mentions every option it is passed."""
        return self.configured and self.found and self.flags_ok is True

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready mapping (``found``, ``executable`` and ``ok`` included)."""
        return {
            "name": self.name,
            "ok": self.ok,
            "configured": self.configured,
            "executable": self.executable,
            "program": list(self.program),
            "found": self.found,
            "path": self.path,
            "version": self.version,
            "flags_ok": self.flags_ok,
            "flags_checked": list(self.flags_checked),
            "flags_missing": list(self.flags_missing),
            "authenticated": self.authenticated,
            "auth_source": self.auth_source,
            "notes": list(self.notes),
        }


def check_agents(
    names: Iterable[str] | None = None,
    *,
    plugins: PluginRegistry | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 15.0,
    environ: Mapping[str, str] | None = None,
) -> list[AgentCheck]:
    """Check agents by entry-point name, each built as the engine builds it.

    Args:
        names: The agents to check, in this order; ``None`` for every installed one, sorted.
        plugins: Where agents are found (default: a new `PluginRegistry`).
        config: Keyword options per agent name, as ``EngineConfig.agents``.
        timeout: Seconds each ``--version`` or ``--help`` run may take.
        environ: The environment to look in for ``PATH`` and credentials (default: this
            process's).

    Returns:
        One row per agent. An agent that cannot be built from its options is a row that is
        not found, with the reason in its notes.

    Raises:
        AgentNotFound: a name is not an installed (enabled) agent.
    """
    registry = plugins or PluginRegistry()
    options = config or {}
    wanted = list(dict.fromkeys(names)) if names is not None else registry.names("agents")
    for name in wanted:
        try:
            registry.info("agents", name)
        except PluginError as exc:
            raise AgentNotFound(str(exc)) from exc
    rows = []
    for name in wanted:
        agent_options = dict(options.get(name, {}))
        try:
            adapter = registry.create("agents", name, AgentAdapter, **agent_options)
        except ScopecraftError as exc:
            rows.append(AgentCheck(name=name, notes=(f"cannot be built: {exc}",)))
            continue
        rows.append(
            check_agent(adapter, name=name, options=agent_options, timeout=timeout, environ=environ)
        )
    return rows


def check_agent(
    adapter: AgentAdapter,
    *,
    name: str | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = 15.0,
    environ: Mapping[str, str] | None = None,
) -> AgentCheck:
    """Check one adapter instance: its executable, version, options and credentials.

    Args:
        adapter: The adapter, configured.
        name: The name to report (default: ``adapter.name``).
        options: The keyword options it was built with (a ``user_home`` there is where its
            login file is looked for).
        timeout: Seconds each ``--version`` or ``--help`` run may take.
        environ: The environment to look in for ``PATH`` and credentials (default: this
            process's).

    Returns:
        The row.
    """
    env = os.environ if environ is None else environ
    row = _check_program(adapter, name or adapter.name, env, timeout)
    authenticated, source, hint = _credentials(adapter, options or {}, env)
    return replace(
        row,
        authenticated=authenticated,
        auth_source=source,
        notes=(*row.notes, hint) if hint and row.configured else row.notes,
    )


def missing_program(adapter: AgentAdapter, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the program the adapter runs cannot be found on this host, or ``None``.

    Cheap (no process is started): the adapter builds its command for stand-in requests and
    the first word is looked up on ``PATH`` (or checked as the path it is). The engine asks
    this before it queues a session on an executor that runs agents on the host.

    Args:
        adapter: The adapter, configured.
        environ: The environment whose ``PATH`` is searched (default: this process's).

    Returns:
        One sentence naming the program and how to install it or point at it; ``None`` when it
        is found, or when the adapter builds no command (the start reports that itself).
    """
    env = os.environ if environ is None else environ
    argvs, _refusals, _failures = _argvs(adapter)
    if not argvs:
        return None
    executable = argvs[0][0]
    if _resolve(executable, env) is not None:
        return None
    return (
        f"the {adapter.name} agent runs {_not_found(executable)}; install it, or set its path "
        "(EngineConfig.agents, `executable`); `scopecraft doctor` checks every agent"
    )


def _not_found(executable: str) -> str:
    """``'claude' is not found on PATH (or may not be run)``, or ``there`` for a path."""
    where = "on PATH" if os.sep not in executable else "there"
    return f"{executable!r} is not found {where} (or may not be run)"


def _check_program(
    adapter: AgentAdapter, name: str, env: Mapping[str, str], timeout: float
) -> AgentCheck:
    argvs, refusals, failures = _argvs(adapter)
    if not argvs:
        # Refusing every request is how an adapter says it has nothing to run; failing
        # them is a fault, reported as one.
        if failures:
            return AgentCheck(name=name, notes=(f"builds no command: {failures[0]}",))
        reason = refusals[0] if refusals else "the adapter builds no command"
        return AgentCheck(
            name=name,
            configured=False,
            notes=(f"not configured: {reason.removeprefix(f'{adapter.name}: ')}",),
        )
    program = _program(argvs)
    path = _resolve(program[0], env)
    checked = tuple(dict.fromkeys(opt for argv in argvs for opt in _options(argv, program)))
    if path is None:
        note = _not_found(program[0])
        return AgentCheck(name=name, program=program, flags_checked=checked, notes=(note,))
    run = (path, *program[1:])
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="scopecraft-check-") as home:
        run_env = _minimal_env(env, home)
        version = _version(run, run_env, home, timeout, notes)
        missing, flags_ok = _flags(argvs, program, run, run_env, home, timeout, notes)
    return AgentCheck(
        name=name,
        program=program,
        path=path,
        version=version,
        flags_checked=checked,
        flags_missing=missing,
        flags_ok=flags_ok,
        notes=tuple(notes),
    )


# -- the commands the adapter builds ---------------------------------------------------------


def _requests() -> list[AgentRequest]:
    requests = []
    for in_container in (False, True):
        for terminal in (False, True):
            for permissions in Permissions:
                for resume_id in (None, _RESUME_ID):
                    requests.append(
                        AgentRequest(
                            mode=SessionMode.INTERACTIVE if terminal else SessionMode.AUTONOMOUS,
                            prompt=_PROMPT,
                            workdir=f"{_STAND_IN_DIR}/work",
                            model=_MODEL,
                            dangerous=permissions is Permissions.FULL,
                            permissions=permissions,
                            resume_id=resume_id,
                            terminal=terminal,
                            in_container=in_container,
                            prompt_file=f"{_STAND_IN_DIR}/prompt.md" if terminal else None,
                            state_dir=f"{_STAND_IN_DIR}/state",
                            hooks_file=f"{_STAND_IN_DIR}/hooks.jsonl" if terminal else None,
                        )
                    )
    return requests


def _argvs(adapter: AgentAdapter) -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    """The argvs the adapter builds on the host, and those in a container that start with
    the same program (the image's CLI takes the same options); the reasons of its refusals
    (``AgentError``) and of its failures (any other exception)."""
    host: list[tuple[str, ...]] = []
    container: list[tuple[str, ...]] = []
    refusals: list[str] = []
    failures: list[str] = []
    for request in _requests():
        try:
            argv = tuple(adapter.command(request).argv)
        except AgentError as exc:
            refusals.append(str(exc))
            continue
        except Exception as exc:  # a plugin's bug is a finding of the check, not its crash
            failures.append(f"command() raised {type(exc).__name__}: {exc}")
            continue
        if argv:
            (container if request.in_container else host).append(argv)
    if not host:
        return [], refusals, failures
    first = host[0][0]
    return host + [argv for argv in container if argv[0] == first], refusals, failures


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"


def _stand_ins(arg: str) -> bool:
    return arg in (_PROMPT, _MODEL, _RESUME_ID) or arg.startswith(f"{_STAND_IN_DIR}/")


def _program(argvs: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The executable, and the scripts it runs that every argv shares (``/bin/sh
    <script>``): the following words that are paths of existing files."""
    program = [argvs[0][0]]
    for words in itertools.islice(zip(*argvs, strict=False), 1, None):
        word = words[0]
        if any(w != word for w in words) or os.sep not in word or _stand_ins(word):
            break
        if not Path(word).is_file():
            break
        program.append(word)
    return tuple(program)


def _subcommand(argv: tuple[str, ...], program: tuple[str, ...]) -> tuple[str, ...]:
    """The words between the program and the first option (``exec``, ``resume``), request
    values (a session id to resume) left out."""
    words: list[str] = []
    for arg in argv[len(program) :]:
        if _is_option(arg):
            break
        if not _stand_ins(arg):
            words.append(arg)
    return tuple(words)


def _options(argv: tuple[str, ...], program: tuple[str, ...]) -> list[str]:
    """The options of an argv, by name (``--allowedTools=X`` is ``--allowedTools``); what
    follows ``--`` is positional."""
    found = []
    for arg in argv[len(program) :]:
        if arg == "--":
            break
        if _is_option(arg) and not _stand_ins(arg):
            found.append(arg.split("=", 1)[0])
    return found


# -- running the program ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ran:
    code: int | None
    stdout: str
    stderr: str
    error: str | None = None


def _minimal_env(env: Mapping[str, str], home: str) -> dict[str, str]:
    run_env = {name: env[name] for name in _PASSED_ENV if env.get(name)}
    run_env.update(QUIET_ENV)
    run_env["HOME"] = home
    return run_env


def _run(argv: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float) -> _Ran:
    """Run argv with standard input closed; its own process group is killed on a timeout.
    Output goes to files, so a chatty program never blocks on a full pipe."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            return _Ran(None, "", "", f"cannot be run: {exc.strerror or exc}")
        try:
            code: int | None = proc.wait(timeout=timeout)
            error = None
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it ended at the last moment
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code, error = None, f"gave no answer within {timeout:g} s"
        return _Ran(code, _read(out), _read(err), error)


def _read(handle: Any) -> str:
    handle.seek(0)
    text = handle.read(_MAX_OUTPUT).decode("utf-8", "replace")
    return _ANSI.sub("", text)


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            line = " ".join(line.split())
            return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"
    return None


def _shown(argv: Sequence[str]) -> str:
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def _failure(argv: Sequence[str], ran: _Ran) -> str:
    what = ran.error or f"exited {ran.code}"
    said = _first_line(ran.stderr) or _first_line(ran.stdout)
    return f"`{_shown(argv)}` {what}" + (f": {said}" if said else "")


def _version(
    run: tuple[str, ...], env: Mapping[str, str], cwd: str, timeout: float, notes: list[str]
) -> str | None:
    argv = (*run, "--version")
    ran = _run(argv, env, cwd, timeout)
    line = _first_line(ran.stdout) or _first_line(ran.stderr)
    if ran.code == 0 and line:
        return line
    notes.append(_failure(argv, ran))
    return None


def _mentions(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def _flags(
    argvs: Sequence[tuple[str, ...]],
    program: tuple[str, ...],
    run: tuple[str, ...],
    env: Mapping[str, str],
    cwd: str,
    timeout: float,
    notes: list[str],
) -> tuple[tuple[str, ...], bool | None]:
    """Look for each argv's options in the help of its subcommand; return the missing ones,
    and whether all were there (``None`` when a help text could not be read)."""
    by_help: dict[tuple[str, ...], list[str]] = {}
    for argv in argvs:
        wanted = by_help.setdefault(_subcommand(argv, program), [])
        wanted.extend(o for o in _options(argv, program) if o not in wanted)
    missing: list[str] = []
    unknown = False
    for subcommand, wanted in by_help.items():
        argv = (*run, *subcommand, "--help")
        ran = _run(argv, env, cwd, timeout)
        text = f"{ran.stdout}\n{ran.stderr}"
        absent = [o for o in wanted if not _mentions(text, o)]
        # Some programs print their help and exit non-zero: the text still counts when it
        # holds every option; otherwise it may be an error message, and nothing is known.
        if ran.error is not None or (ran.code != 0 and absent):
            notes.append(_failure(argv, ran))
            unknown = True
            continue
        if absent:
            notes.append(f"not in `{_shown(argv)}`: {', '.join(absent)}")
            missing.extend(o for o in absent if o not in missing)
    if missing:
        return tuple(missing), False
    return (), None if unknown else True


def _resolve(executable: str, env: Mapping[str, str]) -> str | None:
    """The executable's absolute path: looked up on ``PATH``, or the path it is."""
    if os.sep in executable:
        path = Path(executable).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.absolute())
        return None
    found = shutil.which(executable, path=env.get("PATH", os.defpath))
    return str(Path(found).absolute()) if found else None


# -- credentials ------------------------------------------------------------------------------


def _credentials(
    adapter: AgentAdapter, options: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[bool | None, str | None, str | None]:
    """Whether a credential is there, where (a variable's name or a file's path), and when
    there is none, how to give one."""
    for variable in adapter.secret_env:
        if env.get(variable):
            return True, variable, None
    ways = [f"set {' or '.join(adapter.secret_env)}"] if adapter.secret_env else []
    login = _LOGIN_FILES.get(adapter.name)
    if login is not None:
        variable, default, file = login
        home = env.get("HOME") or str(Path.home())
        folder = options.get("user_home") or env.get(variable) or Path(home, default)
        path = Path(folder).expanduser() / file
        if path.is_file():
            return True, str(path), None
        ways.append(f"log in so that {path} exists")
    if not ways:
        return None, None, None
    return False, None, f"no credential found: {', or '.join(ways)}"

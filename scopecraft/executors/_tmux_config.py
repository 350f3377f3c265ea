"""Configuration of the tmux executor, and the validation of everything that reaches tmux.

Nothing here starts tmux: the configuration is checked when the plugin loads, so a bad socket
name fails the engine's start, not a session mid-run.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._errors import InvalidName

__all__ = [
    "OPTION_PREFIX",
    "TmuxExecutorConfig",
    "clean_input_line",
    "split_input",
    "validate_label",
    "validate_runtime_name",
]

OPTION_PREFIX = "@"
"""tmux user options start with ``@``; labels become ``@scopecraft.session`` and so on."""

# Session names that are safe as exact targets: tmux gives ':' and '.' a meaning in targets
# (and silently turns them into '_' in new names, so 'a.b' would become 'a_b'), and a leading
# '$', '%' or '@' would be read as an id. Only letters, digits, '_' and '-' are allowed.
_RUNTIME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")
_SOCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+")
_MAX_LABEL_VALUE = 1024


def validate_runtime_name(value: str) -> str:
    """Return ``value`` if it can name a tmux session and be targeted exactly.

    Raises:
        InvalidName: anything but letters, digits, ``_`` and ``-`` (starting with a letter or
            digit, at most 200 characters). ``.`` and ``:`` are refused, not replaced: tmux
            reads them as window and pane separators in targets.
    """
    if not isinstance(value, str) or _RUNTIME_NAME.fullmatch(value) is None:
        raise InvalidName(
            "tmux session name",
            str(value),
            "use letters, digits, '_' and '-' only, starting with a letter or digit "
            "(at most 200 characters); '.' and ':' have a meaning in tmux targets",
        )
    return value


def validate_label(key: str, value: str) -> tuple[str, str]:
    """Return a label as ``(user option name, value)`` after checking both.

    Raises:
        InvalidName: the key is not a dotted lowercase name (``scopecraft.session``), or the
            value holds control characters or is longer than 1024 characters.
    """
    if _LABEL_KEY.fullmatch(key) is None:
        raise InvalidName("label", key, "use a dotted lowercase name like scopecraft.session")
    if len(value) > _MAX_LABEL_VALUE or any(_is_control(ch) for ch in value):
        raise InvalidName(
            "label value", value, "must be at most 1024 characters without control characters"
        )
    return OPTION_PREFIX + key, value


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


def clean_input_line(line: str) -> str:
    """Remove control characters from one line of input (tabs become spaces).

    What is left is only printable text: no escape sequence, no Enter, no ``C-c`` can be
    smuggled into the terminal inside it.
    """
    line = line.replace("\t", " ")
    return "".join(ch for ch in line if not _is_control(ch))


def split_input(text: str) -> list[str]:
    """Split feedback into the lines to type, each cleaned; blank lines are dropped.

    ``\\r\\n``, ``\\r``, ``\\n`` and the other Unicode line breaks all end a line.
    """
    lines = [clean_input_line(part) for part in text.splitlines()]
    return [line for line in lines if line.strip()]


class TmuxExecutorConfig(BaseModel):
    """Keyword configuration of `TmuxExecutor`.

    Given as ``EngineConfig.executors["tmux"]`` or as keywords to the constructor; every
    field has a default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tmux"] = Field(default="tmux", description="The entry-point name.")
    socket_name: str = Field(
        default="scopecraft",
        description="Name of the tmux server's socket (`tmux -L NAME`), in tmux's socket "
        "folder (`$TMUX_TMPDIR` or `/tmp`, then `tmux-UID`). Ignored when `socket_path` is set.",
    )
    socket_path: str | None = Field(
        default=None, description="Absolute path of the server's socket (`tmux -S PATH`)."
    )
    tmux: str = Field(default="tmux", description="The tmux binary (a name on PATH or a path).")
    shell: str = Field(
        default="/bin/sh",
        description="POSIX shell that runs the pane's constant launcher (resolved once to the "
        "real file, so a replaced `/bin/sh` symlink does not break new sessions).",
    )
    config_file: str = Field(
        default=os.devnull,
        description="Configuration the server loads when scopecraft starts it (`tmux -f`); "
        "the default loads none, so a personal `~/.tmux.conf` cannot change how agents run.",
    )
    width: int = Field(default=200, ge=20, le=1000, description="Columns of a new pane.")
    height: int = Field(default=50, ge=5, le=500, description="Rows of a new pane.")
    echo_input: bool = Field(
        default=False,
        description="Leave the terminal's echo on. Off by default, so text typed into the "
        "agent (feedback) is not taken for the agent's own output; full-screen agents such "
        "as Claude Code draw their own input either way.",
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds per tmux command.")
    control_mode: bool = Field(
        default=True,
        description="Start sessions through one persistent tmux control-mode client (`tmux "
        "-C`, connected at the first start, with a session of its own named "
        "`_scopecraft-control-...` that ends with it) instead of one `tmux` process per "
        "start: several milliseconds less per start. Off: every start runs its own `tmux`.",
    )
    max_threads: int = Field(
        default=8,
        ge=1,
        le=64,
        description="tmux commands and file reads in flight at once, for watching (state, "
        "output) and for acting (start, input, stop) each.",
    )
    snapshot_ttl: float = Field(
        default=0.1,
        ge=0,
        description="Seconds one listing of the server's panes answers `state()` for every "
        "session (one tmux call per poll, however many sessions run); a runtime is declared "
        "missing only after a fresh listing.",
    )
    settle: float = Field(
        default=0.05,
        ge=0,
        description="Once a pane is dead, its log must stay unchanged this long before the "
        "exit is reported, so the last output piped out of tmux is read.",
    )

    @field_validator("socket_name")
    @classmethod
    def _check_socket_name(cls, value: str) -> str:
        if _SOCKET_NAME.fullmatch(value) is None:
            raise ValueError(
                "socket_name: use letters, digits, '.', '_' and '-' (at most 100 characters)"
            )
        return value

    @field_validator("socket_path")
    @classmethod
    def _check_socket_path(cls, value: str | None) -> str | None:
        if value is not None and (not os.path.isabs(value) or any(_is_control(ch) for ch in value)):
            raise ValueError("socket_path must be an absolute path without control characters")
        return value

    @field_validator("tmux", "config_file", "shell")
    @classmethod
    def _check_program(cls, value: str) -> str:
        if not value or value.startswith("-") or any(_is_control(ch) for ch in value):
            raise ValueError(f"{value!r} is not a usable program or file name")
        return value

    def server_args(self) -> list[str]:
        """The arguments that select the server: ``-L NAME`` or ``-S PATH``."""
        if self.socket_path is not None:
            return ["-S", self.socket_path]
        return ["-L", self.socket_name]

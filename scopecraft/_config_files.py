"""Configuration files: ``EngineConfig`` read from TOML, in layers.

The layers, each overriding the one before: ``<home>/config.toml``, then
``<repo>/.scopecraft/config.toml`` (the repository wins over the user), then the file named by
``$SCOPECRAFT_CONFIG``; the ``config`` given to `scopecraft.Engine.open()` wins over all.
Tables merge key by key (``[agents.claude-code]`` in the repository adds to the user's
``[agents]``); any other value replaces the one below it. Each file is checked alone, so an
unknown key or a bad value is refused naming its file and key. A file is read bounded (1 MiB;
a repository's file may come from anyone who can commit to it).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from ._errors import ConfigError

__all__ = ["ConfigLayers", "config_files", "load_config_files", "merge_config"]

MAX_CONFIG_BYTES = 1024 * 1024
"""Largest configuration file read."""

ENV_VAR = "SCOPECRAFT_CONFIG"
"""Names one more configuration file, the last of the layers."""


@dataclass(frozen=True)
class ConfigLayers:
    """The configuration the files give, merged, and where each top-level key came from.

    Attributes:
        values: The merged values of every file found.
        files: The files read, in order.
        sources: For each top-level key, the last file that set it.
    """

    values: dict[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    sources: dict[str, Path] = field(default_factory=dict)


def _repo_root(repo: Path) -> Path:
    """The folder holding ``.git`` at or above ``repo`` (``repo`` itself when none does)."""
    for folder in (repo, *repo.parents):
        if (folder / ".git").exists():
            return folder
    return repo


def config_files(home: Path, repo: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The configuration files that apply, in order, whether they exist or not (the one
    ``$SCOPECRAFT_CONFIG`` names only when set)."""
    env = os.environ if environ is None else environ
    files = [home / "config.toml", _repo_root(repo) / ".scopecraft" / "config.toml"]
    named = env.get(ENV_VAR)
    if named:
        files.append(Path(named).expanduser())
    return files


def _read(path: Path, *, required: bool) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        # No such file (a home under a file is the store's error to report, not this one's).
        if required:
            raise ConfigError(
                f"{path}: the configuration file named by ${ENV_VAR} does not exist"
            ) from None
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the configuration file is over {MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the configuration file is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: the configuration file is nested too deeply") from exc
    return data


def _check(path: Path, data: dict[str, Any]) -> None:
    from ._config import EngineConfig

    try:
        EngineConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ConfigError(f"{path}: {problems}") from exc


def merge_config(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, other values replace."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_config(below, value)
        else:
            merged[key] = value
    return merged


def load_config_files(
    home: Path, repo: Path, environ: Mapping[str, str] | None = None
) -> ConfigLayers:
    """Read and merge the configuration files of ``home`` and ``repo``.

    Raises:
        ConfigError: a file is unreadable, too big, not TOML, or holds an unknown key or a bad
            value (the message names the file and the key); the file ``$SCOPECRAFT_CONFIG``
            names does not exist.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    read: list[Path] = []
    sources: dict[str, Path] = {}
    files = config_files(home, repo, env)
    for index, path in enumerate(files):
        data = _read(path, required=index == 2)
        if data is None:
            continue
        _check(path, data)
        values = merge_config(values, data)
        read.append(path)
        sources.update(dict.fromkeys(data, path))
    return ConfigLayers(values=values, files=tuple(read), sources=sources)

"""Every check in order: `run_doctor()`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._config import EngineConfig
from .._errors import ConfigError
from .._plugins import PluginRegistry
from ._backends import check_agents_ready, check_docker, check_tmux
from ._model import DoctorCheck
from ._repository import check_git, check_home, check_repository, check_store

__all__ = ["OPTIONAL_BACKENDS", "run_doctor"]

OPTIONAL_BACKENDS = ("docker", "tmux")
"""What ``require`` may name besides the installed agents."""

_DB_NAME = "scopecraft.db"  # the file SqliteStorage keeps in the home folder


def run_doctor(
    repo: str | os.PathLike[str] = ".",
    *,
    home: str | os.PathLike[str] | None = None,
    config: EngineConfig | None = None,
    plugins: PluginRegistry | None = None,
    require: Iterable[str] = (),
    timeout: float = 15.0,
    environ: Mapping[str, str] | None = None,
) -> list[DoctorCheck]:
    """Check everything a session needs, changing nothing.

    Args:
        repo: Any folder of the git repository.
        home: scopecraft's home folder (default ``$SCOPECRAFT_HOME`` or ``~/.scopecraft``).
        config: The engine configuration (default ``EngineConfig()``): the task layout, the
            Docker and tmux executors' options, the default image, the agents' options.
        plugins: Where agents are found (default: a new `PluginRegistry`).
        require: Optional parts that must be there: ``docker``, ``tmux`` or an agent's name
            (``claude-code``); each one missing then fails instead of warning.
        timeout: Seconds each agent's ``--version`` or ``--help`` may take.
        environ: The environment to look in (``PATH``, ``DOCKER_HOST``, credentials);
            default: this process's.

    Returns:
        The checks, in the order ``scopecraft doctor`` prints them.

    Raises:
        ConfigError: ``require`` names something that is neither a backend nor an installed
            agent.
    """
    env = dict(os.environ if environ is None else environ)
    cfg = config or EngineConfig()
    registry = plugins or PluginRegistry()
    agents = registry.names("agents")
    required = {name.strip() for name in require if name.strip()}
    unknown = sorted(required - set(OPTIONAL_BACKENDS) - set(agents))
    if unknown:
        raise ConfigError(
            f"cannot require {', '.join(map(repr, unknown))}: name "
            f"{', '.join((*OPTIONAL_BACKENDS, *agents))}"
        )
    if home is not None:
        home_path = Path(home).expanduser()
    elif env.get("SCOPECRAFT_HOME"):
        home_path = Path(env["SCOPECRAFT_HOME"]).expanduser()
    else:
        home_path = Path.home() / ".scopecraft"
    home_path = Path(os.path.abspath(home_path))
    checks = [check_git(env)]
    if checks[0].status != "fail":
        checks += check_repository(Path(repo), home_path, cfg, env)
    checks += check_docker(cfg, env, required="docker" in required)
    checks.append(check_tmux(cfg, env, required="tmux" in required))
    checks += check_agents_ready(registry, cfg, env, required, timeout)
    checks.append(check_home(home_path))
    checks.append(check_store(home_path / _DB_NAME))
    return checks

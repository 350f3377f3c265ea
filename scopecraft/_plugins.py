"""Plugin discovery through entry points, for built-ins and third parties alike.

Groups: ``scopecraft.executors``, ``scopecraft.storage``, ``scopecraft.policies``,
``scopecraft.worktrees``, ``scopecraft.agents``. A name offered by two distributions is refused;
``SCOPECRAFT_DISABLE_PLUGINS`` (comma-separated ``name`` or ``group:name``, for example
``executors:docker``) hides plugins; a plugin that fails to import names its distribution.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs

from ._errors import PluginError

__all__ = ["GROUPS", "PluginInfo", "PluginRegistry"]

log = logging.getLogger("scopecraft.plugins")

GROUPS = ("executors", "storage", "policies", "worktrees", "agents")


@attrs.frozen
class PluginInfo:
    """One discovered plugin.

    Attributes:
        group: Short group name (``executors``, ...).
        name: The entry-point name.
        value: The ``module:attribute`` it points to.
        distribution: The distribution that supplied it (``scopecraft`` for built-ins).
    """

    group: str
    name: str
    value: str
    distribution: str


def _distribution_of(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return str(getattr(dist, "name", None) or "an unknown distribution")


def _disabled_from_env() -> frozenset[str]:
    raw = os.environ.get("SCOPECRAFT_DISABLE_PLUGINS", "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


class PluginRegistry:
    """Finds, validates and loads plugins of each group.

    Args:
        disabled: Names (``name`` or ``group:name``) to hide; default from
            ``SCOPECRAFT_DISABLE_PLUGINS``.
        extra: In-process plugins to add, as ``{(group, name): object}`` (for tests and for
            embedding applications); they are subject to the same duplicate check.
    """

    def __init__(
        self,
        *,
        disabled: Iterable[str] | None = None,
        extra: dict[tuple[str, str], Any] | None = None,
    ) -> None:
        self._disabled = frozenset(disabled) if disabled is not None else _disabled_from_env()
        self._extra = dict(extra or {})
        self._found: dict[str, dict[str, tuple[PluginInfo, EntryPoint | None]]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._scanned: dict[str, list[EntryPoint]] | None = None

    def _entry_points(self, group: str) -> list[EntryPoint]:
        # One scan of the installed distributions serves every group: each scan reads every
        # distribution's metadata, which is most of a short CLI call's time.
        if self._scanned is None:
            installed = entry_points()
            self._scanned = {
                f"scopecraft.{name}": list(installed.select(group=f"scopecraft.{name}"))
                for name in GROUPS
            }
        return self._scanned[f"scopecraft.{group}"]

    def _is_disabled(self, group: str, name: str) -> bool:
        return name in self._disabled or f"{group}:{name}" in self._disabled

    def _discover(self, group: str) -> dict[str, tuple[PluginInfo, EntryPoint | None]]:
        if group not in GROUPS:
            raise PluginError(f"unknown plugin group {group!r}; use one of {', '.join(GROUPS)}")
        if group in self._found:
            return self._found[group]
        found: dict[str, tuple[PluginInfo, EntryPoint | None]] = {}
        for ep in self._entry_points(group):
            info = PluginInfo(group, ep.name, ep.value, _distribution_of(ep))
            if ep.name in found:
                other = found[ep.name][0]
                if other.value == info.value and other.distribution == info.distribution:
                    continue
                raise PluginError(
                    f"two plugins are named {ep.name!r} in scopecraft.{group}: "
                    f"{other.value} from {other.distribution} and {info.value} from "
                    f"{info.distribution}; uninstall one or disable it with "
                    f"SCOPECRAFT_DISABLE_PLUGINS={group}:{ep.name}"
                )
            found[ep.name] = (info, ep)
        for (extra_group, name), obj in self._extra.items():
            if extra_group != group:
                continue
            if name in found and found[name][1] is not None:
                raise PluginError(
                    f"plugin {name!r} in scopecraft.{group} is already provided by "
                    f"{found[name][0].distribution}"
                )
            value = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"
            found[name] = (PluginInfo(group, name, value, "(in process)"), None)
            self._loaded[(group, name)] = obj
        self._found[group] = {
            name: item for name, item in found.items() if not self._is_disabled(group, name)
        }
        return self._found[group]

    def names(self, group: str) -> list[str]:
        """Return the enabled plugin names of ``group``, sorted."""
        return sorted(self._discover(group))

    def info(self, group: str, name: str) -> PluginInfo:
        """Return what is known of one plugin.

        Raises:
            PluginError: no enabled plugin of that name.
        """
        found = self._discover(group)
        if name not in found:
            raise PluginError(self._missing_message(group, name))
        return found[name][0]

    def _missing_message(self, group: str, name: str) -> str:
        if self._is_disabled(group, name):
            return f"the {group} plugin {name!r} is disabled by SCOPECRAFT_DISABLE_PLUGINS"
        available = ", ".join(self.names(group)) or "none"
        return f"no {group} plugin named {name!r} is installed (available: {available})"

    def load(self, group: str, name: str) -> Any:
        """Import and return the object an entry point names (usually a class).

        Raises:
            PluginError: unknown, disabled, or broken (the message names its distribution).
        """
        key = (group, name)
        if key in self._loaded:
            return self._loaded[key]
        info = self.info(group, name)
        ep = self._found[group][name][1]
        assert ep is not None  # in-process plugins are in _loaded already
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(
                f"the {group} plugin {name!r} from {info.distribution} failed to load "
                f"({info.value}): {type(exc).__name__}: {exc}"
            ) from exc
        self._loaded[key] = obj
        log.debug("loaded %s plugin %s from %s", group, name, info.distribution)
        return obj

    def create(self, group: str, name: str, protocol: type, **config: Any) -> Any:
        """Load a plugin, instantiate it with ``config`` and check it meets ``protocol``.

        Raises:
            PluginError: it cannot be loaded, instantiated, or does not meet the protocol.
        """
        factory = self.load(group, name)
        info = self.info(group, name)
        try:
            instance = factory(**config) if callable(factory) else factory
        except TypeError as exc:
            raise PluginError(
                f"the {group} plugin {name!r} from {info.distribution} rejected its "
                f"configuration {sorted(config)}: {exc}"
            ) from exc
        check_instance(instance, protocol, what=f"{group} plugin {name!r} from {info.distribution}")
        return instance


def missing_members(instance: object, protocol: type) -> list[str]:
    """The members of ``protocol`` (a `typing.Protocol`) that ``instance`` lacks."""
    from typing_extensions import get_protocol_members

    return sorted(m for m in get_protocol_members(protocol) if not _has(instance, m))


def _has(instance: object, name: str) -> bool:
    """Whether ``instance`` has member ``name``, found without running it: a property that
    needs an open store (``store_id``) is there before the store is opened."""
    import inspect

    try:
        inspect.getattr_static(instance, name)
    except AttributeError:
        return False
    return True


def check_instance(instance: object, protocol: type, *, what: str) -> None:
    """Refuse an object given in place of a plugin (``Engine(storage=..., policy=...)``)
    that does not implement ``protocol``, naming the members it lacks.

    Raises:
        PluginError: it does not implement the protocol.
    """
    # Its members found without running them (not isinstance(), which on Python 3.11 reads
    # each one: a store's store_id refuses to be read before it is opened).
    missing = missing_members(instance, protocol)
    if not missing:
        return
    lacking = f" (it lacks {', '.join(missing)})"
    raise PluginError(
        f"the {what}, a {type(instance).__name__}, does not implement "
        f"{protocol.__name__}{lacking}; subclass {protocol.__name__} to inherit the defaults "
        "of its optional members"
    )

"""Plugin discovery through real entry points (fake distributions on ``sys.path``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scopecraft import PluginError
from scopecraft._plugins import PluginRegistry
from scopecraft.executors import Executor
from scopecraft.policies import QueuePolicy


def _distribution(
    root: Path, name: str, entry_points: str, module: str = "", code: str = ""
) -> None:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    if module:
        (root / f"{module}.py").write_text(code)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A folder on ``sys.path`` to install fake distributions into."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("scplug_")]:
        del sys.modules[name]


def test_builtins_are_registered_through_entry_points() -> None:
    """The built-in plugins are found through the same entry-point groups as third parties."""
    registry = PluginRegistry(disabled=())
    assert "local" in registry.names("executors")
    assert {"claude-code", "codex", "command", "fake"} <= set(registry.names("agents"))
    assert "sqlite" in registry.names("storage")
    assert registry.info("executors", "local").distribution == "scopecraft"


def test_duplicate_names_are_refused(site: Path) -> None:
    """A second distribution offering an existing name is refused, naming both."""
    _distribution(site, "scplug-dup", "[scopecraft.executors]\nlocal = scplug_dup:X\n")
    registry = PluginRegistry(disabled=())
    with pytest.raises(PluginError, match="scplug-dup") as info:
        registry.names("executors")
    assert "scopecraft" in str(info.value)


def test_disabled_plugins_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """SCOPECRAFT_DISABLE_PLUGINS hides plugins by name or group:name."""
    monkeypatch.setenv("SCOPECRAFT_DISABLE_PLUGINS", "executors:local, codex")
    registry = PluginRegistry()
    assert "local" not in registry.names("executors")
    assert "codex" not in registry.names("agents")
    with pytest.raises(PluginError, match="disabled"):
        registry.load("executors", "local")


def test_broken_plugin_names_its_distribution(site: Path) -> None:
    """A plugin that fails to import gives an error naming its distribution."""
    _distribution(
        site,
        "scplug-broken",
        "[scopecraft.executors]\nbroken = scplug_broken:Executor\n",
        "scplug_broken",
        "raise RuntimeError('boom at import')\n",
    )
    registry = PluginRegistry(disabled=())
    with pytest.raises(PluginError, match="scplug-broken") as info:
        registry.load("executors", "broken")
    assert "boom at import" in str(info.value)


def test_plugin_must_implement_the_protocol(site: Path) -> None:
    """A plugin that does not implement its protocol is refused when created."""
    _distribution(
        site,
        "scplug-wrong",
        "[scopecraft.executors]\nwrong = scplug_wrong:Wrong\n",
        "scplug_wrong",
        "class Wrong:\n    pass\n",
    )
    registry = PluginRegistry(disabled=())
    with pytest.raises(PluginError, match="does not implement Executor"):
        registry.create("executors", "wrong", Executor)


def test_unknown_group_and_name() -> None:
    """Unknown groups and names are errors that list what exists."""
    registry = PluginRegistry(disabled=())
    with pytest.raises(PluginError, match="unknown plugin group"):
        registry.names("gadgets")
    with pytest.raises(PluginError, match=r"available: .*local"):
        registry.load("executors", "nowhere")


def test_a_plugin_missing_an_optional_member_is_told_which_and_how(site: Path) -> None:
    """A policy written structurally, without the optional members the protocol declares,
    is refused with their names and the way to inherit their defaults; the same policy
    subclassing `QueuePolicy` is accepted and gets the defaults."""
    body = (
        "    def admit(self, session, *, queued): ...\n"
        "    def schedule(self, queued, active, *, now): ...\n"
        "    def check_cost(self, session, totals): ...\n"
        "    def retry_delay(self, session, *, reason, retryable): ...\n"
    )
    code = (
        "from scopecraft.policies import QueuePolicy\n"
        f"class Bare:\n{body}"
        f"class Based(QueuePolicy):\n{body}"
    )
    _distribution(
        site,
        "scplug-policy",
        "[scopecraft.policies]\nbare = scplug_policy:Bare\nbased = scplug_policy:Based\n",
        "scplug_policy",
        code,
    )
    registry = PluginRegistry(disabled=())
    with pytest.raises(PluginError) as refused:
        registry.create("policies", "bare", QueuePolicy)
    message = str(refused.value)
    assert "it lacks cost_scopes, counts_queue" in message
    assert "subclass QueuePolicy to inherit the defaults" in message
    based = registry.create("policies", "based", QueuePolicy)
    assert based.counts_queue is True
    assert based.cost_scopes(None) is None


def test_the_engine_discovers_no_optional_member_by_name() -> None:
    """Optional members are declared on the protocols, never looked up with ``getattr``
    in the engine's core modules."""
    import scopecraft

    engine = Path(scopecraft.__file__).parent / "engine"
    modules = sorted(engine.glob("*.py"))
    assert len(modules) >= 8, "the engine's components"
    for path in modules:
        assert "getattr(" not in path.read_text(encoding="utf-8"), path.name


def test_an_object_given_as_a_policy_must_implement_it(tmp_path: Path) -> None:
    """``Engine(policy=...)`` refuses an object that is not a policy, naming what it lacks."""
    from scopecraft import Engine

    class NotAPolicy:
        def admit(self, session: object, *, queued: int) -> None: ...

    with pytest.raises(
        PluginError, match=r"does not implement QueuePolicy \(it lacks .*check_cost"
    ):
        Engine(tmp_path, home=tmp_path / "home", policy=NotAPolicy())  # type: ignore[arg-type]

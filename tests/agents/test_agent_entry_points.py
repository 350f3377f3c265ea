"""The built-in adapters are registered as entry points and load with keyword config only."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from scopecraft.agents import AgentAdapter


@pytest.mark.parametrize("name", ["claude-code", "codex", "command", "fake"])
def test_entry_point_loads_and_instantiates_without_arguments(name: str) -> None:
    """Each built-in loads from the ``scopecraft.agents`` group, is built with no arguments,
    satisfies ``AgentAdapter`` and reports its entry-point name."""
    (entry,) = [ep for ep in entry_points(group="scopecraft.agents") if ep.name == name]
    adapter = entry.load()()
    assert isinstance(adapter, AgentAdapter)
    assert adapter.name == name

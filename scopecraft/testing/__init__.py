"""Test doubles and contract suites for scopecraft and its plugin authors.

* :class:`MemoryStorage`: an in-memory ``StorageAdapter`` that passes the storage contract.
* :class:`FakeAgent` and :func:`fake_agent_script`: the scripted agent (entry point ``fake``);
  :func:`fake_agent_image`: a local Docker image holding it, built without any registry.
* :mod:`scopecraft.testing.contracts`: one contract suite per protocol, to subclass in your
  own tests with a fixture that provides your implementation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._fake_agent import FakeAgent, fake_agent_script
    from ._images import fake_agent_image
    from ._memory_storage import MemoryStorage

__all__ = ["FakeAgent", "MemoryStorage", "fake_agent_image", "fake_agent_script"]

_LAZY = {
    "FakeAgent": "._fake_agent",
    "MemoryStorage": "._memory_storage",
    "fake_agent_image": "._images",
    "fake_agent_script": "._fake_agent",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scopecraft.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

"""The public surface of scopecraft.tasks: re-exports, __all__ and docstrings stay in step."""

from __future__ import annotations

import importlib
import inspect

import pytest

import scopecraft.tasks

PUBLIC_MODULES = ["_document", "_files", "_identity", "_normalize", "_store"]


def test_all_is_unique_and_importable() -> None:
    """Every name in __all__ exists, and only once."""
    names = scopecraft.tasks.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(scopecraft.tasks, name), name


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_of_the_private_modules_is_re_exported(module_name: str) -> None:
    """A name a private module exports is part of the package's __all__ (they cannot drift)."""
    module = importlib.import_module(f"scopecraft.tasks.{module_name}")
    assert set(module.__all__) <= set(scopecraft.tasks.__all__)


def test_every_public_object_has_a_docstring() -> None:
    """Classes, functions and their public methods all carry a docstring."""
    missing = []
    for name in scopecraft.tasks.__all__:
        obj = getattr(scopecraft.tasks, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                documented = callable(member) or isinstance(member, property)
                if attr.startswith("_") or not documented:
                    continue
                if not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert missing == []

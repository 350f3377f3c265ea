"""The example plugin's executor meets scopecraft's executor contract, like the built-ins."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from scopecraft.executors import Executor
from scopecraft.testing.contracts.executors import ExecutorContract, SpecFactory, spec_factory

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "echo-executor" / "src"


class TestEchoExecutorContract(ExecutorContract):
    """EchoExecutor (imported from the example's source tree) meets the executor contract."""

    @pytest.fixture
    def executor(self, monkeypatch: pytest.MonkeyPatch) -> Executor:
        """An EchoExecutor, imported from the example without installing it."""
        monkeypatch.syspath_prepend(str(SOURCE))
        module = importlib.import_module("scopecraft_echo_executor")
        executor: Executor = module.EchoExecutor()
        assert isinstance(executor, Executor)
        return executor

    @pytest.fixture
    def make_spec(self, tmp_path: Path) -> SpecFactory:
        """Specs under the test's temporary folder."""
        return spec_factory(tmp_path)

"""The executor contract over the local executor (Docker and tmux run it in
tests/executors/test_docker_contract.py and test_tmux_contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scopecraft.executors._local import LocalExecutor
from scopecraft.testing.contracts.executors import ExecutorContract, SpecFactory, spec_factory


class TestLocalExecutorContract(ExecutorContract):
    """LocalExecutor meets the executor contract."""

    @pytest.fixture
    def executor(self) -> LocalExecutor:
        """A local executor."""
        return LocalExecutor()

    @pytest.fixture
    def make_spec(self, tmp_path: Path) -> SpecFactory:
        """Specs under the test's temporary folder."""
        return spec_factory(tmp_path)

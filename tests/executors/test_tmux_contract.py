"""The tmux executor meets the executor contract, on a private tmux server per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from tmux_support import private_server

from scopecraft.executors._tmux import TmuxExecutor
from scopecraft.testing.contracts.executors import ExecutorContract, SpecFactory, spec_factory


class TestTmuxExecutorContract(ExecutorContract):
    """TmuxExecutor meets the executor contract."""

    @pytest.fixture
    def executor(self) -> Iterator[TmuxExecutor]:
        """A tmux executor on the test's own server, polling fast; closed at teardown."""
        with private_server() as socket:
            executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0, settle=0.02)
            yield executor
            anyio.run(executor.aclose)

    @pytest.fixture
    def make_spec(self, tmp_path: Path) -> SpecFactory:
        """Specs under the test's temporary folder."""
        return spec_factory(tmp_path)

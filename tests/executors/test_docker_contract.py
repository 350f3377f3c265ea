"""The Docker executor meets the executor contract, on the real engine with the fake agent's
image (busybox ``/bin/sh``), as the local executor and the example plugin do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from scopecraft.executors._docker import DockerExecutor
from scopecraft.testing.contracts.executors import ExecutorContract, SpecFactory, spec_factory

pytestmark = pytest.mark.docker


class TestDockerExecutorContract(ExecutorContract):
    """DockerExecutor (no network) meets the executor contract."""

    @pytest.fixture
    def executor(self, image: str) -> Iterator[DockerExecutor]:
        """A Docker executor on the shared engine, closed afterwards."""
        docker = DockerExecutor(network="none")
        yield docker
        anyio.run(docker.aclose)

    @pytest.fixture
    def make_spec(self, tmp_path: Path, image: str) -> SpecFactory:
        """Specs under the test's temporary folder, run in the fake agent's image."""
        return spec_factory(tmp_path, image=image)

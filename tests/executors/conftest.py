"""Fixtures shared by the Docker test modules (each module gets its own client and check)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from docker_support import docker_client, leftovers, remove_leftovers, require_docker

from scopecraft.testing._images import fake_agent_image


@pytest.fixture(scope="module")
def image() -> str:
    """The fake agent's image (built once, kept between runs)."""
    require_docker()
    return fake_agent_image()


@pytest.fixture(scope="module")
def client(image: str) -> Iterator[Any]:
    """A docker-py client on the shared engine; after the module nothing of this run is left."""
    with docker_client() as docker:
        yield docker
        left = leftovers(docker)
        remove_leftovers(docker)
        assert not left, f"Docker resources left behind: {left}"

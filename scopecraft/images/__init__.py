"""Container images that run the real agent CLIs, built from what the user installed.

`build_agent_image()` packages the Claude Code or Codex CLI found on this host into an
image ``FROM scratch`` (a static busybox for ``/bin/sh``, the CLI's native program and, for a
dynamically linked one, its libraries), with docker-py and no registry, and returns its tag::

    from scopecraft.images import build_agent_image

    image = build_agent_image("claude-code")
    session = await engine.create_session("auth-05A", executor="docker", image=image)

``scopecraft image build --agent claude-code`` does the same from the command line.
"""

from __future__ import annotations

from ._build import AGENT_LABEL, VERSION_LABEL, build_agent_image
from ._recipes import AGENTS

__all__ = ["AGENTS", "AGENT_LABEL", "VERSION_LABEL", "build_agent_image"]

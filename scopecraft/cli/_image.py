"""``scopecraft image build``: a local image that runs a real agent CLI, built with no registry."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from ._common import emit_json, new_typer, state_of, stderr_is_terminal

__all__ = ["image_app"]

image_app = new_typer("Build container images that run the real agent CLIs.")


class AgentChoice(enum.StrEnum):
    """The agents an image can be built for (`scopecraft.images.AGENTS`)."""

    claude_code = "claude-code"
    codex = "codex"


def _parse_labels(values: list[str]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r}: use KEY=VALUE", param_hint="--label")
        labels[key] = text
    return labels


@image_app.command("build")
def build(
    ctx: typer.Context,
    agent: Annotated[
        AgentChoice, typer.Option("--agent", "-a", help="The agent whose CLI to package.")
    ],
    executable: Annotated[
        Path | None,
        typer.Option(
            "--executable",
            help="The installed CLI (npm's launcher is fine); default: $SCOPECRAFT_AGENT_BIN, "
            "PATH, then .ci/install-agents' cache.",
            metavar="PATH",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag", help="Also tag the image TAG (it keeps its digest tag).", metavar="TAG"
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="Add a label, KEY=VALUE (repeatable).",
            metavar="KEY=VALUE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Build an image FROM scratch that runs the CLI installed here, and print its tag.

    The image holds a static busybox (/bin/sh), the CLI's native program and its shared
    libraries; it is tagged by a digest of that content, so building again is a no-op. Use
    it with `session start --image TAG` or the engine's `default_image`.
    """
    state = state_of(ctx)
    labels = _parse_labels(label or [])
    if stderr_is_terminal() and not state.json:
        typer.echo(f"building the {agent.value} image (a first build takes a while)", err=True)
    from ..images._build import ensure_agent_image

    image = ensure_agent_image(
        agent.value,
        executable=str(executable) if executable is not None else None,
        tag=tag,
        labels=labels,
    )
    if state.json:
        emit_json(
            {
                "tag": image.tag,
                "digest_tag": image.digest_tag,
                "agent": image.agent,
                "version": image.version,
                "executable": str(image.executable),
                "size_bytes": image.size_bytes,
                "built": image.built,
            }
        )
        return
    if stderr_is_terminal():
        what = "built" if image.built else "already there"
        size = image.size_bytes / 1e6
        typer.echo(f"{image.agent} {image.version}: {what}, {size:.0f} MB", err=True)
    typer.echo(image.tag)

"""Helpers for the agent adapter tests: transcripts, parsing, and runs of the fake agent."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from scopecraft.agents import AgentOutcome, OutputParser
from scopecraft.events import Event

AGENT_OUTPUT = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "agent-output"
BUSYBOX = Path("/bin/busybox")


def in_ci() -> bool:
    """True when running in CI (``CI=true``), where missing components fail tests."""
    return os.environ.get("CI", "").lower() == "true"


def parse_lines(parser: OutputParser, lines: Iterable[str], exit_code: int | None = 0) -> Parsed:
    """Feed every line to ``parser``, finish it, and return the events and outcome."""
    events: list[Event] = []
    for line in lines:
        events += parser.feed(line)
    tail, outcome = parser.finish(exit_code)
    return Parsed(events=[*events, *tail], outcome=outcome)


@attrs.frozen
class Parsed:
    """What a parser made of a whole output."""

    events: list[Event]
    outcome: AgentOutcome

    def of_type(self, kind: str) -> list[Any]:
        """The events whose ``type`` is ``kind``, in order."""
        return [event for event in self.events if event.type == kind]


@attrs.frozen
class FakeRun:
    """One finished run of the fake agent."""

    returncode: int
    lines: list[dict[str, Any]]
    raw: list[str]
    stderr: str

    def of_type(self, kind: str, subtype: str | None = None) -> list[dict[str, Any]]:
        """The output lines of ``type`` ``kind`` (and ``subtype``, when given)."""
        return [
            line
            for line in self.lines
            if line.get("type") == kind and (subtype is None or line.get("subtype") == subtype)
        ]

    @property
    def texts(self) -> list[str]:
        """The text blocks of the assistant messages, in order."""
        return [
            block["text"]
            for line in self.of_type("assistant")
            for block in line["message"]["content"]
            if block["type"] == "text"
        ]

    @property
    def result(self) -> dict[str, Any]:
        """The final result line."""
        results = self.of_type("result")
        assert len(results) == 1, self.raw
        return results[0]

    @property
    def init(self) -> dict[str, Any]:
        """The init line."""
        inits = self.of_type("system", "init")
        assert len(inits) == 1, self.raw
        return inits[0]


RunFake = Callable[..., FakeRun]
"""The ``run_fake`` fixture: ``run_fake(*args, stdin="", env=None, cwd=None)``."""

"""The MCP server through the official SDK's own client over stdio, on a real engine running
fake-agent sessions on the local executor."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from scopecraft import LogEntry, Session, Task
from scopecraft.mcp import STANDARD_FORMATS, TOOLS, portable_schema, tool_definitions

EXPECTED_TOOLS = [
    "session_create",
    "session_list",
    "session_get",
    "session_cancel",
    "session_continue",
    "session_logs",
    "task_list",
    "queue_status",
    "costs",
]
LOCAL = {"executor": "local", "agent": "fake"}
# The formats JSON Schema (draft 2020-12, section 7.3) defines; clients' validators know no other.
JSON_SCHEMA_FORMATS = STANDARD_FORMATS


@asynccontextmanager
async def _client(args: list[str], errlog: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=args)
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def _text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def _call(client: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, _text(result)
    data = result.structured_content
    assert isinstance(data, dict)
    assert json.loads(_text(result)) == data, "the text content is the same JSON"
    return data


async def _until(client: ClientSession, session_id: str, statuses: set[str]) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            session = await _call(client, "session_get", session_id=session_id)
            if session["status"] in statuses:
                return session
            await anyio.sleep(0.1)


@pytest.mark.anyio
async def test_sessions_created_watched_continued_and_cancelled_over_stdio(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """Over stdio, the server lists its nine tools with model schemas; a session created
    with session_create runs to completion (watched with session_get), shows in
    session_list, pages its logs with session_logs, continues with session_continue; a
    hanging one is cancelled with session_cancel; task_list, queue_status and costs report;
    bad calls are error results and the server keeps serving."""
    args = ["-m", "scopecraft.mcp", "--repo", str(repo), "--home", str(home)]
    async with _client(args, tmp_path / "server.log") as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == EXPECTED_TOOLS
        for tool in tools:
            properties = tool.input_schema.get("properties", {})
            assert all(p.get("description") for p in properties.values()), tool.name
            assert tool.input_schema.get("additionalProperties") is False
            assert tool.output_schema is not None
            assert tool.description

        listed = await _call(client, "task_list")
        assert {"ok-01A", "hang-01C"} <= {t["id"] for t in listed["tasks"]}
        Task.model_validate(listed["tasks"][0])

        created = await _call(client, "session_create", task_id="ok-01A", **LOCAL)
        assert created["status"] == "queued"
        Session.model_validate(created)
        done = await _until(client, created["id"], {"completed", "failed", "cancelled"})
        assert done["status"] == "completed", done["error"]
        assert done["cost_usd"] == pytest.approx(0.25)

        everything = await _call(client, "session_list", all=True)
        assert [s["id"] for s in everything["sessions"]] == [created["id"]]
        assert (await _call(client, "session_list"))["sessions"] == []

        page = await _call(client, "session_logs", session_id=created["id"], limit=2)
        assert [e["seq"] for e in page["entries"]] == [1, 2]
        assert page["more"] is True
        rest = await _call(
            client, "session_logs", session_id=created["id"], after_seq=page["next_after_seq"]
        )
        assert rest["entries"][0]["seq"] == 3
        assert rest["more"] is False
        LogEntry.model_validate(rest["entries"][0])
        lines = [e["text"] for e in page["entries"] + rest["entries"]]
        assert any("hello from the fake agent" in text for text in lines)

        continued = await _call(
            client, "session_continue", session_id=created["id"], feedback="fake: say again"
        )
        assert continued["attempt"] == 2
        again = await _until(client, created["id"], {"completed", "failed", "cancelled"})
        assert again["status"] == "completed"
        assert again["attempt"] == 2

        hanging = await _call(client, "session_create", task_id="hang-01C", **LOCAL)
        await _until(client, hanging["id"], {"running"})
        queue = await _call(client, "queue_status")
        assert [e["session"]["id"] for e in queue["active"]] == [hanging["id"]]
        cancelled = await _call(client, "session_cancel", session_id=hanging["id"])
        assert cancelled["cancelled"] is True
        assert cancelled["session"]["status"] == "cancelled"
        twice = await _call(client, "session_cancel", session_id=hanging["id"])
        assert twice["cancelled"] is False

        costs = await _call(client, "costs", group_by="task")
        assert costs["total_usd"] == pytest.approx(0.25), "attempt 2 reported no cost"
        assert {r["key"] for r in costs["rows"]} == {"ok-01A", "hang-01C"}

        missing = await client.call_tool("session_get", {"session_id": "ses-doesnotexist"})
        assert missing.is_error
        assert "SessionNotFound" in _text(missing)
        unknown_task = await client.call_tool("session_create", {"task_id": "nope-01Z"})
        assert unknown_task.is_error
        assert "TaskNotFound" in _text(unknown_task)
        bad_args = await client.call_tool("session_create", {"task_id": "ok-01A", "bogus": 1})
        assert bad_args.is_error
        assert "bogus" in _text(bad_args)
        bad_mode = await client.call_tool("session_create", {"task_id": "ok-01A", "mode": "x"})
        assert bad_mode.is_error
        assert "mode" in _text(bad_mode)
        assert (await _call(client, "session_get", session_id=created["id"]))["attempt"] == 2


@pytest.mark.anyio
async def test_scopecraft_mcp_command_serves_the_same_tools(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """`scopecraft mcp` (the CLI command) serves the same tools on stdio."""
    args = ["-m", "scopecraft.cli", "--repo", str(repo), "--home", str(home), "mcp"]
    async with _client(args, tmp_path / "server.log") as client:
        assert [t.name for t in (await client.list_tools()).tools] == EXPECTED_TOOLS
        assert (await _call(client, "queue_status")) == {"active": [], "queued": []}


def _formats(schema: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    """Every ``format`` value anywhere in ``schema``, with where it is."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "format" and not isinstance(value, dict):
                yield where, value
            yield from _formats(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _formats(value, f"{where}/{index}")


def test_schemas_are_the_models_schemas() -> None:
    """Each tool's input and output schemas are its pydantic models' JSON schemas, less the
    formats JSON Schema does not define."""
    for spec, tool in zip(TOOLS, tool_definitions(), strict=True):
        assert tool.name == spec.name
        assert tool.input_schema == portable_schema(spec.input_model.model_json_schema())
        assert tool.output_schema == portable_schema(
            spec.output_model.model_json_schema(mode="serialization")
        )
    task_list = next(t for t in tool_definitions() if t.name == "task_list")
    assert task_list.output_schema is not None
    assert task_list.output_schema["$defs"]["Task"]["properties"]["path"] == {
        "title": "Path",
        "type": "string",
    }, "a pathlib.Path field is a plain string, without pydantic's `path` format"


def test_portable_schema_drops_only_formats_json_schema_lacks() -> None:
    """portable_schema removes a non-standard format wherever a subschema sits (properties,
    $defs, anyOf, items, additionalProperties), keeps standard formats, a property named
    `format` and data values that look like formats, and leaves its argument unchanged."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "where": {"type": "string", "format": "path"},
            "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "format": {"type": "string", "default": "path"},
            "files": {"type": "array", "items": {"type": "string", "format": "file-path"}},
            "blobs": {"additionalProperties": {"type": "string", "format": "binary"}},
            "example": {"const": {"format": "path"}, "examples": [{"format": "path"}]},
        },
        "$defs": {"Secret": {"type": "string", "format": "password"}},
    }
    before = json.loads(json.dumps(schema))
    cleaned = portable_schema(schema)
    assert schema == before
    assert sorted(value for _, value in _formats(cleaned)) == ["date-time", "path", "path"]
    assert cleaned["properties"]["where"] == {"type": "string"}
    assert cleaned["properties"]["format"] == {"type": "string", "default": "path"}
    assert cleaned["properties"]["example"] == schema["properties"]["example"]
    assert cleaned["properties"]["files"]["items"] == {"type": "string"}
    assert cleaned["properties"]["blobs"]["additionalProperties"] == {"type": "string"}
    assert cleaned["$defs"]["Secret"] == {"type": "string"}


@pytest.mark.anyio
async def test_listed_tool_schemas_use_only_json_schema_formats(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """Every tool's input and output schema, as a client lists them over stdio, has only
    formats JSON Schema defines (a client's validator warns `unknown format "path" ignored`
    for any other); the date-times are still there."""
    args = ["-m", "scopecraft.mcp", "--repo", str(repo), "--home", str(home)]
    async with _client(args, tmp_path / "server.log") as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == EXPECTED_TOOLS
        seen: set[Any] = set()
        for tool in tools:
            for schema in (tool.input_schema, tool.output_schema):
                for where, value in _formats(schema):
                    assert value in JSON_SCHEMA_FORMATS, f"{tool.name}: {where} is {value!r}"
                    seen.add(value)
        assert "date-time" in seen
        listed = await _call(client, "task_list")
        assert isinstance(listed["tasks"][0]["path"], str)

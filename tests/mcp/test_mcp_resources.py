"""Sessions and their logs as MCP resources: listed, read and subscribed to through the SDK's
own client over stdio, on a real engine running fake-agent sessions on the local executor."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.stdio import stdio_client
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    EmptyResult,
    PaginatedRequestParams,
    ReadResourceResult,
    ResourceUpdatedNotification,
    SubscribeRequest,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequest,
    UnsubscribeRequestParams,
)
from support import git, write_task

from scopecraft import Engine, Session
from scopecraft.mcp import LOG_LINES, list_resources, read_resource
from scopecraft.mcp._resources import ResourceSubscriptions

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake"}
TERMINAL = {"completed", "failed", "cancelled"}
SECRET = "sk-ant-api03-abcdefghijklmnop"
BAD_URIS = [
    "scopecraft://sessions/../../etc/passwd",
    "scopecraft://sessions/..",
    "scopecraft://sessions/%2e%2e/log",
    "scopecraft://sessions/SES-UPPER",
    "scopecraft://sessions/ses-ok/log/../../x",
    "scopecraft://sessions/ses-ok?lines=9",
    "scopecraft://sessions/ses\x00nul",
    "scopecraft://sessions/" + "a" * 5000,
    "scopecraft://tasks/ok-01A",
    "file:///etc/passwd",
    "",
]


@pytest.fixture
def tasks(repo: Path) -> Path:
    """The shared repository, plus a task whose agent prints a secret and one that prints
    more lines than a log resource shows."""
    write_task(repo, "secret-01E", f"fake: say token {SECRET}")
    write_task(repo, "many-01F", "\n".join(f"fake: say line {i}" for i in range(LOG_LINES + 50)))
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "more tasks", cwd=repo)
    return repo


@asynccontextmanager
async def _client(
    repo: Path, home: Path, errlog: Path
) -> AsyncIterator[tuple[ClientSession, MemoryObjectReceiveStream[str]]]:
    """A client session on the server over stdio, and the URIs it is told were updated."""
    send, receive = anyio.create_memory_object_stream[str](1000)

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            send.send_nowait(message.params.uri)

    args = ["-m", "scopecraft.mcp", "--repo", str(repo), "--home", str(home)]
    params = StdioServerParameters(command=sys.executable, args=args)
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
            send,
            receive,
        ):
            await session.initialize()
            yield session, receive


def _text(result: CallToolResult | ReadResourceResult) -> str:
    block = result.contents[0] if isinstance(result, ReadResourceResult) else result.content[0]
    assert isinstance(block, TextContent | TextResourceContents)
    return block.text


async def _call(client: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, _text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def _until(client: ClientSession, session_id: str, statuses: set[str]) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            session = await _call(client, "session_get", session_id=session_id)
            if session["status"] in statuses:
                return session
            await anyio.sleep(0.1)


async def _read(client: ClientSession, uri: str) -> None:
    await client.read_resource(uri)


async def _subscribe(client: ClientSession, uri: str) -> None:
    # The request itself: the client's subscribe_resource warns that the 2026-07-28 protocol
    # drops it, but MCP Inspector and Claude Code speak the 2025-11-25 protocol that has it.
    params = SubscribeRequestParams(uri=uri)
    await client.send_request(SubscribeRequest(params=params), EmptyResult)


async def _unsubscribe(client: ClientSession, uri: str) -> None:
    params = UnsubscribeRequestParams(uri=uri)
    await client.send_request(UnsubscribeRequest(params=params), EmptyResult)


@pytest.mark.anyio
async def test_sessions_and_logs_are_listed_and_read_as_resources(
    tasks: Path, home: Path, tmp_path: Path
) -> None:
    """The server lists a resource template for sessions and one for logs, and each session
    as two resources; reading a session's URI gives the JSON session_get gives, reading its
    log gives the agent's output with secrets redacted, only the last LOG_LINES lines of a
    longer log (after a line saying how many were left out)."""
    async with _client(tasks, home, tmp_path / "server.log") as (client, _):
        capabilities = client.server_capabilities
        assert capabilities is not None
        assert capabilities.resources is not None
        assert capabilities.resources.subscribe is True

        templates = (await client.list_resource_templates()).resource_templates
        assert [(t.uri_template, t.mime_type) for t in templates] == [
            ("scopecraft://sessions/{session_id}", "application/json"),
            ("scopecraft://sessions/{session_id}/log", "text/plain"),
        ]
        assert all(t.description for t in templates)
        assert (await client.list_resources()).resources == []

        ids = []
        for task_id in ("ok-01A", "secret-01E", "many-01F"):
            created = await _call(client, "session_create", task_id=task_id, **LOCAL)
            ids.append(created["id"])
        for session_id in ids:
            done = await _until(client, session_id, TERMINAL)
            assert done["status"] == "completed", (done["task_id"], done["error"])

        listing = await client.list_resources()
        assert listing.next_cursor is None
        expected = []
        for session_id in ids:
            expected += [
                (f"scopecraft://sessions/{session_id}", "application/json"),
                (f"scopecraft://sessions/{session_id}/log", "text/plain"),
            ]
        assert [(r.uri, r.mime_type) for r in listing.resources] == expected
        assert all(r.name and r.title and r.description for r in listing.resources)

        ok_id, secret_id, many_id = ids
        record = await client.read_resource(f"scopecraft://sessions/{ok_id}")
        content = record.contents[0]
        assert content.uri == f"scopecraft://sessions/{ok_id}"
        assert content.mime_type == "application/json"
        assert json.loads(_text(record)) == await _call(client, "session_get", session_id=ok_id)
        Session.model_validate_json(_text(record))

        ok_log = await client.read_resource(f"scopecraft://sessions/{ok_id}/log")
        assert ok_log.contents[0].mime_type == "text/plain"
        page = await _call(client, "session_logs", session_id=ok_id)
        assert _text(ok_log).splitlines() == [e["text"] for e in page["entries"]]
        assert "hello from the fake agent" in _text(ok_log)

        secret_log = _text(await client.read_resource(f"scopecraft://sessions/{secret_id}/log"))
        assert "token [REDACTED]" in secret_log
        assert SECRET not in secret_log

        many_log = _text(await client.read_resource(f"scopecraft://sessions/{many_id}/log"))
        lines = many_log.splitlines()
        assert len(lines) == LOG_LINES + 1
        tail = await _call(client, "session_logs", session_id=many_id, limit=5000)
        texts = [e["text"] for e in tail["entries"]]
        assert lines[1:] == texts[-LOG_LINES:]
        assert lines[0] == (
            f"[{len(texts) - LOG_LINES} earlier lines not shown; "
            "page through the whole log with the session_logs tool]"
        )
        assert f"line {LOG_LINES + 49}" in lines[-2], "the last message is the one before the end"


@pytest.mark.anyio
async def test_bad_and_unknown_resource_uris_are_clear_errors(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """Reading, subscribing to or unsubscribing from a URI that is not a session's or a
    log's, or whose id is hostile (`..`, encoded dots, upper case, a NUL, 5000 characters),
    is an invalid-params error naming the two URI forms; an unknown session id is one saying
    there is no such session; a cursor the server never gave is refused; no traceback
    reaches the client or the server's log, and the server keeps serving."""
    errlog = tmp_path / "server.log"
    async with _client(repo, home, errlog) as (client, _):
        for uri in BAD_URIS:
            for send in (_read, _subscribe, _unsubscribe):
                with pytest.raises(MCPError) as info:
                    await send(client, uri)
                assert info.value.code == INVALID_PARAMS, uri
                message = info.value.message
                assert "scopecraft://sessions/" in message, message
                assert "Traceback" not in message
                assert len(message) < 400, "a long URI is not echoed back whole"

        for uri in ("scopecraft://sessions/ses-doesnotexist", "scopecraft://sessions/ses-x/log"):
            for send in (_read, _subscribe):
                with pytest.raises(MCPError) as info:
                    await send(client, uri)
                assert info.value.code == INVALID_PARAMS
                assert "no session" in info.value.message
                assert "resources/list" in info.value.message
        await _unsubscribe(client, "scopecraft://sessions/ses-neversubscribed")

        with pytest.raises(MCPError) as info:
            await client.list_resources(params=PaginatedRequestParams(cursor="-1; DROP"))
        assert info.value.code == INVALID_PARAMS
        assert "cursor" in info.value.message

        assert (await client.list_resources()).resources == []
        assert (await _call(client, "queue_status")) == {"active": [], "queued": []}
    assert "Traceback" not in errlog.read_text()


@pytest.mark.anyio
async def test_a_subscription_is_notified_when_its_session_writes_log_lines(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """A client subscribed to a queued session's log and record is sent
    notifications/resources/updated for the log while the running agent writes lines (a read
    after one shows them); once it unsubscribes from the log, the session's end (new events)
    is notified for the record only."""
    async with _client(repo, home, tmp_path / "server.log") as (client, updates):
        created = await _call(client, "session_create", task_id="hang-01C", **LOCAL)
        record_uri = f"scopecraft://sessions/{created['id']}"
        log_uri = f"{record_uri}/log"
        await _subscribe(client, log_uri)
        await _subscribe(client, record_uri)
        await _subscribe(client, log_uri)  # a second subscribe is the same as one

        with anyio.fail_after(60):
            while True:
                uri = await updates.receive()
                if uri != log_uri:
                    continue
                text = _text(await client.read_resource(log_uri))
                if "waiting" in text:
                    break
        assert (await _call(client, "session_get", session_id=created["id"]))["status"] == (
            "running"
        ), "the agent hangs: the update came from its lines, not from its end"

        await _unsubscribe(client, log_uri)
        await _call(client, "session_get", session_id=created["id"])  # one more round trip
        while True:  # drop what was sent before the unsubscribe
            try:
                updates.receive_nowait()
            except anyio.WouldBlock:
                break
        cancelled = await _call(client, "session_cancel", session_id=created["id"])
        assert cancelled["session"]["status"] == "cancelled"
        with anyio.fail_after(30):
            assert await updates.receive() == record_uri
        with anyio.move_on_after(1):  # five polls: nothing more is sent for the log
            while True:
                assert await updates.receive() == record_uri


@pytest.mark.anyio
async def test_a_watch_ends_with_its_session_or_its_last_subscription(
    repo: Path, home: Path
) -> None:
    """In process: a subscribed session is watched until it ends (its log updates notified
    on the way), an ended session is not watched at all, and a running session's watch ends
    when the last of its two URIs is unsubscribed; list_resources and read_resource work on
    an engine opened by the caller, and list_resources pages with its cursor."""
    notified: list[str] = []

    async def notify(uri: str) -> None:
        notified.append(uri)

    async with (
        Engine.open(repo, home=home) as engine,
        anyio.create_task_group() as task_group,
    ):
        watches = ResourceSubscriptions(engine, task_group, interval=0.05)
        slow = await engine.create_session("slow-01D", mode="autonomous", **LOCAL)
        slow_log = f"scopecraft://sessions/{slow.id}/log"
        await watches.subscribe(slow_log, notify)
        assert watches.watched == {slow.id}
        assert (await engine.wait(slow.id, timeout=60)).status.value == "completed"
        with anyio.fail_after(10):
            while watches.watched:
                await anyio.sleep(0.05)
        assert slow_log in notified
        assert set(notified) == {slow_log}

        await watches.subscribe(f"scopecraft://sessions/{slow.id}", notify)
        assert watches.watched == frozenset(), "an ended session does not change"

        hang = await engine.create_session("hang-01C", mode="autonomous", **LOCAL)
        await watches.subscribe(f"scopecraft://sessions/{hang.id}", notify)
        await watches.subscribe(f"scopecraft://sessions/{hang.id}/log", notify)
        watches.unsubscribe(f"scopecraft://sessions/{hang.id}/log")
        assert watches.watched == {hang.id}
        watches.unsubscribe(f"scopecraft://sessions/{hang.id}")
        assert watches.watched == frozenset()

        first = await list_resources(engine)
        assert [r.uri for r in first.resources][:2] == [
            f"scopecraft://sessions/{slow.id}",
            f"scopecraft://sessions/{slow.id}/log",
        ]
        assert first.next_cursor is None
        read = await read_resource(engine, slow_log)
        assert '"text":"one"' in _text(read)
        assert '"text":"two"' in _text(read)

        assert await engine.cancel_session(hang.id)
        await engine.wait(hang.id, timeout=30)
        task_group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_resources_list_pages_with_its_cursor(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a page of one session, resources/list hands out a cursor per page until the last
    session, each page the next session's two resources, oldest first."""
    from scopecraft.mcp import _resources

    monkeypatch.setattr(_resources, "PAGE_SIZE", 1)
    async with Engine.open(repo, home=home) as engine:
        created = [
            await engine.create_session(task_id, mode="autonomous", **LOCAL)
            for task_id in ("ok-01A", "fail-01B", "slow-01D")
        ]
        for session in created:
            await engine.wait(session.id, timeout=60)
        seen, cursor = [], None
        while True:
            page = await list_resources(engine, cursor)
            assert len(page.resources) == 2
            seen.append(page.resources[0].uri)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"scopecraft://sessions/{s.id}" for s in created]

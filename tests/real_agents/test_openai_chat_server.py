"""``OpenAIChatServer`` in-process: a streamed turn with text, a tool call and usage; a plain
completion; forced errors; the spec round trip."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from scopecraft.testing import (
    ApiError,
    ModelTurn,
    OpenAIChatServer,
    ScriptedModelServer,
    TokenUsage,
    ToolCall,
)


def post(server: OpenAIChatServer, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL
        server.base_url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_streamed_turn() -> None:
    """Text in deltas, the tool call opened with its id and name then its arguments in
    pieces, the finish reason, the usage in a chunk without choices, ``[DONE]``."""
    turn = ModelTurn.of(
        "Writing a file for you now, please wait.",
        ToolCall("write", {"filePath": "/w/a.txt", "content": "x" * 40}, call_id="call_1"),
        usage=TokenUsage(100, 20, cache_read_input_tokens=30),
    )
    with OpenAIChatServer([turn]) as server:
        status, raw = post(server, {"model": "m", "stream": True, "messages": []})
    assert status == 200
    events = [line.removeprefix("data: ") for line in raw.decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Writing a file for you now, please wait."
    calls = [
        d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0]["id"] == "call_1"
    assert calls[0]["function"]["name"] == "write"
    arguments = "".join(d["function"]["arguments"] for d in calls)
    assert json.loads(arguments) == {"filePath": "/w/a.txt", "content": "x" * 40}
    assert len(calls) > 2
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 130
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 30
    assert chunks[-1]["usage"]["completion_tokens"] == 20


def test_plain_completion_and_errors() -> None:
    """Without ``stream`` one ``chat.completion``; a forced error is OpenAI's error JSON; an
    in-stream one is a 200 stream holding it; past the script, a 400."""
    script: list[ModelTurn | ApiError] = [
        ModelTurn.of("Hi."),
        ApiError(401),
        ApiError(503, in_stream=True),
    ]
    with OpenAIChatServer(script) as server:
        status, raw = post(server, {"model": "m", "messages": []})
        assert status == 200
        completion = json.loads(raw)
        assert completion["choices"][0]["message"]["content"] == "Hi."
        assert completion["choices"][0]["finish_reason"] == "stop"
        status, raw = post(server, {"model": "m", "messages": []})
        assert status == 401
        assert json.loads(raw)["error"]["code"] == "invalid_api_key"
        status, raw = post(server, {"model": "m", "stream": True, "messages": []})
        assert status == 200
        assert b"server_is_overloaded" in raw
        status, _ = post(server, {"model": "m", "messages": []})
        assert status == 400
        assert len(server.unscripted) == 1


@pytest.mark.parametrize("script", [[ModelTurn.of("a", ToolCall("bash", {"command": "ls"}))]])
def test_spec_round_trip(script: list[ModelTurn]) -> None:
    """``from_spec`` rebuilds the server from its spec, as ``run_offline`` does."""
    server = OpenAIChatServer(script, port=38_999)
    rebuilt = ScriptedModelServer.from_spec(server.spec())
    assert isinstance(rebuilt, OpenAIChatServer)
    assert rebuilt.spec() == server.spec()

"""The scripted Gemini API, driven with plain HTTP (no agent CLI, no namespace: it runs
everywhere)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from scopecraft.testing import (
    ApiError,
    GeminiModelServer,
    ModelTurn,
    RecordedRequest,
    ScriptedModelServer,
    TokenUsage,
    ToolCall,
)

WRITE = ToolCall("write_file", {"file_path": "/work/a.txt", "content": "hello\n" * 10})
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
STREAM = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.fixture
def server() -> Iterator[GeminiModelServer]:
    with GeminiModelServer() as started:
        yield started


def _request(
    server: GeminiModelServer, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "x-goog-api-key": "test"}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _chunks(body: bytes) -> list[dict[str, Any]]:
    """The JSON of each ``data:`` event of a server-sent event stream."""
    chunks = []
    for block in body.decode().split("\r\n\r\n"):
        if block.strip():
            assert block.startswith("data: "), block
            chunks.append(json.loads(block.removeprefix("data: ")))
    return chunks


def test_stream_sends_text_in_pieces_and_calls_whole(server: GeminiModelServer) -> None:
    """``streamGenerateContent`` answers chunks of one candidate: the text in several pieces
    that rebuild it, each function call whole, the finish reason and the usage (input counting
    cached tokens) in the last chunk; ``modelVersion`` is the path's model."""
    text = "A text long enough to need several chunks of the stream."
    server.add(ModelTurn.of(text, WRITE, usage=TokenUsage(100, 7, cache_read_input_tokens=30)))
    status, headers, body = _request(server, "POST", STREAM, BODY)

    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    chunks = _chunks(body)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert "".join(p.get("text", "") for p in parts) == text
    assert len([p for p in parts if "text" in p]) > 1
    assert parts[-1] == {"functionCall": {"name": "write_file", "args": dict(WRITE.arguments)}}
    assert all(c["candidates"][0]["content"]["role"] == "model" for c in chunks)
    assert all(c["modelVersion"] == "gemini-2.5-pro" for c in chunks)
    assert len({c["responseId"] for c in chunks}) == 1
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert all("usageMetadata" not in c for c in chunks[:-1])
    usage = chunks[-1]["usageMetadata"]
    assert usage["promptTokenCount"] == 130
    assert usage["cachedContentTokenCount"] == 30
    assert usage["candidatesTokenCount"] == 7
    assert usage["totalTokenCount"] == 137


def test_generate_content_answers_one_response(server: GeminiModelServer) -> None:
    """``generateContent`` takes a turn from the same script and answers it whole: the text
    joined into one part, a call with the id it names, no cache count without cached tokens."""
    server.add(ModelTurn.of("Joined text of some length.", ToolCall("glob", {}, "call-1")))
    status, _, body = _request(server, "POST", GENERATE, BODY)

    assert status == 200
    response = json.loads(body)
    candidate = response["candidates"][0]
    assert candidate["content"]["parts"] == [
        {"text": "Joined text of some length."},
        {"functionCall": {"name": "glob", "args": {}, "id": "call-1"}},
    ]
    assert candidate["finishReason"] == "STOP"
    assert response["modelVersion"] == "gemini-2.5-flash"
    assert "cachedContentTokenCount" not in response["usageMetadata"]
    (request,) = server.model_requests
    assert request.turn == 0
    assert request.headers["x-goog-api-key"] == "test"


def test_stop_reasons_become_finish_reasons(server: GeminiModelServer) -> None:
    """The vocabulary's stop reasons are Gemini finish reasons (``max_tokens`` is
    ``MAX_TOKENS``); a Gemini name passes as it is; the turn's ``model`` wins."""
    server.add(
        ModelTurn.of("cut", stop_reason="max_tokens"),
        ModelTurn.of("odd", stop_reason="RECITATION", model="gemini-x"),
    )
    first = json.loads(_request(server, "POST", GENERATE, BODY)[2])
    second = json.loads(_request(server, "POST", GENERATE, BODY)[2])
    assert first["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert second["candidates"][0]["finishReason"] == "RECITATION"
    assert second["modelVersion"] == "gemini-x"


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
    ],
)
def test_forced_errors_have_the_api_shape(
    server: GeminiModelServer, status: int, name: str
) -> None:
    """A forced error answers its status with ``{"error": {code, message, status}}``; a retry
    delay is a ``google.rpc.RetryInfo`` detail."""
    server.add(ApiError(status), ApiError(status, "slow down", retry_after=2))
    code, _, body = _request(server, "POST", STREAM, BODY)
    assert code == status
    error = json.loads(body)["error"]
    assert (error["code"], error["status"]) == (status, name)
    assert error["message"]
    assert "details" not in error
    error = json.loads(_request(server, "POST", STREAM, BODY)[2])["error"]
    assert error["message"] == "slow down"
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}
    ]


def test_error_type_and_errors_inside_a_stream(server: GeminiModelServer) -> None:
    """``error_type`` names the status; ``in_stream=True`` answers 200 with the error JSON as
    the stream's only event (a plain ``generateContent`` still gets the status)."""
    server.add(
        ApiError(429, error_type="QUOTA_X"),
        ApiError(500, in_stream=True),
        ApiError(500, in_stream=True),
    )
    assert json.loads(_request(server, "POST", STREAM, BODY)[2])["error"]["status"] == "QUOTA_X"
    status, _, body = _request(server, "POST", STREAM, BODY)
    assert status == 200
    (chunk,) = _chunks(body)
    assert chunk["error"]["code"] == 500
    assert _request(server, "POST", GENERATE, BODY)[0] == 500


def test_other_routes(server: GeminiModelServer) -> None:
    """``countTokens`` estimates, the model list and one model answer without a turn, on
    ``/v1beta``, ``/v1`` and ``/v1alpha``; an unknown route is the API's 404; a request after
    the script is a 400 ``INVALID_ARGUMENT``, listed as unscripted."""
    status, _, body = _request(server, "POST", "/v1beta/models/gemini-2.5-pro:countTokens", BODY)
    assert status == 200
    assert json.loads(body)["totalTokens"] > 0
    for version in ("v1beta", "v1", "v1alpha"):
        status, _, body = _request(server, "GET", f"/{version}/models")
        assert status == 200
        names = [m["name"] for m in json.loads(body)["models"]]
        assert names == [f"models/{m}" for m in server.models]
    status, _, body = _request(server, "GET", "/v1beta/models/gemini-2.5-flash")
    assert json.loads(body)["name"] == "models/gemini-2.5-flash"
    status, _, body = _request(server, "GET", "/v1beta/nowhere")
    assert (status, json.loads(body)["error"]["status"]) == (404, "NOT_FOUND")
    assert server.model_requests == []
    status, _, body = _request(server, "POST", STREAM, BODY)
    assert (status, json.loads(body)["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert len(server.unscripted) == 1


@pytest.mark.parametrize(
    ("method", "path", "takes"),
    [
        ("POST", STREAM, True),
        ("POST", GENERATE, True),
        ("POST", "/v1/models/m:generateContent", True),
        ("GET", GENERATE, False),
        ("POST", "/v1beta/models/m:countTokens", False),
        ("POST", "/v1beta/models", False),
        ("POST", "/v1beta/models/m:streamGenerateContent/x", False),
    ],
)
def test_takes_turn(method: str, path: str, takes: bool) -> None:
    """Only a POST of ``generateContent`` or ``streamGenerateContent`` takes a turn."""
    request = RecordedRequest(method, path, {}, b"{}")
    assert GeminiModelServer.takes_turn(request) is takes


def test_a_spec_rebuilds_a_gemini_server() -> None:
    """``from_spec(spec())`` is an unstarted Gemini server with the remaining script (what
    `run_offline()` does inside the namespace)."""
    original = GeminiModelServer(["a", ApiError(503)], port=41_001, models=["gemini-x"])
    copy = ScriptedModelServer.from_spec(json.loads(json.dumps(original.spec())))
    assert isinstance(copy, GeminiModelServer)
    assert copy.port == 41_001
    assert copy.remaining == 2
    assert copy.models == ("gemini-x",)

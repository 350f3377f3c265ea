"""The scripted model servers, driven with plain HTTP (no agent CLI, no namespace: they run
everywhere)."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scopecraft.testing import (
    AnthropicModelServer,
    ApiError,
    ModelTurn,
    OpenAIResponsesServer,
    RecordedRequest,
    ScriptedModelServer,
    TextPart,
    TokenUsage,
    ToolCall,
)
from scopecraft.testing._model_turns import turn_from_json, turn_to_json

WRITE = ToolCall("Write", {"file_path": "/work/a.txt", "content": "hello\n" * 10})


def _request(
    server: ScriptedModelServer,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        conn.close()


def _sse(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent event stream."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.fixture
def anthropic() -> Iterator[AnthropicModelServer]:
    with AnthropicModelServer() as server:
        yield server


@pytest.fixture
def openai() -> Iterator[OpenAIResponsesServer]:
    with OpenAIResponsesServer() as server:
        yield server


MESSAGES = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
RESPONSES = {"model": "gpt-5.5", "input": [{"role": "user", "content": "hi"}]}


# -- Anthropic -------------------------------------------------------------------------------


def test_anthropic_plain_json_message(anthropic: AnthropicModelServer) -> None:
    """Without ``stream`` a turn is one message: text and tool_use blocks in order, the
    requested model echoed, ``stop_reason`` tool_use, the turn's usage."""
    anthropic.add(ModelTurn.of("Let me write.", WRITE, usage=TokenUsage(11, 7, 3, 2)))
    status, headers, body = _request(anthropic, "POST", "/v1/messages", MESSAGES)

    assert status == 200
    assert headers["content-type"] == "application/json"
    message = json.loads(body)
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["id"].startswith("msg_")
    assert headers["request-id"].startswith("req_")
    assert message["model"] == "claude-sonnet-4-5"
    assert message["content"][0] == {"type": "text", "text": "Let me write."}
    tool = message["content"][1]
    assert tool["type"] == "tool_use"
    assert tool["id"].startswith("toolu_")
    assert tool["name"] == "Write"
    assert tool["input"] == dict(WRITE.arguments)
    assert message["stop_reason"] == "tool_use"
    usage = message["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (11, 7)
    assert usage["cache_read_input_tokens"] == 3
    assert usage["cache_creation_input_tokens"] == 2


def test_anthropic_stream_follows_the_api_event_order(anthropic: AnthropicModelServer) -> None:
    """With ``stream: true`` the events come in the API's order and the deltas rebuild the
    text and the tool's JSON input exactly; usage is in message_start and message_delta."""
    anthropic.add(
        ModelTurn.of("A text long enough to need several deltas.", WRITE, usage=TokenUsage(40, 9))
    )
    status, headers, body = _request(
        anthropic, "POST", "/v1/messages?beta=true", dict(MESSAGES, stream=True)
    )

    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = _sse(body)
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == [
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 40
    blocks: dict[int, dict[str, Any]] = {}
    for name, data in events:
        if name == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"], text="", json="")
        elif name == "content_block_delta":
            delta = data["delta"]
            block = blocks[data["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta"
                block["json"] += delta["partial_json"]
    assert names.count("content_block_delta") > 2
    assert names.count("content_block_stop") == 2
    assert blocks[0]["text"] == "A text long enough to need several deltas."
    assert blocks[1]["type"] == "tool_use"
    assert blocks[1]["input"] == {}
    assert json.loads(blocks[1]["json"]) == dict(WRITE.arguments)
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] == 9


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, "authentication_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_anthropic_forced_errors_have_the_api_shape(
    anthropic: AnthropicModelServer, status: int, error_type: str
) -> None:
    """A forced error answers its status with ``{"type": "error", "error": {type, message}}``,
    a request id, and the retry headers asked for."""
    anthropic.add(ApiError(status, retry_after=2, should_retry=False))
    code, headers, body = _request(anthropic, "POST", "/v1/messages", dict(MESSAGES, stream=True))

    assert code == status
    payload = json.loads(body)
    assert payload["type"] == "error"
    assert payload["error"]["type"] == error_type
    assert payload["error"]["message"]
    assert payload["request_id"] == headers["request-id"]
    assert headers["retry-after"] == "2"
    assert headers["x-should-retry"] == "false"


def test_anthropic_error_inside_a_stream(anthropic: AnthropicModelServer) -> None:
    """``in_stream=True`` answers 200 and breaks the stream with an ``error`` event."""
    anthropic.add(ApiError(529, in_stream=True))
    status, _, body = _request(anthropic, "POST", "/v1/messages", dict(MESSAGES, stream=True))

    assert status == 200
    events = _sse(body)
    assert [name for name, _ in events] == ["message_start", "error"]
    assert events[1][1]["error"]["type"] == "overloaded_error"


def test_anthropic_other_routes(anthropic: AnthropicModelServer) -> None:
    """count_tokens, the model list, one model, HEAD and ``/`` answer; unknown routes answer
    the API's 404, none of them taking a turn."""
    anthropic.add("never taken")
    status, _, body = _request(anthropic, "POST", "/v1/messages/count_tokens", MESSAGES)
    assert status == 200
    assert json.loads(body)["input_tokens"] > 0
    status, _, body = _request(anthropic, "GET", "/v1/models")
    models = json.loads(body)
    assert status == 200
    assert models["data"][0]["type"] == "model"
    assert models["has_more"] is False
    status, _, body = _request(anthropic, "GET", "/v1/models/claude-x")
    assert status == 200
    assert json.loads(body)["id"] == "claude-x"
    status, _, body = _request(anthropic, "HEAD", "/")
    assert status == 200
    assert body == b""
    assert _request(anthropic, "GET", "/")[0] == 200
    status, _, body = _request(anthropic, "GET", "/v1/nothing")
    assert status == 404
    assert json.loads(body)["error"]["type"] == "not_found_error"
    assert anthropic.remaining == 1
    assert anthropic.model_requests == []


# -- OpenAI Responses ------------------------------------------------------------------------


def test_openai_stream_follows_the_api_event_order(openai: OpenAIResponsesServer) -> None:
    """With ``stream: true`` the events come in the Responses API's order with consecutive
    sequence numbers; deltas rebuild the text and the arguments; ``response.completed`` holds
    the items and the usage (cached tokens counted in the input)."""
    call = ToolCall("exec_command", {"cmd": "printf 'a long enough command' > out.txt"})
    openai.add(ModelTurn.of("Running it.", call, usage=TokenUsage(100, 20, 30, 0)))
    status, headers, body = _request(openai, "POST", "/v1/responses", dict(RESPONSES, stream=True))

    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = _sse(body)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] == "response.completed"
    assert events[0][1]["response"]["status"] == "in_progress"
    assert (
        names.count("response.output_item.added") == names.count("response.output_item.done") == 2
    )
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    args = "".join(d["delta"] for n, d in events if n == "response.function_call_arguments.delta")
    assert text == "Running it."
    assert json.loads(args) == dict(call.arguments)
    for before, after in [
        ("response.output_item.added", "response.content_part.added"),
        ("response.output_text.delta", "response.output_text.done"),
        ("response.output_text.done", "response.content_part.done"),
        ("response.function_call_arguments.done", "response.completed"),
    ]:
        assert names.index(before) < names.index(after)
    response = events[-1][1]["response"]
    assert response["status"] == "completed"
    assert response["model"] == "gpt-5.5"
    message, function = response["output"]
    assert message["type"] == "message"
    assert message["content"][0]["type"] == "output_text"
    assert function["type"] == "function_call"
    assert function["name"] == "exec_command"
    assert function["call_id"].startswith("call_")
    assert json.loads(function["arguments"]) == dict(call.arguments)
    usage = response["usage"]
    assert usage["input_tokens"] == 130
    assert usage["input_tokens_details"]["cached_tokens"] == 30
    assert usage["output_tokens"] == 20
    assert usage["total_tokens"] == 150


def test_openai_plain_json_response(openai: OpenAIResponsesServer) -> None:
    """Without ``stream`` a turn is one response object."""
    openai.add("Hello.")
    status, headers, body = _request(openai, "POST", "/v1/responses", RESPONSES)

    assert status == 200
    assert headers["x-request-id"].startswith("req_")
    response = json.loads(body)
    assert response["object"] == "response"
    assert response["status"] == "completed"
    assert response["output"][0]["content"][0]["text"] == "Hello."


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (401, "invalid_request_error", "invalid_api_key"),
        (429, "requests", "rate_limit_exceeded"),
        (500, "server_error", "server_error"),
        (529, "server_error", "server_is_overloaded"),
    ],
)
def test_openai_forced_errors_have_the_api_shape(
    openai: OpenAIResponsesServer, status: int, error_type: str, code: str
) -> None:
    """A forced error answers ``{"error": {message, type, param, code}}``."""
    openai.add(ApiError(status, retry_after=1.5))
    got, headers, body = _request(openai, "POST", "/v1/responses", dict(RESPONSES, stream=True))

    assert got == status
    assert headers["retry-after"] == "1.5"
    error = json.loads(body)["error"]
    assert (error["type"], error["code"], error["param"]) == (error_type, code, None)
    assert error["message"]


def test_openai_error_inside_a_stream(openai: OpenAIResponsesServer) -> None:
    """``in_stream=True`` answers 200 and ends the stream with ``response.failed``."""
    openai.add(ApiError(500, "boom", in_stream=True))
    status, _, body = _request(openai, "POST", "/v1/responses", dict(RESPONSES, stream=True))

    events = _sse(body)
    assert status == 200
    assert [n for n, _ in events] == ["response.created", "response.failed"]
    failed = events[1][1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["message"] == "boom"


def test_openai_other_routes(openai: OpenAIResponsesServer) -> None:
    """The model list answers; unknown routes answer the API's 404 error."""
    status, _, body = _request(openai, "GET", "/v1/models")
    assert status == 200
    assert json.loads(body)["object"] == "list"
    status, _, body = _request(openai, "GET", "/v1/responses/resp_1")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"


# -- what both servers share -----------------------------------------------------------------


@pytest.mark.parametrize("kind", [AnthropicModelServer, OpenAIResponsesServer])
def test_every_request_is_recorded_with_its_turn(kind: type[ScriptedModelServer]) -> None:
    """The log holds every request in order (method, path, lower-case headers, body), the
    index of the turn that answered each model request, and ``None`` for other routes."""
    endpoint = kind.model_endpoint
    with kind(["one", "two"]) as server:
        _request(server, "POST", endpoint, {"n": 1}, headers={"X-Probe": "yes"})
        _request(server, "GET", "/v1/models")
        _request(server, "POST", endpoint, {"n": 2, "history": ["one"]})

    requests = server.requests
    assert [(r.method, r.path, r.turn) for r in requests] == [
        ("POST", endpoint, 0),
        ("GET", "/v1/models", None),
        ("POST", endpoint, 1),
    ]
    assert requests[0].headers["x-probe"] == "yes"
    assert [r.json() for r in server.model_requests] == [{"n": 1}, {"n": 2, "history": ["one"]}]
    assert server.remaining == 0


@pytest.mark.parametrize("kind", [AnthropicModelServer, OpenAIResponsesServer])
def test_an_exhausted_script_answers_400(kind: type[ScriptedModelServer]) -> None:
    """A model request after the last turn gets a 400 (which the agents do not retry) and is
    listed in ``unscripted``."""
    with kind(["only"]) as server:
        assert _request(server, "POST", kind.model_endpoint, {})[0] == 200
        status, _, body = _request(server, "POST", kind.model_endpoint, {})

    assert status == 400
    assert b"no turn left" in body
    assert len(server.unscripted) == 1
    assert server.remaining == 0


def test_a_script_function_sees_the_request(anthropic: AnthropicModelServer) -> None:
    """A function in the script is called with the request and its turn is answered."""

    def echo(request: RecordedRequest) -> ModelTurn:
        return ModelTurn.of(f"you said {request.json()['messages'][-1]['content']}")

    anthropic.add(echo)
    _, _, body = _request(anthropic, "POST", "/v1/messages", MESSAGES)
    assert json.loads(body)["content"][0]["text"] == "you said hi"


def test_a_failing_script_function_answers_500_and_the_server_goes_on(
    anthropic: AnthropicModelServer,
) -> None:
    """A script function that raises is a 500 answer, not a dead server."""

    def broken(request: RecordedRequest) -> ModelTurn:
        raise RuntimeError("bug in the test")

    anthropic.add(broken, "after")
    assert _request(anthropic, "POST", "/v1/messages", MESSAGES)[0] == 500
    assert _request(anthropic, "POST", "/v1/messages", MESSAGES)[0] == 200


def test_non_json_model_requests_are_refused_without_taking_a_turn(
    anthropic: AnthropicModelServer,
) -> None:
    """A body that is not a JSON object is a 400 and leaves the script as it was."""
    anthropic.add("kept")
    status, _, body = _request(anthropic, "POST", "/v1/messages", raw=b"not json")
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert anthropic.remaining == 1


def test_request_size_is_bounded() -> None:
    """A body over ``max_request_bytes`` is refused with 413 before it is read, by length or
    chunked; the server then answers the next request."""
    with AnthropicModelServer(["small"], max_request_bytes=1000) as server:
        status, _, body = _request(server, "POST", "/v1/messages", raw=b"x" * 5000)
        assert status == 413
        assert json.loads(body)["error"]["type"] == "request_too_large"

        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            chunks = iter([b"y" * 600, b"y" * 600])
            conn.request("POST", "/v1/messages", body=chunks, encode_chunked=True)
            assert conn.getresponse().status == 413
        finally:
            conn.close()
        assert _request(server, "POST", "/v1/messages", MESSAGES)[0] == 200
    assert server.remaining == 0


def test_a_gzip_body_is_decoded(anthropic: AnthropicModelServer) -> None:
    """``Content-Encoding: gzip`` bodies are recorded decoded."""
    anthropic.add("ok")
    status, _, _ = _request(
        anthropic,
        "POST",
        "/v1/messages",
        raw=gzip.compress(json.dumps(MESSAGES).encode()),
        headers={"Content-Encoding": "gzip"},
    )
    assert status == 200
    assert anthropic.model_requests[0].json() == MESSAGES


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::1"])  # noqa: S104 - refused
def test_only_loopback_is_accepted(host: str) -> None:
    """A server never listens anywhere but 127.0.0.1."""
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        AnthropicModelServer(host=host)


def test_the_port_is_known_once_started_and_close_ends_idle_connections() -> None:
    """A free port is chosen at start; close() ends idle keep-alive connections (their reads
    see EOF), stops listening, and may be called twice."""
    server = OpenAIResponsesServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.port
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        idle = socket.create_connection((server.host, server.port), timeout=5)
        idle.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(12).startswith(b"HTTP/1.1 200")
        port = server.port
    try:
        idle.settimeout(5)
        while idle.recv(65536):  # the rest of the answer, then EOF
            pass
    finally:
        idle.close()
    server.close()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


def test_concurrent_requests_each_take_a_distinct_turn() -> None:
    """Turns are handed out once each, whatever the concurrency."""
    with AnthropicModelServer([f"turn {i}" for i in range(20)]) as server:
        texts: list[str] = []
        lock = threading.Lock()

        def ask() -> None:
            _, _, body = _request(server, "POST", "/v1/messages", MESSAGES)
            with lock:
                texts.append(json.loads(body)["content"][0]["text"])

        threads = [threading.Thread(target=ask) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(texts) == sorted(f"turn {i}" for i in range(20))


def test_a_spec_rebuilds_the_same_server() -> None:
    """``from_spec(spec())`` is an unstarted server of the same kind with the remaining script;
    a script function cannot cross."""
    original = OpenAIResponsesServer(["a", ApiError(429)], port=41_000, max_request_bytes=777)
    copy = ScriptedModelServer.from_spec(json.loads(json.dumps(original.spec())))
    assert isinstance(copy, OpenAIResponsesServer)
    assert copy.port == 41_000
    assert copy.max_request_bytes == 777
    assert copy.remaining == 2
    with pytest.raises(TypeError, match="another process"):
        AnthropicModelServer([lambda request: ModelTurn.of("x")]).spec()
    with pytest.raises(ValueError, match="unknown model API"):
        ScriptedModelServer.from_spec({"api": "nope"})


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_parts = st.one_of(
    st.builds(TextPart, st.text(max_size=50)),
    st.builds(
        ToolCall,
        st.text(min_size=1, max_size=30),
        st.dictionaries(st.text(max_size=10), _json_values, max_size=4),
        st.none() | st.text(min_size=1, max_size=20),
    ),
)
_usage = st.builds(TokenUsage, *(st.integers(min_value=0, max_value=10**9) for _ in range(4)))
_turns = st.one_of(
    st.builds(
        ModelTurn,
        st.lists(_parts, max_size=4).map(tuple),
        _usage,
        st.none() | st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
        st.none() | st.text(min_size=1, max_size=20),
    ),
    st.builds(
        ApiError,
        st.integers(min_value=400, max_value=599),
        st.none() | st.text(max_size=30),
        st.none() | st.text(min_size=1, max_size=20),
        st.none() | st.floats(min_value=0, max_value=60),
        st.none() | st.booleans(),
        st.booleans(),
    ),
)


@given(_turns)
def test_turns_round_trip_through_json(turn: ModelTurn | ApiError) -> None:
    """Every turn survives ``turn_to_json`` → JSON text → ``turn_from_json`` unchanged."""
    assert turn_from_json(json.loads(json.dumps(turn_to_json(turn)))) == turn


def test_turn_values_are_checked() -> None:
    """Bad values are refused when the turn is made, not when it is served."""
    with pytest.raises(ValueError, match="non-negative"):
        TokenUsage(input_tokens=-1)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        ApiError(200)
    with pytest.raises(TypeError, match="JSON"):
        ToolCall("Write", {"x": object()})
    with pytest.raises(ValueError, match="tool name"):
        ToolCall("")
    assert ModelTurn.of("a").effective_stop_reason == "end_turn"
    assert ModelTurn.of(WRITE).effective_stop_reason == "tool_use"

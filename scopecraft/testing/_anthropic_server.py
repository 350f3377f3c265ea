"""A scripted Anthropic Messages API, for running the real Claude Code against it.

``POST /v1/messages`` (any query, e.g. ``?beta=true``) answers the next turn, as one JSON message
or, when the request has ``"stream": true``, as the API's server-sent events: ``message_start``,
``ping``, per block ``content_block_start`` / ``content_block_delta`` (``text_delta`` or
``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop reason and usage) and
``message_stop``. ``POST /v1/messages/count_tokens``, ``GET /v1/models`` and
``GET /v1/models/{id}`` answer plausibly; other routes answer the API's 404 error.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from ._model_server import Response, ScriptedModelServer
from ._model_turns import ApiError, ModelTurn, RecordedRequest, TextPart, Turn

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_ERROR_MESSAGES = {
    "invalid_request_error": "There was an issue with the format or content of your request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "There is an issue with your account's billing.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource was not found.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed the rate limit for your organization.",
    "api_error": "Internal server error",
    "timeout_error": "The request timed out.",
    "overloaded_error": "Overloaded",
}

_CHUNK = 24
"""Characters per delta: text and tool input arrive in several deltas, as from the API."""


class AnthropicModelServer(ScriptedModelServer):
    """A scripted Anthropic Messages API on loopback (point ``ANTHROPIC_BASE_URL`` at it).

    Each ``POST /v1/messages`` takes the next turn of the script. A `ToolCall` becomes a
    ``tool_use`` block (``Write`` with ``file_path`` and ``content``, ``Bash`` with ``command``,
    an MCP tool as ``mcp__<server>__<tool>``), with an id ``toolu_...`` unless it names one;
    every answer carries the turn's ``usage``, so an agent's cost is computed from it.

    Example:
        ```python
        with AnthropicModelServer([
            ModelTurn.of(ToolCall("Write", {"file_path": "/tmp/x/a.txt", "content": "hi"})),
            ModelTurn.of("Done."),
        ]) as server:
            env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-ant-test"}
            ...
        assert server.model_requests[1].json()["messages"][-1]["role"] == "user"
        ```
    """

    api: ClassVar[str] = "anthropic"
    model_endpoint: ClassVar[str] = "/v1/messages"
    default_models: ClassVar[tuple[str, ...]] = (
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-1-20250805",
        "claude-haiku-4-5-20251001",
    )

    def error_response(self, status: int, message: str, error: ApiError | None = None) -> Response:
        """The Anthropic error JSON: ``{"type": "error", "error": {"type", "message"}}``."""
        error_type = (error.error_type if error else None) or _ERROR_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        request_id = self.new_id("req_")
        headers = {"request-id": request_id}
        if error is not None and error.retry_after is not None:
            headers["retry-after"] = f"{error.retry_after:g}"
        if error is not None and error.should_retry is not None:
            headers["x-should-retry"] = "true" if error.should_retry else "false"
        payload = {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": request_id,
        }
        return Response.json(status, payload, headers)

    def route(self, request: RecordedRequest) -> Response:
        """``count_tokens``; else the base routes."""
        path = request.path.split("?", 1)[0].rstrip("/")
        if request.method == "POST" and path == "/v1/messages/count_tokens":
            # A rough estimate is enough: the agents use it to decide when to compact.
            return Response.json(200, {"input_tokens": max(1, len(request.body) // 4)})
        return super().route(request)

    def model_info(self, model: str) -> dict[str, Any]:
        """One model of ``GET /v1/models``."""
        return {
            "type": "model",
            "id": model,
            "display_name": model,
            "created_at": "2025-01-01T00:00:00Z",
        }

    def model_list(self, data: list[dict[str, Any]]) -> dict[str, Any]:
        """The page of ``GET /v1/models``."""
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def answer_body(self, body: dict[str, Any], stream: bool, turn: Turn) -> Response:
        """The message for ``turn``, streamed when the request asks for it."""
        if isinstance(turn, ApiError):
            text = turn.message or _ERROR_MESSAGES.get(
                turn.error_type or _ERROR_TYPES.get(turn.status, "api_error"), "error"
            )
            if not (stream and turn.in_stream):
                return self.error_response(turn.status, text, turn)
            return self._error_stream(body, turn, text)
        message = self._message(body, turn)
        if not stream:
            return Response.json(200, message, {"request-id": self.new_id("req_")})
        return Response(
            200,
            b"".join(_events(message)),
            "text/event-stream; charset=utf-8",
            {"request-id": self.new_id("req_"), "cache-control": "no-cache"},
        )

    def _message(self, body: dict[str, Any], turn: ModelTurn) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            else:
                content.append(
                    {
                        "type": "tool_use",
                        "id": part.call_id or self.new_id("toolu_01"),
                        "name": part.name,
                        "input": dict(part.arguments),
                    }
                )
        u = turn.usage
        return {
            "id": self.new_id("msg_01"),
            "type": "message",
            "role": "assistant",
            "model": turn.model or str(body.get("model") or self.models[0]),
            "content": content,
            "stop_reason": turn.effective_stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": u.input_tokens,
                "cache_creation_input_tokens": u.cache_creation_input_tokens,
                "cache_read_input_tokens": u.cache_read_input_tokens,
                "output_tokens": u.output_tokens,
                "service_tier": "standard",
            },
        }

    def _error_stream(self, body: dict[str, Any], error: ApiError, message: str) -> Response:
        started = self._message(body, ModelTurn(parts=()))
        error_type = error.error_type or _ERROR_TYPES.get(error.status, "api_error")
        events = [
            _sse("message_start", {"type": "message_start", "message": _opening(started)}),
            _sse("error", {"type": "error", "error": {"type": error_type, "message": message}}),
        ]
        return Response(200, b"".join(events), "text/event-stream; charset=utf-8")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _chunks(text: str) -> list[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]


def _opening(message: dict[str, Any]) -> dict[str, Any]:
    """The message as ``message_start`` carries it: no content yet, one output token."""
    usage = dict(message["usage"], output_tokens=1)
    return dict(message, content=[], stop_reason=None, stop_sequence=None, usage=usage)


def _events(message: dict[str, Any]) -> list[bytes]:
    """The server-sent events of a whole message, in the API's order."""
    out = [
        _sse("message_start", {"type": "message_start", "message": _opening(message)}),
        _sse("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"])]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = json.dumps(block["input"], separators=(",", ":"))
            deltas = [{"type": "input_json_delta", "partial_json": c} for c in _chunks(raw)]
        out.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        out += [
            _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        ]
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                # Cumulative counts, as the API sends them now (older versions: output only).
                "usage": {k: v for k, v in message["usage"].items() if k != "service_tier"},
            },
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out

"""A scripted OpenAI Responses API, for running the real Codex against it.

``POST /v1/responses`` answers the next turn, as one response object or, when the request has
``"stream": true``, as the API's server-sent events: ``response.created``,
``response.in_progress``, per output item ``response.output_item.added``, its content events
(``response.content_part.added``, ``response.output_text.delta``, ``response.output_text.done``,
``response.content_part.done`` for a message; ``response.function_call_arguments.delta`` and
``.done`` for a function call), ``response.output_item.done``, and last ``response.completed``
with the usage. Every event carries a ``sequence_number``. ``GET /v1/models`` lists models.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from ._model_server import Response, ScriptedModelServer
from ._model_turns import ApiError, ModelTurn, TextPart, Turn

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "not_found", "The requested resource was not found."),
    413: ("invalid_request_error", "request_too_large", "The request is too large."),
    415: ("invalid_request_error", None, "Unsupported content encoding."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", "server_error", "The server had an error processing your request."),
    503: ("server_error", "server_is_overloaded", "The server is overloaded."),
    529: ("server_error", "server_is_overloaded", "The server is overloaded."),
}

_CHUNK = 24
"""Characters per delta: text and arguments arrive in several deltas, as from the API."""


class OpenAIShapes(ScriptedModelServer):
    """What the OpenAI APIs share: the error JSON and its headers, the model list, the
    default models. The Responses and Chat Completions servers differ only in the answer."""

    default_models: ClassVar[tuple[str, ...]] = ("gpt-5.5", "gpt-5.4")

    def error_response(self, status: int, message: str, error: ApiError | None = None) -> Response:
        """The OpenAI error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
        default_type, default_code, _ = _ERRORS.get(
            status, ("server_error" if status >= 500 else "invalid_request_error", None, "")
        )
        headers = {"x-request-id": self.new_id("req_")}
        if error is not None and error.retry_after is not None:
            headers["retry-after"] = f"{error.retry_after:g}"
        if error is not None and error.should_retry is not None:
            headers["x-should-retry"] = "true" if error.should_retry else "false"
        payload = {
            "error": {
                "message": message,
                "type": (error.error_type if error else None) or default_type,
                "param": None,
                "code": default_code,
            }
        }
        return Response.json(status, payload, headers)

    def model_info(self, model: str) -> dict[str, Any]:
        """One model of ``GET /v1/models``."""
        return {"id": model, "object": "model", "created": 1_735_689_600, "owned_by": "scopecraft"}

    def model_list(self, data: list[dict[str, Any]]) -> dict[str, Any]:
        """The body of ``GET /v1/models``."""
        return {"object": "list", "data": data}


class OpenAIResponsesServer(OpenAIShapes):
    """A scripted OpenAI Responses API on loopback (a Codex model provider's ``base_url`` is
    ``<base_url>/v1`` with ``wire_api = "responses"``).

    Each ``POST /v1/responses`` takes the next turn of the script. A `TextPart` becomes a
    ``message`` output item with one ``output_text`` part; a `ToolCall` becomes a
    ``function_call`` item (``exec_command``, ``shell``, ``apply_patch``, an MCP tool, ... with
    its arguments as a JSON string) whose ``call_id`` is ``call_...`` unless it names one. The
    usage is the turn's: ``input_tokens`` counts cached tokens too, and
    ``input_tokens_details.cached_tokens`` is the turn's ``cache_read_input_tokens``.
    """

    api: ClassVar[str] = "openai"
    model_endpoint: ClassVar[str] = "/v1/responses"

    def answer_body(self, body: dict[str, Any], stream: bool, turn: Turn) -> Response:
        """The response for ``turn``, streamed when the request asks for it."""
        headers = {"x-request-id": self.new_id("req_")}
        if isinstance(turn, ApiError):
            message = turn.message or _ERRORS.get(turn.status, ("", None, "error"))[2]
            if not (stream and turn.in_stream):
                return self.error_response(turn.status, message, turn)
            return self._error_stream(body, turn, message)
        response = self._response(body, turn)
        if not stream:
            return Response.json(200, response, headers)
        return Response(
            200,
            b"".join(_events(response)),
            "text/event-stream; charset=utf-8",
            dict(headers, **{"cache-control": "no-cache"}),
        )

    def _response(self, body: dict[str, Any], turn: ModelTurn) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, TextPart):
                output.append(
                    {
                        "id": self.new_id("msg_"),
                        "type": "message",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": part.text, "annotations": []}],
                    }
                )
            else:
                output.append(
                    {
                        "id": self.new_id("fc_"),
                        "type": "function_call",
                        "status": "completed",
                        "call_id": part.call_id or self.new_id("call_"),
                        "name": part.name,
                        "arguments": json.dumps(dict(part.arguments), separators=(",", ":")),
                    }
                )
        u = turn.usage
        return {
            "id": self.new_id("resp_"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "model": turn.model or str(body.get("model") or self.models[0]),
            "output": output,
            "parallel_tool_calls": bool(body.get("parallel_tool_calls", False)),
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [],
            "usage": {
                "input_tokens": u.total_input_tokens,
                "input_tokens_details": {"cached_tokens": u.cache_read_input_tokens},
                "output_tokens": u.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": u.total_input_tokens + u.output_tokens,
            },
            "metadata": {},
        }

    def _error_stream(self, body: dict[str, Any], error: ApiError, message: str) -> Response:
        response = self._response(body, ModelTurn(parts=()))
        error_type, code, _ = _ERRORS.get(error.status, ("server_error", "server_error", ""))
        started = _opening(response)
        failed = dict(
            started,
            status="failed",
            error={"code": error.error_type or code or error_type, "message": message},
        )
        events = _Events()
        events.add("response.created", response=started)
        events.add("response.failed", response=failed)
        return Response(200, events.body(), "text/event-stream; charset=utf-8")


def _opening(response: dict[str, Any]) -> dict[str, Any]:
    """The response as ``response.created`` carries it: in progress, nothing out, no usage."""
    return dict(response, status="in_progress", output=[], usage=None)


def _chunks(text: str) -> list[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]


class _Events:
    """Server-sent events with consecutive sequence numbers."""

    def __init__(self) -> None:
        self._out: list[bytes] = []

    def add(self, event_type: str, **fields: Any) -> None:
        data = {"type": event_type, "sequence_number": len(self._out), **fields}
        self._out.append(
            f"event: {event_type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        )

    def body(self) -> bytes:
        return b"".join(self._out)


def _events(response: dict[str, Any]) -> list[bytes]:
    """The server-sent events of a whole response, in the API's order."""
    events = _Events()
    events.add("response.created", response=_opening(response))
    events.add("response.in_progress", response=_opening(response))
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events.add(
                "response.output_item.added",
                output_index=index,
                item=dict(item, status="in_progress", content=[]),
            )
            events.add(
                "response.content_part.added",
                **ids,
                part={"type": "output_text", "text": "", "annotations": []},
            )
            for chunk in _chunks(text):
                events.add("response.output_text.delta", **ids, delta=chunk, logprobs=[])
            events.add("response.output_text.done", **ids, text=text, logprobs=[])
            events.add("response.content_part.done", **ids, part=item["content"][0])
        else:
            events.add(
                "response.output_item.added",
                output_index=index,
                item=dict(item, status="in_progress", arguments=""),
            )
            for chunk in _chunks(item["arguments"]):
                events.add(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=chunk,
                )
            events.add(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
            )
        events.add("response.output_item.done", output_index=index, item=item)
    events.add("response.completed", response=response)
    return [events.body()]

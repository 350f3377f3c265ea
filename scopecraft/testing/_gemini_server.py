"""A scripted Gemini API (``generativelanguage.googleapis.com``), for running the real Gemini CLI
against it.

``POST /v1beta/models/{model}:streamGenerateContent`` (the CLI asks ``?alt=sse``) answers the next
turn as server-sent events, each a ``GenerateContentResponse`` chunk (text in several chunks, each
function call whole in one, the last chunk with the ``finishReason`` and the ``usageMetadata``);
``POST /v1beta/models/{model}:generateContent`` answers the next turn as one response. Both take
turns from the same script. ``POST .../{model}:countTokens`` answers an estimate, ``GET
/v1beta/models`` and ``GET /v1beta/models/{model}`` describe the server's models; other routes
answer the API's 404 error. ``/v1`` and ``/v1alpha`` work as ``/v1beta`` does.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from ._model_server import Response, ScriptedModelServer
from ._model_turns import ApiError, ModelTurn, RecordedRequest, TextPart, Turn

# The google.rpc status names the API gives each HTTP status, and its usual message.
_STATUSES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    413: ("INVALID_ARGUMENT", "Request payload size exceeds the limit."),
    415: ("INVALID_ARGUMENT", "Unsupported content encoding."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in the docs."),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

# What the Anthropic stop reasons of the shared vocabulary are as Gemini finish reasons.
_FINISH_REASONS = {
    "end_turn": "STOP",
    "tool_use": "STOP",
    "stop_sequence": "STOP",
    "pause_turn": "STOP",
    "max_tokens": "MAX_TOKENS",
    "refusal": "SAFETY",
}

_PATH = re.compile(r"/v1(?:alpha|beta)?/models/(?P<model>[^/:?]+):(?P<method>[A-Za-z]+)")

_MODEL_METHODS = ("generateContent", "streamGenerateContent")

_CHUNK = 24
"""Characters of text per chunk: text arrives in several chunks, as from the API."""


def gemini_route(path: str) -> tuple[str, str] | None:
    """The model and method a Gemini API path names (``/v1beta/models/M:method``, any query),
    or ``None`` when it names none."""
    match = _PATH.fullmatch(path.split("?", 1)[0])
    return (match["model"], match["method"]) if match else None


class GeminiModelServer(ScriptedModelServer):
    """A scripted Gemini API on loopback (point ``GOOGLE_GEMINI_BASE_URL`` at it).

    Each ``POST /v1beta/models/{model}:streamGenerateContent`` or ``:generateContent`` takes the
    next turn of the script, whatever the model. A `TextPart` becomes a ``text`` part; a
    `ToolCall` a ``functionCall`` part (``write_file`` with ``file_path`` and
    ``content``, ``run_shell_command`` with ``command``, an MCP tool, ...; with ``id`` only when
    the call names one). ``modelVersion`` is the model the path names (or the turn's
    ``model``). ``usageMetadata`` is the turn's usage: ``promptTokenCount`` counts every input
    token, cached or not, and ``cachedContentTokenCount`` the cache reads, as the API counts.

    A forced `ApiError` answers the API's error JSON, ``{"error": {"code", "message",
    "status"}}`` (``UNAUTHENTICATED`` for 401, ``RESOURCE_EXHAUSTED`` for 429, ``INTERNAL`` for
    500, ``UNAVAILABLE`` for 503, ...; ``error_type`` overrides the status name), with a
    ``google.rpc.RetryInfo`` detail when it has ``retry_after``; ``in_stream=True`` sends that
    JSON as an event of a 200 stream instead.

    Example:
        ```python
        with GeminiModelServer([
            ModelTurn.of(ToolCall("write_file", {"file_path": "/tmp/x/a.txt", "content": "hi"})),
            ModelTurn.of("Done."),
        ]) as server:
            env = {"GOOGLE_GEMINI_BASE_URL": server.base_url, "GEMINI_API_KEY": "test-key"}
            ...
        second = server.model_requests[1].json()["contents"]   # functionResponse last
        ```
    """

    api: ClassVar[str] = "gemini"
    model_endpoint: ClassVar[str] = "/v1beta/models/{model}:streamGenerateContent"
    default_models: ClassVar[tuple[str, ...]] = (
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
    )

    @staticmethod
    def takes_turn(request: RecordedRequest) -> bool:
        """True when ``request`` is a model request (a POST of ``generateContent`` or
        ``streamGenerateContent`` for any model): what takes a turn of the script."""
        route = gemini_route(request.path)
        return request.method == "POST" and route is not None and route[1] in _MODEL_METHODS

    def _is_model_request(self, request: RecordedRequest) -> bool:
        return self.takes_turn(request)

    def error_response(self, status: int, message: str, error: ApiError | None = None) -> Response:
        """The Gemini error JSON: ``{"error": {"code", "message", "status"[, "details"]}}``."""
        return Response.json(status, self._error(status, message, error))

    def _error(self, status: int, message: str, error: ApiError | None) -> dict[str, Any]:
        name = (error.error_type if error else None) or _STATUSES.get(
            status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", "")
        )[0]
        payload: dict[str, Any] = {"code": status, "message": message, "status": name}
        if error is not None and error.retry_after is not None:
            payload["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{error.retry_after:g}s",
                }
            ]
        return {"error": payload}

    def model_info(self, model: str) -> dict[str, Any]:
        """One model as ``GET /v1beta/models`` lists it."""
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "thinking": True,
        }

    def model_list(self, data: list[dict[str, Any]]) -> dict[str, Any]:
        """The page of ``GET /v1beta/models``."""
        return {"models": data}

    def route(self, request: RecordedRequest) -> Response:
        """``countTokens``, the model list and one model; else the base routes."""
        path = request.path.split("?", 1)[0].rstrip("/")
        route = gemini_route(path)
        if request.method == "POST" and route is not None and route[1] == "countTokens":
            # A rough estimate is enough: the CLI uses it to decide when to compress.
            return Response.json(200, {"totalTokens": max(1, len(request.body) // 4)})
        version = re.fullmatch(r"/v1(?:alpha|beta)?/models(?:/(?P<model>[^/:]+))?", path)
        if request.method == "GET" and version is not None:
            model = version["model"]
            if model is None:
                return Response.json(
                    200, self.model_list([self.model_info(m) for m in self.models])
                )
            return Response.json(200, self.model_info(model.removeprefix("models/")))
        return super().route(request)

    def answer(self, request: RecordedRequest, turn: Turn) -> Response:
        """Answer a model request with ``turn``: streamed for ``streamGenerateContent``."""
        route = gemini_route(request.path)
        model, method = route if route is not None else (self.models[0], "generateContent")
        body: dict[str, Any] = request.json()
        body = dict(body, model=model)
        return self.answer_body(body, method == "streamGenerateContent", turn)

    def answer_body(self, body: dict[str, Any], stream: bool, turn: Turn) -> Response:
        """The response for ``turn`` (``body["model"]`` is the model of the request's path)."""
        if isinstance(turn, ApiError):
            message = turn.message or _STATUSES.get(turn.status, ("", "error"))[1]
            if not (stream and turn.in_stream):
                return self.error_response(turn.status, message, turn)
            event = _sse(self._error(turn.status, message, turn))
            return Response(200, event, "text/event-stream")
        chunks = self._chunks(body, turn)
        if not stream:
            return Response.json(200, _merge(chunks))
        return Response(
            200,
            b"".join(_sse(chunk) for chunk in chunks),
            "text/event-stream",
            {"cache-control": "no-cache"},
        )

    def _chunks(self, body: dict[str, Any], turn: ModelTurn) -> list[dict[str, Any]]:
        """The turn as the API streams it: a chunk per piece of text and per function call,
        the finish reason and the usage in the last one."""
        model = turn.model or str(body.get("model") or self.models[0])
        response_id = self.new_id("resp")
        parts: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, TextPart):
                parts += [{"text": piece} for piece in _pieces(part.text)]
            else:
                call: dict[str, Any] = {"name": part.name, "args": dict(part.arguments)}
                if part.call_id is not None:
                    call["id"] = part.call_id
                parts.append({"functionCall": call})
        if not parts:
            parts = [{"text": ""}]
        u = turn.usage
        usage = {
            "promptTokenCount": u.total_input_tokens,
            "candidatesTokenCount": u.output_tokens,
            "totalTokenCount": u.total_input_tokens + u.output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.total_input_tokens}],
        }
        if u.cache_read_input_tokens:
            usage["cachedContentTokenCount"] = u.cache_read_input_tokens
        finish = turn.stop_reason or turn.effective_stop_reason
        finish = _FINISH_REASONS.get(finish, finish)
        chunks = []
        for index, piece in enumerate(parts):
            candidate: dict[str, Any] = {"content": {"parts": [piece], "role": "model"}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [candidate]}
            if index == len(parts) - 1:
                candidate["finishReason"] = finish
                chunk["usageMetadata"] = usage
            chunk.update(modelVersion=model, responseId=response_id)
            chunks.append(chunk)
        return chunks


def _pieces(text: str) -> list[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``generateContent`` response of a turn's chunks: its parts together (adjacent text
    joined), the last chunk's finish reason and usage."""
    parts: list[dict[str, Any]] = []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            if "text" in part and parts and "text" in parts[-1]:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(part)
    last = chunks[-1]
    candidate = dict(last["candidates"][0], content={"parts": parts, "role": "model"})
    return dict(last, candidates=[candidate])


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\r\n\r\n".encode()

"""A scripted OpenAI Chat Completions API, for running agents whose provider speaks it (OpenCode's
``@ai-sdk/openai-compatible`` providers) against it.

``POST /v1/chat/completions`` answers the next turn, as one ``chat.completion`` object or, when
the request has ``"stream": true``, as the API's server-sent events: ``chat.completion.chunk``
objects (the role first, text in several ``content`` deltas, each tool call opened with its
``id`` and name and then its ``arguments`` in several deltas, a last chunk with the
``finish_reason``, a chunk with no choices and the ``usage``), then ``data: [DONE]``. ``GET
/v1/models`` lists models.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from ._model_server import Response
from ._model_turns import ApiError, ModelTurn, TextPart, ToolCall, Turn
from ._openai_server import _ERRORS, OpenAIShapes

_CHUNK = 24
"""Characters per delta: text and arguments arrive in several deltas, as from the API."""

# What the Anthropic stop reasons of the shared vocabulary are as Chat Completions finish
# reasons.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


class OpenAIChatServer(OpenAIShapes):
    """A scripted OpenAI Chat Completions API on loopback (an OpenAI-compatible provider's base
    URL is ``<base_url>/v1``).

    Each ``POST /v1/chat/completions`` takes the next turn of the script. The turn's text parts
    are the message's ``content`` (joined, in order); each `ToolCall` is one of its
    ``tool_calls`` (``type: function``, the arguments as a JSON string) whose ``id`` is
    ``call_...`` unless it names one. The ``finish_reason`` is ``tool_calls`` when the turn
    calls a tool, else ``stop`` (``length`` for ``max_tokens``). The usage is the turn's:
    ``prompt_tokens`` counts cached tokens too, and ``prompt_tokens_details.cached_tokens`` is
    the turn's ``cache_read_input_tokens``; streamed, it comes in a last chunk with no choices.

    A forced `ApiError` answers OpenAI's error JSON (``{"error": {"message", "type",
    "param", "code"}}``) with its status; with ``in_stream=True`` a 200 stream whose one event is
    that error object, as the API sends when a stream breaks.
    """

    api: ClassVar[str] = "openai-chat"
    model_endpoint: ClassVar[str] = "/v1/chat/completions"

    def answer_body(self, body: dict[str, Any], stream: bool, turn: Turn) -> Response:
        """The completion for ``turn``, streamed when the request asks for it."""
        headers = {"x-request-id": self.new_id("req_")}
        if isinstance(turn, ApiError):
            message = turn.message or _ERRORS.get(turn.status, ("", None, "error"))[2]
            if not (stream and turn.in_stream):
                return self.error_response(turn.status, message, turn)
            error = json.loads(self.error_response(turn.status, message, turn).body)
            return Response(200, _sse(error) + b"data: [DONE]\n\n", "text/event-stream", headers)
        completion = self._completion(body, turn)
        if not stream:
            return Response.json(200, completion, headers)
        return Response(
            200,
            b"".join(_sse(chunk) for chunk in _chunks(completion)) + b"data: [DONE]\n\n",
            "text/event-stream; charset=utf-8",
            dict(headers, **{"cache-control": "no-cache"}),
        )

    def _completion(self, body: dict[str, Any], turn: ModelTurn) -> dict[str, Any]:
        text = "".join(p.text for p in turn.parts if isinstance(p, TextPart))
        calls = [
            {
                "id": part.call_id or self.new_id("call_"),
                "type": "function",
                "function": {
                    "name": part.name,
                    "arguments": json.dumps(dict(part.arguments), separators=(",", ":")),
                },
            }
            for part in turn.parts
            if isinstance(part, ToolCall)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = calls
        u = turn.usage
        return {
            "id": self.new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": turn.model or str(body.get("model") or self.models[0]),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": _FINISH_REASONS.get(turn.effective_stop_reason, "stop"),
                }
            ],
            "usage": {
                "prompt_tokens": u.total_input_tokens,
                "completion_tokens": u.output_tokens,
                "total_tokens": u.total_input_tokens + u.output_tokens,
                "prompt_tokens_details": {"cached_tokens": u.cache_read_input_tokens},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }


def _pieces(text: str) -> list[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)]


def _chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a whole completion, in the API's order."""
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    (choice,) = completion["choices"]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return dict(head, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in _pieces(message["content"] or "")]
    for index, call in enumerate(message.get("tool_calls", [])):
        opening = {"index": index, "id": call["id"], "type": "function"}
        function = call["function"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        dict(opening, function={"name": function["name"], "arguments": ""})
                    ]
                }
            )
        )
        out += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _pieces(function["arguments"])
        ]
    out.append(chunk({}, choice["finish_reason"]))
    out.append(dict(head, choices=[], usage=completion["usage"]))
    return out


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

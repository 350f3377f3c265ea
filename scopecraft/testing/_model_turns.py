"""What a scripted model server answers: turns, their parts and usage, forced errors, and the
requests it recorded.

One vocabulary serves both wire formats: a `ToolCall` becomes a ``tool_use`` block for the
Anthropic Messages API and a ``function_call`` item for the OpenAI Responses API. Every value here
round-trips through JSON (`turn_to_json()`, `turn_from_json()`), so a script can be handed
to a server that runs in another process (inside a network namespace, see
`run_offline()`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The token counts a turn reports, in the Anthropic sense.

    ``input_tokens`` excludes the cached tokens, as the Anthropic API counts them. The OpenAI
    Responses server reports ``input_tokens`` as the sum of the three input counts and
    ``input_tokens_details.cached_tokens`` as ``cache_read_input_tokens``, as that API does.
    """

    input_tokens: int = 100
    """Uncached input tokens."""
    output_tokens: int = 20
    """Output tokens."""
    cache_read_input_tokens: int = 0
    """Input tokens read from the prompt cache."""
    cache_creation_input_tokens: int = 0
    """Input tokens written to the prompt cache."""

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TokenUsage.{name} must be a non-negative int, not {value!r}")

    @property
    def total_input_tokens(self) -> int:
        """Every input token, cached or not (what OpenAI calls ``input_tokens``)."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text the model says."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of one of the agent's tools (``Write``, ``Bash``, ``exec_command``, ...) or of an MCP
    tool (``mcp__<server>__<tool>`` for Claude Code).

    ``call_id`` defaults to one the server makes up (``toolu_...`` or ``call_...``); set it to
    find the tool's result in the next request.
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The tool's input, a JSON object."""
    call_id: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a ToolCall needs a tool name")
        # A frozen value must not change under the server's feet: copy, then freeze.
        copied = json.loads(_dumps(self.arguments))
        if not isinstance(copied, dict):
            raise TypeError(f"a ToolCall's arguments are a JSON object, not {self.arguments!r}")
        object.__setattr__(self, "arguments", MappingProxyType(copied))


Part: TypeAlias = TextPart | ToolCall


@dataclass(frozen=True, slots=True)
class ModelTurn:
    """One answer of the model: its parts in order, and the usage it reports.

    ``stop_reason`` defaults to ``"tool_use"`` when a part is a `ToolCall`, else
    ``"end_turn"`` (Anthropic names; the OpenAI server has no stop reason). ``model`` overrides
    the model name echoed back (by default the requested one).
    """

    parts: tuple[Part, ...]
    usage: TokenUsage = TokenUsage()
    stop_reason: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        for part in self.parts:
            if not isinstance(part, TextPart | ToolCall):
                raise TypeError(f"a ModelTurn part is a TextPart or a ToolCall, not {part!r}")

    @classmethod
    def of(
        cls,
        *parts: str | Part,
        usage: TokenUsage | None = None,
        stop_reason: str | None = None,
        model: str | None = None,
    ) -> ModelTurn:
        """A turn of ``parts``, a plain string standing for a `TextPart`."""
        return cls(
            parts=tuple(TextPart(p) if isinstance(p, str) else p for p in parts),
            usage=usage if usage is not None else TokenUsage(),
            stop_reason=stop_reason,
            model=model,
        )

    @property
    def effective_stop_reason(self) -> str:
        """The stop reason the Anthropic server sends."""
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if any(isinstance(p, ToolCall) for p in self.parts) else "end_turn"


@dataclass(frozen=True, slots=True)
class ApiError:
    """A forced error: the server answers ``status`` with the API's own error JSON.

    The error type defaults to the API's name for the status (Anthropic: 400
    ``invalid_request_error``, 401 ``authentication_error``, 403 ``permission_error``, 404
    ``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, 500 ``api_error``,
    529 ``overloaded_error``; OpenAI: ``invalid_request_error``, ``rate_limit_exceeded``,
    ``server_error``, ...). ``in_stream=True`` sends it inside a 200 event stream instead (an
    Anthropic ``error`` event, an OpenAI ``response.failed``), as the APIs do when a stream breaks.
    """

    status: int
    message: str | None = None
    error_type: str | None = None
    retry_after: float | None = None
    """Seconds for a ``retry-after`` header, when set."""
    should_retry: bool | None = None
    """Sends ``x-should-retry: true|false`` (which the Anthropic SDKs honour), when set."""
    in_stream: bool = False

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"an ApiError status is 4xx or 5xx, not {self.status}")


Turn: TypeAlias = ModelTurn | ApiError


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request a scripted server received, as it arrived."""

    method: str
    path: str
    """The path with its query string."""
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes
    turn: int | None = None
    """Index in the script of the turn that answered it; ``None`` for other routes."""

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the body in base64)."""
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": base64.b64encode(self.body).decode("ascii"),
            "turn": self.turn,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedRequest:
        """The inverse of `to_json()`."""
        return cls(
            method=str(data["method"]),
            path=str(data["path"]),
            headers=MappingProxyType({str(k): str(v) for k, v in data["headers"].items()}),
            body=base64.b64decode(data["body"]),
            turn=None if data.get("turn") is None else int(data["turn"]),
        )


ScriptItem: TypeAlias = Turn | str | Callable[[RecordedRequest], Turn]
"""What a script holds: a turn, a string (a text-only turn), or a function of the request that
returns the turn (in-process servers only: a function does not cross to another process)."""


def as_turn(item: ScriptItem, request: RecordedRequest) -> Turn:
    """The turn a script item answers to ``request``."""
    if isinstance(item, str):
        return ModelTurn.of(item)
    if isinstance(item, ModelTurn | ApiError):
        return item
    turn = item(request)
    if not isinstance(turn, ModelTurn | ApiError):
        raise TypeError(f"a script function returned {turn!r}, not a ModelTurn or an ApiError")
    return turn


def turn_to_json(item: ScriptItem) -> dict[str, Any]:
    """A JSON-ready dict of a turn (or of a string, as a text turn).

    Raises:
        TypeError: ``item`` is a function, which cannot be serialized.
    """
    if isinstance(item, str):
        item = ModelTurn.of(item)
    if isinstance(item, ApiError):
        return {
            "error": {
                "status": item.status,
                "message": item.message,
                "error_type": item.error_type,
                "retry_after": item.retry_after,
                "should_retry": item.should_retry,
                "in_stream": item.in_stream,
            }
        }
    if isinstance(item, ModelTurn):
        parts: list[dict[str, Any]] = []
        for part in item.parts:
            if isinstance(part, TextPart):
                parts.append({"text": part.text})
            else:
                parts.append(
                    {"tool": part.name, "arguments": dict(part.arguments), "call_id": part.call_id}
                )
        u = item.usage
        return {
            "parts": parts,
            "usage": {
                "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens,
                "cache_read_input_tokens": u.cache_read_input_tokens,
                "cache_creation_input_tokens": u.cache_creation_input_tokens,
            },
            "stop_reason": item.stop_reason,
            "model": item.model,
        }
    raise TypeError(
        f"{item!r} cannot be sent to another process: script it as a ModelTurn or an ApiError"
    )


def turn_from_json(data: Mapping[str, Any]) -> Turn:
    """The inverse of `turn_to_json()`.

    Raises:
        ValueError: ``data`` is not a serialized turn.
    """
    if "error" in data:
        e = data["error"]
        return ApiError(
            status=int(e["status"]),
            message=e.get("message"),
            error_type=e.get("error_type"),
            retry_after=e.get("retry_after"),
            should_retry=e.get("should_retry"),
            in_stream=bool(e.get("in_stream", False)),
        )
    if "parts" not in data:
        raise ValueError(f"not a serialized turn: {data!r}")
    parts: list[Part] = []
    for p in data["parts"]:
        if "text" in p:
            parts.append(TextPart(str(p["text"])))
        else:
            parts.append(ToolCall(str(p["tool"]), p.get("arguments") or {}, p.get("call_id")))
    return ModelTurn(
        parts=tuple(parts),
        usage=TokenUsage(**data.get("usage", {})),
        stop_reason=data.get("stop_reason"),
        model=data.get("model"),
    )


def _dumps(value: Any) -> str:
    """Compact JSON, failing on what JSON cannot hold."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"not JSON: {value!r} ({exc})") from exc

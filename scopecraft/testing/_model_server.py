"""The HTTP plumbing shared by the scripted model servers.

A `ScriptedModelServer` listens on loopback only (a free port by default), in a thread of
its own, and answers each model request with the next turn of its script. It records every
request it receives (method, path, headers, body), bounds the size of what it reads, and closes
every connection when it is closed. The wire formats live in the subclasses:
`AnthropicModelServer` and
`OpenAIResponsesServer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import ipaddress
import itertools
import json
import logging
import secrets
import socket
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType
from typing import Any, ClassVar, Self

from ._model_turns import (
    ApiError,
    RecordedRequest,
    ScriptItem,
    Turn,
    as_turn,
    turn_from_json,
    turn_to_json,
)

logger = logging.getLogger("scopecraft.testing.model_server")

DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""The largest request body a server reads by default (the Anthropic API's own limit)."""

_IDLE_TIMEOUT = 60.0
"""Seconds an idle keep-alive connection is kept open."""


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """What a route answers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(payload).encode(), "application/json", headers or {})


class _BodyProblem(Exception):
    """The request body cannot be read: the status to answer and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: ScriptedModelServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _handle(self) -> None:
        owner = self.server.owner
        headers = MappingProxyType({k.lower(): v for k, v in self.headers.items()})
        try:
            body = self._read_body(headers, owner.max_request_bytes)
        except _BodyProblem as exc:
            # The rest of the body is not read: this connection cannot carry another request.
            self.close_connection = True
            request = RecordedRequest(self.command, self.path, headers, b"")
            owner._record(request)
            self._send(owner.error_response(exc.status, str(exc)))
            return
        request = RecordedRequest(self.command, self.path, headers, body)
        try:
            response = owner._dispatch(request)
        except Exception as exc:  # a bug in a script function must not kill the connection
            logger.exception("scripted model server: %s %s failed", self.command, self.path)
            owner._record(request)
            response = owner.error_response(500, f"the scripted server failed: {exc!r}")
        self._send(response)

    def _read_body(self, headers: Mapping[str, str], limit: int) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw = self._read_chunked(limit)
        else:
            try:
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                raise _BodyProblem(400, "content-length is not a number") from None
            if length < 0:
                raise _BodyProblem(400, "content-length is negative")
            if length > limit:
                raise _BodyProblem(
                    413, f"the request body has {length} bytes; this server reads {limit} at most"
                )
            raw = self.rfile.read(length) if length else b""
        encoding = headers.get("content-encoding", "identity").strip().lower()
        try:
            if encoding == "gzip":
                return _bounded(gzip.decompress(raw), limit)
            if encoding == "deflate":
                return _bounded(zlib.decompress(raw), limit)
        except (OSError, zlib.error, EOFError) as exc:
            raise _BodyProblem(400, f"the {encoding} body cannot be decoded: {exc}") from exc
        if encoding not in ("", "identity"):
            raise _BodyProblem(415, f"content-encoding {encoding!r} is not supported")
        return raw

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                raise _BodyProblem(400, "a malformed chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise _BodyProblem(413, f"the request body exceeds {limit} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:  # the client went away; nothing to answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("scripted model server: " + format, *args)


def _bounded(data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise _BodyProblem(413, f"the decoded request body exceeds {limit} bytes")
    return data


_KINDS: dict[str, type[ScriptedModelServer]] = {}
"""Every server class by the API name it serves (filled as subclasses are defined)."""


class ScriptedModelServer:
    """A model API on loopback that answers each model request with the next turn of a script.

    Subclasses give the wire format (`AnthropicModelServer`,
    `OpenAIResponsesServer`). Use it as a context manager, or call
    `start()` and `close()`.

    Args:
        script: The turns, in the order the model requests will get them. A string is a
            text-only turn; a function of the `RecordedRequest` returns the turn.
        host: A loopback address: the server never listens anywhere else.
        port: 0 (the default) picks a free port; a fixed port is for a network namespace of
            its own, where every port is free (see `run_offline()`).
        max_request_bytes: Larger bodies are refused (413) without being read.
        models: The model names ``GET /v1/models`` lists.

    Raises:
        ValueError: ``host`` is not a loopback address.
    """

    api: ClassVar[str] = ""
    """The wire format's name in a `spec()`."""
    model_endpoint: ClassVar[str] = ""
    """The path (without query) whose POST requests take turns."""
    default_models: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register a subclass that names its wire format, for `from_spec()`."""
        super().__init_subclass__(**kwargs)
        if cls.api:
            _KINDS.setdefault(cls.api, cls)

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        models: Sequence[str] | None = None,
    ) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback or ":" in host:
            raise ValueError(f"a scripted model server listens on 127.0.0.1 only, not {host!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"not a port: {port}")
        if max_request_bytes < 1:
            raise ValueError("max_request_bytes must be positive")
        self.host = host
        self._port = port
        self.max_request_bytes = max_request_bytes
        self.models: tuple[str, ...] = tuple(models) if models else self.default_models
        self._lock = threading.Lock()
        self._script: list[ScriptItem] = list(script)
        self._next = 0
        self._requests: list[RecordedRequest] = []
        self._unscripted: list[RecordedRequest] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._token = secrets.token_hex(4)
        self._ids = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving (idempotent).

        Raises:
            OSError: the port cannot be bound.
        """
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self._port), self)
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-{self.api}-model-server-{self._port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("scripted %s model server on %s", self.api, self.base_url)
        return self

    def close(self) -> None:
        """Stop serving, close every open connection and wait for the handler threads."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.connections_lock:
            open_connections = list(httpd.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- facts -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port.

        Raises:
            RuntimeError: the server was asked for a free port and has not started yet.
        """
        if self._port == 0:
            raise RuntimeError("the port is chosen when the server starts: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The requests that took (or asked for) a turn of the script, in order."""
        return [r for r in self.requests if self._is_model_request(r)]

    @property
    def unscripted(self) -> list[RecordedRequest]:
        """Model requests that came when the script had no turn left (answered with a 400)."""
        with self._lock:
            return list(self._unscripted)

    @property
    def remaining(self) -> int:
        """How many turns of the script are still to be taken."""
        with self._lock:
            return len(self._script) - self._next

    def add(self, *items: ScriptItem) -> None:
        """Append turns to the script."""
        with self._lock:
            self._script.extend(items)

    # -- crossing to another process -------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """A JSON-ready description of this (unstarted) server and its remaining script.

        Raises:
            TypeError: the script holds a function.
        """
        with self._lock:
            script = self._script[self._next :]
        return {
            "api": self.api,
            "port": self._port,
            "max_request_bytes": self.max_request_bytes,
            "models": list(self.models),
            "script": [turn_to_json(item) for item in script],
        }

    @staticmethod
    def from_spec(spec: Mapping[str, Any]) -> ScriptedModelServer:
        """The server a `spec()` describes (not started).

        Raises:
            ValueError: the spec names an unknown API.
        """
        # Each subclass registers its API name when it is defined (`__init_subclass__`);
        # `scopecraft.testing` loads every built-in one with this class, so the base needs
        # no import of its subclasses (and no import cycle).
        kind = _KINDS.get(str(spec.get("api")))
        if kind is None:
            raise ValueError(f"unknown model API {spec.get('api')!r}; known: {sorted(_KINDS)}")
        return kind(
            [turn_from_json(t) for t in spec.get("script", [])],
            port=int(spec.get("port", 0)),
            max_request_bytes=int(spec.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES)),
            models=spec.get("models") or None,
        )

    # -- for the wire formats --------------------------------------------------------------

    def error_response(self, status: int, message: str, error: ApiError | None = None) -> Response:
        """The API's error JSON for ``status`` (subclasses give the shape)."""
        raise NotImplementedError

    def model_info(self, model: str) -> dict[str, Any]:
        """One model as the API's model list shows it (subclasses give the shape)."""
        raise NotImplementedError

    def model_list(self, data: list[dict[str, Any]]) -> dict[str, Any]:
        """The body of ``GET /v1/models`` around ``data`` (subclasses give the shape)."""
        raise NotImplementedError

    def route(self, request: RecordedRequest) -> Response:
        """Answer a request that is not a model request: the model list, one model, the
        server's own page (subclasses add their routes)."""
        path = request.path.split("?", 1)[0].rstrip("/")
        if request.method == "GET" and path == "/v1/models":
            return Response.json(200, self.model_list([self.model_info(m) for m in self.models]))
        if request.method == "GET" and path.startswith("/v1/models/"):
            return Response.json(200, self.model_info(path.removeprefix("/v1/models/")))
        if request.method == "GET" and path == "":
            return Response.json(200, {"scripted_model_server": self.api})
        return self.error_response(404, f"no route {request.method} {path or '/'}")

    def answer(self, request: RecordedRequest, turn: Turn) -> Response:
        """Answer a model request with ``turn``, streamed when the request asks for it."""
        body: dict[str, Any] = request.json()
        return self.answer_body(body, body.get("stream") is True, turn)

    def answer_body(self, body: dict[str, Any], stream: bool, turn: Turn) -> Response:
        """Answer the parsed model request ``body`` (subclasses give the wire format)."""
        raise NotImplementedError

    def new_id(self, prefix: str) -> str:
        """A fresh id, unique to this server: ``<prefix><token><n>``."""
        return f"{prefix}{self._token}{next(self._ids):04d}"

    # -- internals -------------------------------------------------------------------------

    def _is_model_request(self, request: RecordedRequest) -> bool:
        return request.method == "POST" and request.path.split("?", 1)[0] == self.model_endpoint

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _dispatch(self, request: RecordedRequest) -> Response:
        if request.method == "HEAD":
            self._record(request)
            return Response(200)
        if request.method == "OPTIONS":
            self._record(request)
            return Response(204, headers={"Allow": "GET, HEAD, POST, OPTIONS"})
        if not self._is_model_request(request):
            self._record(request)
            return self.route(request)
        if not isinstance(request.json(), dict):
            self._record(request)
            return self.error_response(400, "the request body is not a JSON object")
        with self._lock:
            index = self._next
            item = self._script[index] if index < len(self._script) else None
            if item is None:
                self._unscripted.append(request)
            else:
                self._next += 1
            self._requests.append(
                dataclasses.replace(request, turn=None if item is None else index)
            )
        if item is None:
            logger.warning("scripted %s model server: the script has no turn left", self.api)
            # 400: the agents do not retry it, so a short script fails fast instead of backing off.
            return self.error_response(
                400, f"the scripted model server has no turn left for request {index + 1}"
            )
        return self.answer(request, as_turn(item, request))

"""The playground's ASGI app: a token, Host and Origin checks, an API and WebSocket frames.

Security (the server trains whatever a page asks, so only *our* page may ask):

* every HTTP request and WebSocket must carry the random ``token`` in its URL
  (``?token=…``); without it the answer is 403;
* the ``Host`` header must name the address the server was started on
  (``127.0.0.1:PORT``, ``localhost:PORT``): a DNS-rebinding page, whose requests
  carry its own host name, gets 403; an ``Origin`` header, when present (browsers
  send one with every WebSocket and POST), must be that same origin;
* the page loads nothing from elsewhere, under a strict Content-Security-Policy,
  and sends no ``Referer`` (the token is in its URL);
* uploads are refused beyond :data:`~chainrule.playground.data.MAX_UPLOAD_BYTES`
  before they are parsed; at most :data:`MAX_SESSIONS` runs live at once.

Over the WebSocket, a frame (after ``step``, ``settings``, ``reset``, ``sync``) is one
binary message: the length of its JSON as 4 bytes (little-endian), the JSON, then
the heat maps (:meth:`Session.heat_maps`); everything else is JSON text.

Each WebSocket (one per tab) owns its own :class:`~chainrule.playground.session.Session`;
the HTTP API under ``/api/sessions/ID/…`` reaches the same sessions, for scripts
and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import secrets
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .data import MAX_UPLOAD_BYTES, UploadError, read_upload
from .session import Session, Settings, SettingsError

__all__ = ["MAX_SESSIONS", "create_app", "new_token"]

Scope = dict[str, Any]
ASGIApp = Callable[
    [Scope, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]
]

#: Runs kept at once; the least recently used one goes first.
MAX_SESSIONS = 32
#: The static files the page may load, and their types.
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def new_token() -> str:
    """A fresh random token (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class Sessions:
    """The live runs by id, least recently used first."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self._runs: OrderedDict[str, Session] = OrderedDict()

    def new(self, settings: Settings) -> tuple[str, Session]:
        sid = secrets.token_hex(8)
        run = Session(settings)
        self._runs[sid] = run
        while len(self._runs) > self.limit:
            self._runs.popitem(last=False)
        return sid, run

    def get(self, sid: str) -> Session:
        run = self._runs.get(sid)
        if run is None:
            raise KeyError(sid)
        self._runs.move_to_end(sid)
        return run

    def drop(self, sid: str) -> None:
        self._runs.pop(sid, None)

    def __len__(self) -> int:
        return len(self._runs)


def _csp(host: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


class Guard:
    """ASGI middleware: the token, Host and Origin checks, and the security headers."""

    def __init__(self, app: ASGIApp, token: str, hosts: Iterable[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = {h.lower() for h in hosts}

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[..., Awaitable[Any]],
        send: Callable[..., Awaitable[Any]],
    ) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        host = headers.get("host", "").lower()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        origin = headers.get("origin")
        why = None
        if host not in self.hosts:
            why = f"forbidden: unexpected Host {host!r}"
        elif origin is not None and origin.lower() not in {f"http://{h}" for h in self.hosts}:
            why = f"forbidden: unexpected Origin {origin!r}"
        elif not hmac.compare_digest(given.encode(), self.token.encode()):
            why = "forbidden: a missing or wrong token (open the URL the server printed)"
        if why is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
                return
            await PlainTextResponse(why, status_code=403)(scope, receive, send)
            return

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                extra = [
                    (b"content-security-policy", _csp(host).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, secured)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": str(message).splitlines()[0] if message else "error"}, status_code=status
    )


def _allowed_hosts(host: str, port: int) -> list[str]:
    """The ``Host`` values a request may carry: the address listened on, by its names."""
    names = {host}
    if host in ("127.0.0.1", "localhost"):
        names = {"127.0.0.1", "localhost"}
    elif host in ("::1", "[::1]"):
        names = {"[::1]", "localhost"}
    elif host in ("0.0.0.0", "::", "[::]"):  # every interface: this machine's names
        names = {"127.0.0.1", "localhost", "[::1]", socket.gethostname()}
        with contextlib.suppress(OSError):
            names |= set(socket.gethostbyname_ex(socket.gethostname())[2])
    return [f"{n}:{port}" for n in names] + ([*names] if port == 80 else [])


def create_app(
    token: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    allowed_hosts: Iterable[str] | None = None,
) -> ASGIApp:
    """The playground as an ASGI application.

    Parameters
    ----------
    token : str
        The secret every request must carry as ``?token=``.
    host, port : str, int
        Where the server listens: the ``Host`` headers accepted are derived
        from them (``127.0.0.1:PORT`` and ``localhost:PORT`` for a loopback host).
    allowed_hosts : iterable of str, optional
        ``Host`` values to accept instead.

    Returns
    -------
    ASGI app
        Starlette behind :class:`Guard`; ``app.sessions`` holds the runs.
    """
    sessions = Sessions()
    hosts = list(allowed_hosts) if allowed_hosts is not None else _allowed_hosts(host, port)

    async def index(request: Request) -> Response:
        page = _static("index.html").decode("utf-8").replace("{{TOKEN}}", token)
        return Response(page, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response(_static(name), media_type=STATIC[name])

    def run_of(request: Request) -> tuple[str, Session]:
        sid = request.path_params.get("sid") or request.query_params.get("session", "")
        return sid, sessions.get(sid)

    async def call(run: Session, fn: Callable[..., Any], *args: Any) -> Any:
        def locked() -> Any:
            with run.lock:
                return fn(*args)

        return await run_in_threadpool(locked)

    async def json_body(request: Request) -> Any:
        raw = await _bounded_body(request, 64 * 1024)
        try:
            return json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise SettingsError(f"the request body is not JSON: {exc}") from None

    def api(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except KeyError:
                return _error("no such session (it ended or was never started)", 404)
            except _TooLarge as exc:
                return _error(str(exc), 413)
            except (SettingsError, UploadError, IndexError, ValueError) as exc:
                return _error(str(exc))

        return wrapped

    @api
    async def new_session(request: Request) -> Response:
        settings = Settings.from_dict(await json_body(request))
        sid, run = await run_in_threadpool(sessions.new, settings)
        return JSONResponse({"session": sid, **run.describe(), "frame": run.frame()})

    @api
    async def set_settings(request: Request) -> Response:
        _, run = run_of(request)
        settings = Settings.from_dict(await json_body(request))
        rebuilt = await call(run, run.update, settings)
        return JSONResponse({"rebuilt": rebuilt, **run.describe(), "frame": run.frame()})

    @api
    async def step(request: Request) -> Response:
        _, run = run_of(request)
        epochs = _epochs(request.query_params.get("epochs", "1"))

        def advance() -> dict[str, Any]:
            run.step(epochs)
            return run.frame()

        return JSONResponse(await call(run, advance))

    @api
    async def reset(request: Request) -> Response:
        _, run = run_of(request)
        await call(run, run.reset)
        return JSONResponse({**run.describe(), "frame": run.frame()})

    @api
    async def heat(request: Request) -> Response:
        _, run = run_of(request)
        return Response(await call(run, run.heat_maps), media_type="application/octet-stream")

    @api
    async def inspect(request: Request) -> Response:
        _, run = run_of(request)
        q = request.query_params
        layer = int(q["layer"]) if q.get("layer") else None
        result = await call(
            run, run.inspect, int(q.get("index", "0")), layer, int(q.get("neuron", "0"))
        )
        return JSONResponse(result)

    @api
    async def check(request: Request) -> Response:
        _, run = run_of(request)
        return JSONResponse(await call(run, run.check_gradients))

    @api
    async def upload(request: Request) -> Response:
        _, run = run_of(request)
        q = request.query_params
        raw = await _bounded_body(request, MAX_UPLOAD_BYTES)
        task = q.get("task") or None
        if task not in (None, "classification", "regression"):
            raise SettingsError(f"task must be classification or regression, got {task!r}")
        data = await run_in_threadpool(
            read_upload,
            raw,
            q.get("name", "upload.csv"),
            q.get("x1", ""),
            q.get("x2", ""),
            q.get("target", ""),
            task=task,
        )

        def use() -> None:
            run.upload = data
            settings = Settings.from_dict({**run.settings.as_dict(), "dataset": "upload"})
            run.settings = settings
            run.build()

        await call(run, use)
        return JSONResponse({**run.describe(), "frame": run.frame()})

    @api
    async def model(request: Request) -> Response:
        _, run = run_of(request)
        body = await call(run, run.model_bytes)
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"content-disposition": 'attachment; filename="playground-model.npz"'},
        )

    @api
    async def snippet(request: Request) -> Response:
        _, run = run_of(request)
        return PlainTextResponse(
            await call(run, run.snippet),
            headers={"content-disposition": 'attachment; filename="playground_run.py"'},
        )

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        sid, run = await run_in_threadpool(sessions.new, Settings())
        try:
            await ws.send_text(json.dumps({"type": "hello", "session": sid}))
            while True:
                message = await ws.receive_text()
                try:
                    await _answer(ws, run, call, json.loads(message))
                except (SettingsError, UploadError, IndexError, ValueError, TypeError) as exc:
                    await ws.send_text(
                        json.dumps({"type": "error", "message": str(exc).splitlines()[0]})
                    )
        except WebSocketDisconnect:
            pass
        finally:
            sessions.drop(sid)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/sessions", new_session, methods=["POST"]),
        Route("/api/sessions/{sid}/settings", set_settings, methods=["POST"]),
        Route("/api/sessions/{sid}/step", step, methods=["POST"]),
        Route("/api/sessions/{sid}/reset", reset, methods=["POST"]),
        Route("/api/sessions/{sid}/heat", heat),
        Route("/api/sessions/{sid}/inspect", inspect),
        Route("/api/sessions/{sid}/gradcheck", check, methods=["POST"]),
        Route("/api/sessions/{sid}/upload", upload, methods=["POST"]),
        Route("/api/model.npz", model),
        Route("/api/snippet.py", snippet),
        WebSocketRoute("/ws", socket),
    ]
    app = Starlette(routes=routes)
    app.state.sessions = sessions
    guarded = Guard(app, token, hosts)
    guarded.sessions = sessions  # type: ignore[attr-defined]
    return guarded


class _TooLarge(ValueError):
    pass


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"the upload has {int(declared)} bytes, more than the {limit} allowed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"the upload has more than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def _epochs(text: Any) -> int:
    try:
        n = int(text)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= 100:
        raise SettingsError(f"epochs must be an integer from 1 to 100, got {text!r}")
    return n


async def _answer(
    ws: WebSocket, run: Session, call: Callable[..., Awaitable[Any]], message: Any
) -> None:
    """Answer one message of the page (see app.js for the other side)."""
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    kind = message.get("type")

    async def send_frame(epochs: int = 0) -> None:
        # One binary message: a 4-byte little-endian length, the frame's JSON, then
        # the heat maps (two messages would wait on TCP's delayed acknowledgement).
        def work() -> bytes:
            if epochs:
                run.step(epochs)
            head = json.dumps(run.frame()).encode()
            return len(head).to_bytes(4, "little") + head + run.heat_maps()

        await ws.send_bytes(await call(run, work))

    if kind == "settings":
        settings = Settings.from_dict(message.get("settings") or {})
        await call(run, run.update, settings)
        await ws.send_text(json.dumps(run.describe()))
        await send_frame()
    elif kind == "sync":
        await ws.send_text(json.dumps(run.describe()))
        await send_frame()
    elif kind == "step":
        await send_frame(_epochs(message.get("epochs", 1)))
    elif kind == "reset":
        await call(run, run.reset)
        await ws.send_text(json.dumps(run.describe()))
        await send_frame()
    elif kind == "inspect":
        layer = message.get("layer")
        result = await call(
            run,
            run.inspect,
            int(message.get("index", 0)),
            None if layer is None else int(layer),
            int(message.get("neuron", 0)),
        )
        await ws.send_text(json.dumps(result))
    elif kind == "gradcheck":
        await ws.send_text(json.dumps(await call(run, run.check_gradients)))
    else:
        raise ValueError(f"unknown message type {kind!r}")
    await asyncio.sleep(0)

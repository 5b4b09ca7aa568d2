"""``chainrule playground``: serve the playground page on this machine and open it.

The first line on standard output is the page's URL, with the random token that
every request needs; the server runs until Ctrl-C.  Starlette and uvicorn (the
extra ``chainrule[playground]``) are imported only here.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import signal
import socket
import sys
import threading
import webbrowser

from .. import interruption
from ..interruption import Interrupted
from .common import CLIError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``playground`` subcommand."""
    p = sub.add_parser(
        "playground",
        help="train networks live in the browser, with the seed's equations",
        description="Serve the playground on this machine and open it in the browser: 2-D "
        "data sets or your CSV file, a network you edit with clicks, every neuron drawn as a "
        "heat map, and a clicked point's forward and backward pass with the seed's "
        "equations. The first line printed is the URL (with its random token). Needs: pip "
        "install chainrule[playground].",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (another machine can reach any address "
        "but the loopback one; the token is still required)",
    )
    p.add_argument("--port", type=int, default=0, help="the port to listen on; 0 picks a free one")
    p.add_argument(
        "--no-browser", action="store_true", help="do not open the page; just print its URL"
    )
    p.set_defaults(func=run)


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise CLIError(f"--port must be from 0 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CLIError(f"--host {host!r}: {exc.strerror or exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CLIError(
                f"port {port} on {host} is in use; choose another with --port (0 picks a free one)"
            ) from None
        raise CLIError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    return False


def run(args: argparse.Namespace) -> int:
    """Start the server; print the URL; serve until Ctrl-C or SIGTERM.

    Like every command, it then ends with 130 (143) and one line: the server stopped
    and no file was changed (docs/guarantees.md).
    """
    try:
        import uvicorn

        from ..playground.server import create_app, new_token
    except ImportError as exc:
        missing = (exc.name or "a module").split(".")[0]
        raise CLIError(
            f"the playground needs Starlette and uvicorn ({missing} is missing): "
            f"pip install 'chainrule[playground]'"
        ) from None
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    token = new_token()
    shown = f"[{args.host}]" if ":" in args.host else args.host
    # Listening on every interface: the page is opened through the loopback one.
    where = "127.0.0.1" if args.host in ("0.0.0.0", "::") else shown
    url = f"http://{where}:{port}/?token={token}"
    print(url, flush=True)
    if not _is_loopback(args.host):
        print(
            f"chainrule playground: warning: listening on {args.host}, reachable from other "
            f"machines; anyone with the URL can use it",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(token, host=shown, port=port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws="websockets-sansio" if _has_sansio() else "auto",
        lifespan="off",
        ws_max_size=1 << 20,
    )  # the page's messages are small
    server = uvicorn.Server(config)
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt as exc:  # how the server is meant to end; cli.main says so
        raise Interrupted(
            getattr(exc, "signum", signal.SIGINT), detail="; the server stopped"
        ) from None
    finally:
        sock.close()
    if interruption.received() is not None:  # uvicorn caught the signal and shut down
        raise Interrupted(interruption.received() or signal.SIGINT, detail="; the server stopped")
    return 0


def _has_sansio() -> bool:
    """uvicorn's sans-I/O websockets protocol (newer uvicorn), else its default."""
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True

"""Frames per second of the playground: one epoch of training plus every neuron's heat map.

Usage::

    python benchmarks/playground_fps.py                 # [6, 8, 8, 8, 1] on 500 points, 10 s
    python benchmarks/playground_fps.py --seconds 5 --rounds 3

The real server (``chainrule.playground.server`` under uvicorn, on a free
loopback port) and a WebSocket client in this process, as a browser tab would
talk to it: each frame is one ``step`` message answered by one binary message
holding the frame's JSON (epoch, losses, every weight) and the heat maps of every
neuron (40 × 40 values each), with the next step asked for as soon as a frame arrives (the page
does the same while playing).  ``session`` measures the same work without the
network: ``Session.step`` + ``frame`` + ``heat_maps`` in a loop.  The two are
interleaved round by round; the machine is shared, so compare them in one run.

Needs the ``playground`` extra (Starlette, uvicorn, websockets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src")]

import uvicorn  # noqa: E402
import websockets  # noqa: E402

from chainrule.playground.server import create_app, new_token  # noqa: E402
from chainrule.playground.session import Session, Settings  # noqa: E402

#: [6, 8, 8, 8, 1] trained on 500 points (556 points, 90 % of them for training).
SETTINGS = {
    "dataset": "circle",
    "points": 556,
    "ratio": 90,
    "batch": 10,
    "features": ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1"],
    "layers": [8, 8, 8],
    "activations": ["tanh", "tanh", "tanh"],
    "lr": 0.03,
}


def serve() -> tuple[str, str, uvicorn.Server]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    token = new_token()
    server = uvicorn.Server(
        uvicorn.Config(create_app(token, port=port), log_level="warning", lifespan="off")
    )
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"ws://127.0.0.1:{port}/ws?token={token}", token, server


def split_frame(message: bytes) -> tuple[dict, bytes]:
    """A frame message: its JSON and its heat maps."""
    n = int.from_bytes(message[:4], "little")
    return json.loads(message[4 : 4 + n]), message[4 + n :]


async def over_websocket(url: str, seconds: float) -> tuple[float, int, int]:
    """Frames per second over the WebSocket; also the epoch reached and bytes per frame."""
    async with websockets.connect(url, max_size=None) as ws:
        json.loads(await ws.recv())  # hello
        await ws.send(json.dumps({"type": "settings", "settings": SETTINGS}))
        data = json.loads(await ws.recv())
        assert data["sizes"] == [6, 8, 8, 8, 1] and len(data["train"]) == 500, data["sizes"]
        await ws.recv()
        frames, size = 0, 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            await ws.send(json.dumps({"type": "step", "epochs": 1}))
            frame, heat = split_frame(await ws.recv())
            assert len(heat) == 31 * frame["grid"] ** 2
            frames, size = frames + 1, len(heat)
        return frames / (time.perf_counter() - start), frame["epoch"], size


def in_process(seconds: float) -> float:
    """Frames per second of the same work with no server in between."""
    run = Session(Settings.from_dict(SETTINGS))
    frames = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        run.step(1)
        run.frame()
        run.heat_maps()
        frames += 1
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url, _, server = serve()
    ws_rates, session_rates = [], []
    for r in range(args.rounds):
        rate, epoch, size = asyncio.run(over_websocket(url, args.seconds))
        ws_rates.append(rate)
        session_rates.append(in_process(args.seconds))
        print(
            f"round {r + 1}: websocket {rate:6.1f} frames/s ({epoch} epochs, {size} bytes of "
            f"heat maps per frame); session {session_rates[-1]:6.1f} frames/s",
            flush=True,
        )
    server.should_exit = True
    print(
        f"median: websocket {statistics.median(ws_rates):.1f} frames/s, session "
        f"{statistics.median(session_rates):.1f} frames/s; [6, 8, 8, 8, 1], 500 training "
        f"points, batch 10 (50 steps per frame), 31 heat maps of 40 x 40"
    )


if __name__ == "__main__":
    main()

"""The model's public address: one small process that owns the port for as long as the model is
deployed and forwards every request to the Bento server that is live.

A redeploy starts the new Bento server on a port of its own, smoke-tests it there, then rewrites
the route file and sends this process SIGHUP: new requests go to the new server at once, and the
status file says `draining: []` once the old server has no request in flight. Only then is the
old server stopped. Clients keep their connections to this process, so none is refused or reset.

Why not two servers on one port with SO_REUSEPORT: BentoML 1.3 binds its API socket through
circus without that option, and when one of two SO_REUSEPORT listeners closes, the connections
still waiting in its accept queue are reset (Linux moves them only with
`net.ipv4.tcp_migrate_req`, off by default and root's to change).

    python -m serving.front --port 3000 --route ROUTE_FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# headers about one connection, not the request: never forwarded either way
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# a request the Bento server has not answered by then gets a 504; BentoML's own timeout is 30 s
UPSTREAM_TIMEOUT_S = 60


def status_path(route: Path) -> Path:
    return route.with_name(route.stem + ".status.json")


def read_route(route: Path) -> dict[str, Any]:
    return json.loads(route.read_text())


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Readers never see half a file: written beside it, then renamed over it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload))
    partial.replace(path)


class Front:
    def __init__(self, route: Path, port: int) -> None:
        self.route, self.port = route, port
        self.backend: str = read_route(route)["backend"]
        self.in_flight: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None

    async def start(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=0),
        )
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload)
        self.write_status()

    async def stop(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    def reload(self) -> None:
        """SIGHUP: the route file names the server to send new requests to."""
        self.backend = read_route(self.route)["backend"]
        self.write_status()

    def write_status(self) -> None:
        draining = sorted(b for b, n in self.in_flight.items() if n and b != self.backend)
        write_json(
            status_path(self.route),
            {
                "pid": os.getpid(),
                "port": self.port,
                "backend": self.backend,
                "draining": draining,
                "served": dict(self.served),
            },
        )

    async def forward(self, request: web.Request) -> web.StreamResponse:
        backend = self.backend
        self.in_flight[backend] += 1
        try:
            return await self._forward(request, backend)
        finally:
            self.in_flight[backend] -= 1
            self.served[backend] += 1
            if backend != self.backend and not self.in_flight[backend]:
                self.write_status()

    async def _forward(self, request: web.Request, backend: str) -> web.StreamResponse:
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        try:
            async with self.session.request(
                request.method,
                backend + request.path_qs,
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as answer:
                payload = await answer.read()
                kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
        except TimeoutError:
            return _error(504, "gateway timeout", f"{backend} did not answer in time")
        except aiohttp.ClientError as exc:
            return _error(502, "bad gateway", f"{backend}: {exc}")
        response = web.Response(status=answer.status, body=payload)
        for key, value in kept:
            response.headers.add(key, value)
        return response


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--route", type=Path, required=True, help="JSON file: {backend: URL}")
    args = parser.parse_args()
    front = Front(args.route, args.port)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", front.forward)
    app.on_startup.append(front.start)
    app.on_cleanup.append(front.stop)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""The operator's HTTP endpoint on ``--metrics-port``: ``/metrics`` (Prometheus) and ``/readyz``.

Readiness means "this replica can do its job": the API server answers with the operator's credentials and AWS
answers ``sts:GetCallerIdentity`` (allowed to every identity, so it needs no IAM permission), checked every
``interval`` seconds by :class:`ReadinessChecker` in the operator's event loop. Liveness stays kopf's cheap
``--liveness`` endpoint (it only proves the event loop runs), so a broken AWS never restarts the pod.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ecr_operator.core import metrics

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    """The last result of each check, shared between the checker (event loop) and the HTTP thread."""

    interval: float
    timeout: float = 10.0
    """A check's limit; results older than 3 intervals plus this count as failed (a hung check)."""
    checks: dict[str, str] = field(default_factory=dict)
    """Check name -> "ok" or what failed."""
    checked_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, checks: dict[str, str]) -> None:
        with self._lock:
            self.checks, self.checked_at = dict(checks), time.monotonic()
        metrics.READY.set(1 if self.ready()[0] else 0)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            checks, age = dict(self.checks), time.monotonic() - self.checked_at
        fresh = self.checked_at > 0 and age <= 3 * self.interval + self.timeout
        ok = fresh and bool(checks) and all(result == "ok" for result in checks.values())
        detail = {"ready": ok, "checks": checks, "stale": not fresh}
        return ok, detail | {"checkedSecondsAgo": round(age, 1) if self.checked_at else None}


Check = Callable[[], Awaitable[None]]


class ReadinessChecker:
    """Runs the checks every ``interval`` seconds until cancelled (a task started by kopf's startup handler)."""

    def __init__(self, readiness: Readiness, checks: dict[str, Check]) -> None:
        self.readiness, self.checks, self.timeout = readiness, checks, readiness.timeout

    async def run_once(self) -> dict[str, str]:
        results: dict[str, str] = {}
        for name, check in list(self.checks.items()):  # a startup handler may add one meanwhile
            try:
                await asyncio.wait_for(check(), self.timeout)
                results[name] = "ok"
            except Exception as exc:  # any failure makes the replica unready; its text goes to /readyz
                results[name] = f"{type(exc).__name__}: {exc}"[:300]
        self.readiness.record(results)
        return results

    async def run(self) -> None:
        previous: dict[str, str] = {}
        while True:
            results = await self.run_once()
            if results != previous:
                log.info("readiness: %s", results)
                previous = results
            await asyncio.sleep(self.readiness.interval)


def serve(readiness: Readiness, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread; returns the server (``server_address`` has the bound port)."""
    metrics.publish_build_info()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/readyz":
                ok, detail = readiness.ready()
                self._send(200 if ok else 503, json.dumps(detail).encode(), "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server

"""moto's stand-alone AWS mock server as a separate process on a loopback port."""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ._process import DevEnvError, ManagedProcess, Service, free_port, wait_until

__all__ = ["MotoServer"]

_HOST = "127.0.0.1"


class MotoServer(Service):
    """moto's server (``python -m ecr_operator_dev._motomain``: see there) on a free loopback port.

    Its log goes to ``<workdir>/moto-server.log`` (default workdir: a new temporary directory).

    Point AWS clients at :attr:`endpoint_url` (or put :meth:`aws_environment` into the
    environment of a child process). :meth:`reset` forgets every mocked resource.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
        die_with_parent: bool = True,
    ) -> None:
        self.workdir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="ecr-operator-moto-"))
        self.python = python
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        self.log_path = self.workdir / "moto-server.log"
        self._port: int | None = None
        self._process: ManagedProcess | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` (fixed once started)."""
        if self._port is None:
            raise DevEnvError("the moto server has not been started")
        return f"http://{_HOST}:{self._port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        """Process id of the server (None before the first start)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = free_port(_HOST)
        env = dict(os.environ)
        # The server must not pick up real credentials or endpoints meant for its clients.
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(key, None)
        env["PYTHONUNBUFFERED"] = "1"
        self._process = ManagedProcess(
            "moto-server",
            [self.python, "-m", "ecr_operator_dev._motomain", "-H", _HOST, "-p", str(self._port)],
            self.log_path,
            env=env,
            cwd=self.workdir,
            die_with_parent=self.die_with_parent,
        )
        self._process.start()
        try:
            wait_until(
                self._healthy,
                what=f"moto server at {self.endpoint_url}",
                timeout=self.startup_timeout,
                processes=[self._process],
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def reset(self) -> None:
        """Drop all state of the mocked AWS accounts (``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as resp:
            if resp.status != 200:
                raise DevEnvError(f"moto reset answered HTTP {resp.status}")

    def aws_environment(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment variables pointing the AWS SDKs at this server with dummy credentials."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2) as resp:
                status: int = resp.status
                return status == 200
        except urllib.error.HTTPError:
            return False

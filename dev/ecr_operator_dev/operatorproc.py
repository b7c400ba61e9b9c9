"""The operator as a real child process (`python -m ecr_operator.cli run ...`), for the demo, tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._process import Service, free_port

__all__ = ["OperatorProcess"]


class OperatorProcess(Service):
    """Start, stop, SIGKILL and restart one operator process; its output goes to ``log_path`` (appended)."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        aws_env: Mapping[str, str],
        log_path: Path,
        args: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.log_path = log_path
        self.args = list(args)
        if not any(arg.startswith("--metrics-port") for arg in self.args):
            # Every process of a test session or benchmark gets its own port (the default 8081 would clash).
            self.args += ["--metrics-port", str(free_port()), "--metrics-address", "127.0.0.1"]
        self.metrics_port = (
            int(self.args[self.args.index("--metrics-port") + 1]) if "--metrics-port" in self.args else 0
        )
        self.env = {**os.environ, **aws_env, "KUBECONFIG": str(kubeconfig), **(extra_env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "ecr_operator.cli", "run", *self.args]

    @property
    def metrics_url(self) -> str:
        """``/metrics`` and ``/readyz`` live here (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no cleanup, exactly like an OOM kill or a node loss."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (kopf finishes the handlers in flight), then SIGKILL after ``timeout``."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, characters: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return ""

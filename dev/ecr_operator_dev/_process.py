"""Child-process plumbing shared by the control plane and the moto server.

Every process runs in its own session (so its process group can be signalled as a whole and a
Ctrl-C in the terminal does not reach it before we shut it down in order), writes its output to
a log file, and is stopped by an ``atexit`` hook if its owner forgot. On Linux the child also
asks the kernel to send it SIGTERM when the thread that started it dies, so a test run killed
with SIGKILL does not leave etcd / kube-apiserver behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "DevEnvError",
    "ManagedProcess",
    "ProcessExitedError",
    "free_port",
    "wait_until",
]


class Service:
    """Something started and stopped, usable as ``with Service(...) as running:``."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class DevEnvError(RuntimeError):
    """Something in the local development environment could not be set up."""


class ProcessExitedError(DevEnvError):
    """A managed process exited while it was expected to be running."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


_PR_SET_PDEATHSIG = 1


def _make_pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with its parent (Linux only), else None.

    Everything (library lookup, symbol resolution) is done here, before the fork, so the child
    only performs one system call.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class ManagedProcess:
    """One long-running child process with a log file and a reliable ``stop()``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.die_with_parent = die_with_parent
        self._popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} log={self.log_path}>"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        if self.running:
            raise DevEnvError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        preexec = _make_pdeathsig_preexec() if self.die_with_parent else None
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    preexec_fn=preexec,  # a single prctl() call, prepared before the fork
                )
            except OSError as exc:
                raise DevEnvError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        _register(self)

    def check_running(self) -> None:
        """Raise :class:`ProcessExitedError` (with the end of the log) if the process is gone."""
        if self._popen is None:
            raise ProcessExitedError(f"{self.name} was never started")
        code = self._popen.poll()
        if code is not None:
            raise ProcessExitedError(
                f"{self.name} exited with code {code}; log: {self.log_path}\n"
                f"--- last lines of {self.log_path} ---\n{_log_tail(self.log_path)}"
            )

    def failure_context(self) -> str:
        """A short description of the process and its log, for error messages."""
        state = "running" if self.running else "not running"
        return (
            f"{self.name} ({state}, pid {self.pid}); log: {self.log_path}\n"
            f"--- last lines of {self.log_path} ---\n{_log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` seconds; idempotent."""
        popen = self._popen
        if popen is None:
            return
        try:
            if popen.poll() is None:
                self._signal_group(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(popen.pid, signal.SIGKILL)
                    popen.wait(timeout=timeout)
            # Also reap anything the process left behind in its group.
            self._signal_group(popen.pid, signal.SIGKILL)
        finally:
            _unregister(self)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def _register(proc: ManagedProcess) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(proc)
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True


def _unregister(proc: ManagedProcess) -> None:
    with _live_lock:
        _live.discard(proc)


def _stop_all() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.stop(timeout=5.0)


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    processes: Sequence[ManagedProcess] = (),
    interval: float = 0.2,
) -> None:
    """Poll ``check`` until it returns True; fail fast if one of ``processes`` exits."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        for proc in processes:
            proc.check_running()
        try:
            if check():
                return
        except Exception as exc:  # the service is still coming up; remember why for the report
            last_error = exc
        if time.monotonic() >= deadline:
            details = "\n".join(proc.failure_context() for proc in processes)
            reason = f" (last error: {last_error!r})" if last_error is not None else ""
            raise DevEnvError(f"timed out after {timeout:.0f}s waiting for {what}{reason}\n{details}")
        time.sleep(interval)

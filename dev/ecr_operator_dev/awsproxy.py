"""A counting, fault-injecting HTTP proxy for the AWS JSON protocol, put between a client and moto.

Point a process at it with ``AWS_ENDPOINT_URL=proxy.endpoint_url``: every request is recorded as a
:class:`Call` (service, operation, status), so benchmarks count exactly what a process sends, and tests
can inject AWS faults moto never produces (throttling, 5xx, access denied, slow or dropped connections,
requests that never reach AWS, answers that are lost) or act at the N-th call (e.g. SIGKILL the operator
between two AWS calls). With :meth:`AwsProxy.emit_events` it also sends the events AWS would send to EventBridge
for every successful ECR and KMS write of anyone but the operator (``awsevents.EventEmitter``).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ._process import Service
from .awsevents import EventEmitter

__all__ = ["READ_PREFIXES", "AwsProxy", "Call", "Fault", "is_read"]

FaultKind = Literal[
    "throttle",
    "http429",
    "http500",
    "http503",
    "access_denied",
    "invalid_parameter",
    "delay",
    "drop",
    "abort",
    "lose_response",
]

READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck")
"""AWS operations that only read, by name (the one definition the tests and benchmarks share)."""
_SERVICES = {
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "TrentService": "kms",
    "ResourceGroupsTaggingAPI_20170126": "tagging",
    "AmazonSQS": "sqs",
    "AWSEvents": "events",
}
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/,\s]+)/")
_EMITTING = ("ecr", "kms")
log = logging.getLogger(__name__)

_FAULT_RESPONSES: dict[str, tuple[int, str, str]] = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "http429": (429, "TooManyRequestsException", "Too Many Requests"),
    "http500": (500, "InternalFailure", "injected internal failure"),
    "http503": (503, "ServiceUnavailable", "injected unavailability"),
    "access_denied": (400, "AccessDeniedException", "User is not authorized to perform this action (injected)"),
    "invalid_parameter": (400, "InvalidParameterException", "injected invalid parameter"),
}


_THROTTLING: dict[str, tuple[int, str]] = {
    # What each service answers above its request-rate quota.
    "ecr": (400, "ThrottlingException"),
    "kms": (400, "ThrottlingException"),
    "tagging": (400, "ThrottledException"),
    "sts": (400, "Throttling"),
}
_RATE_PREFIXES = {"tagging": "tag"}
"""Proxy service name -> the prefix rate specs use (IAM's: ``tag:GetResources``)."""
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")
_ACCESS_KEY_ID = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")


def _error_response(service: str, status: int, code: str, message: str) -> tuple[int, bytes, dict[str, str]]:
    """An AWS error in the service's protocol: JSON for ECR, KMS and tagging, XML for STS (the query protocol)."""
    if service == "sts":
        if code == "AccessDeniedException":
            status, code = 403, "AccessDenied"
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        )
        return status, body.encode(), {"Content-Type": "text/xml"}
    return status, json.dumps({"__type": code, "message": message}).encode(), {}


class _Bucket:
    """AWS's side of a request-rate quota: ``rate`` requests a second, bursts up to ``capacity``; a request
    finding no token is throttled (never waits)."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens, self.updated = capacity, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    status: int
    """HTTP status returned to the client (0 when the connection was dropped)."""
    started: float
    """time.monotonic() when the request arrived."""
    injected: str | None = None
    """The fault kind injected instead of (or before) forwarding, if any."""
    region: str = ""
    """The region the request was signed for (SigV4 credential scope); "" when unsigned."""
    access_key: str = ""
    """The access key id the request was signed with: who called."""

    @property
    def read(self) -> bool:
        return is_read(self.operation)


@dataclass
class Fault:
    """Inject ``kind`` into calls matching ``operation`` ("*" = all, "write" = every non-read call).

    ``skip`` matching calls pass through first, then ``times`` matching calls get the fault
    (None = forever). ``delay_seconds`` is used by kind "delay" (the call is then forwarded).

    Connection faults (the client gets no answer, the call is recorded with status 0):

    * "drop": the connection is closed as the request arrives (no hook runs);
    * "abort": the before-hooks run, then the connection is closed and the request never reaches AWS,
      like a client killed just before sending;
    * "lose_response": the request is forwarded (AWS does the work), the after-hooks run, then the
      connection is closed without an answer, like a client killed before reading it.
    """

    kind: FaultKind
    operation: str = "*"
    times: int | None = 1
    skip: int = 0
    delay_seconds: float = 0.0
    body_contains: str | None = None
    """Only requests whose body contains this text (e.g. one role's account in an AssumeRole)."""
    account: str | None = None
    """Only requests signed with credentials of a role of this account that the proxy saw assumed (AssumeRole
    through it): one account's calls slowed or refused while the others' go on."""
    seen: int = field(default=0, init=False)
    injected: int = field(default=0, init=False)

    def matches(self, operation: str, body: bytes = b"", account: str | None = None) -> bool:
        if self.body_contains is not None and self.body_contains.encode() not in body:
            return False
        if self.account is not None and self.account != account:
            return False
        if self.operation == "*":
            return True
        if self.operation == "write":
            return not is_read(operation)
        return self.operation == operation

    def take(self, operation: str, body: bytes = b"", account: str | None = None) -> bool:
        """Whether this call gets the fault (updates the counters)."""
        if not self.matches(operation, body, account):
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.injected >= self.times):
            return False
        self.injected += 1
        return True


Hook = Callable[[str, str], None]
"""Called with (service, operation) around forwarding; may block, must not raise (use a fault to cut a call)."""


class AwsProxy(Service):
    """The proxy on a free loopback port; a context manager. Thread-safe counters."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream_host = parts.hostname or "127.0.0.1"
        self._upstream_port = parts.port or 80
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults: list[Fault] = []
        self._before: list[Hook] = []
        self._after: list[Hook] = []
        self._rates: dict[str, float] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._burst_seconds = 1.0
        self._per_operation = False
        self._tag_index_lag = 0.0
        self._key_accounts: dict[str, str] = {}
        """Access key id -> the account of the role whose AssumeRole returned it."""
        self._unindexed: dict[str, float] = {}
        """KMS key ARN -> time.monotonic() until which the tagging API does not show it."""
        self._emitter: EventEmitter | None = None
        self._quiet_keys: frozenset[str] = frozenset()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- what the tests and benchmarks use ------------------------------------------------

    def calls(self, since: float | None = None) -> list[Call]:
        with self._lock:
            calls = list(self._calls)
        return calls if since is None else [c for c in calls if c.started >= since]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def on_before(self, hook: Hook) -> None:
        """Run ``hook`` before forwarding each request (e.g. to kill the client at the N-th write)."""
        with self._lock:
            self._before.append(hook)

    def on_after(self, hook: Hook) -> None:
        """Run ``hook`` after AWS answered, before the answer goes back to the client."""
        with self._lock:
            self._after.append(hook)

    def clear_hooks(self) -> None:
        with self._lock:
            self._before.clear()
            self._after.clear()

    def enforce_rates(
        self, rates: dict[str, float] | None, burst_seconds: float = 1.0, per_operation: bool = False
    ) -> None:
        """Throttle like AWS above per-operation request rates (None: never), with the service's real error.

        ``rates`` maps ``service:Operation`` (or ``service:*``: the service's other operations) to requests per
        second, services spelled like IAM (``ecr``, ``kms``, ``tag``, ``sts``); each bucket holds
        ``burst_seconds`` of requests. A ``service:*`` rate is one bucket shared by those operations, or with
        ``per_operation`` one bucket for each of them (as AWS throttles ECR: every API on its own). Throttled calls
        are recorded with ``injected="rate"``.
        """
        with self._lock:
            self._rates = dict(rates or {})
            self._buckets = {}
            self._burst_seconds = burst_seconds
            self._per_operation = per_operation

    def _over_rate(self, service: str, operation: str) -> bool:
        prefix = _RATE_PREFIXES.get(service, service)
        with self._lock:
            key = next((k for k in (f"{prefix}:{operation}", f"{prefix}:*") if k in self._rates), None)
            if key is None:
                return False
            name = f"{prefix}:{operation}" if self._per_operation else key
            bucket = self._buckets.get(name)
            if bucket is None:
                rate = self._rates[key]
                bucket = self._buckets[name] = _Bucket(rate, max(1.0, rate * self._burst_seconds))
            return not bucket.take()

    def emit_events(self, operator_access_keys: frozenset[str] | set[str], emitter: EventEmitter | None = None) -> None:
        """From now on, every successful ECR and KMS write signed with an access key not in ``operator_access_keys``
        puts the events AWS would send on moto's default bus of its region (the operator's own writes are told
        apart by their access key: it runs with credentials of its own)."""
        with self._lock:
            self._emitter = emitter or EventEmitter(f"http://{self._upstream_host}:{self._upstream_port}")
            self._quiet_keys = frozenset(operator_access_keys)

    @property
    def emitter(self) -> EventEmitter | None:
        return self._emitter

    def _emit(self, service: str, operation: str, headers: Any, body: bytes, payload: bytes) -> None:
        with self._lock:
            emitter, quiet = self._emitter, self._quiet_keys
        if emitter is None or service not in _EMITTING or is_read(operation):
            return
        key, region = _caller(headers)
        if key in quiet or not region:
            return
        try:
            emitter.write(service, operation, region, key, json.loads(body or b"{}"), json.loads(payload or b"{}"))
        except Exception:  # the harness's events are best effort, as AWS's are
            log.exception("could not emit the events of %s:%s", service, operation)

    def set_tag_index_lag(self, seconds: float) -> None:
        """Hide each KMS key from the tagging API's GetResources for ``seconds`` after its CreateKey (0: off).

        The Resource Groups Tagging API is eventually consistent on AWS; moto answers at once.
        """
        with self._lock:
            self._tag_index_lag = seconds

    def hide_from_tag_index(self, arn: str, seconds: float) -> None:
        """Hide one resource (e.g. a key made straight in moto) from GetResources for ``seconds``."""
        with self._lock:
            self._unindexed[arn] = time.monotonic() + seconds

    def _note_created_key(self, payload: bytes) -> None:
        with self._lock:
            lag = self._tag_index_lag
        if lag <= 0:
            return
        try:
            arn = json.loads(payload)["KeyMetadata"]["Arn"]
        except (ValueError, KeyError, TypeError):
            return
        self.hide_from_tag_index(str(arn), lag)

    def _note_assumed_role(self, request: bytes, payload: bytes) -> None:
        """Remember which account the credentials an AssumeRole returned belong to (the role ARN's)."""
        role = parse_qs(request.decode(errors="replace")).get("RoleArn", [""])[0]
        account = _ROLE_ACCOUNT.match(role)
        key = _ACCESS_KEY_ID.search(payload.decode(errors="replace"))
        if account and key:
            with self._lock:
                self._key_accounts[key.group(1)] = account.group(1)

    def _account_of(self, authorization: str | None) -> str | None:
        """The account of a request's credentials, if they came from an AssumeRole the proxy saw."""
        found = _CREDENTIAL.search(authorization or "")
        if found is None:
            return None
        with self._lock:
            return self._key_accounts.get(found.group("key"))

    def _lag_tag_index(self, payload: bytes) -> bytes:
        """GetResources' answer without the resources the index does not show yet."""
        now = time.monotonic()
        with self._lock:
            hidden = {arn for arn, until in self._unindexed.items() if until > now}
        if not hidden:
            return payload
        try:
            document = json.loads(payload)
        except ValueError:
            return payload
        document["ResourceTagMappingList"] = [
            entry for entry in document.get("ResourceTagMappingList", []) if entry.get("ResourceARN") not in hidden
        ]
        return json.dumps(document).encode()

    # -- internals ---------------------------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def _fault_for(self, operation: str, body: bytes, account: str | None = None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.take(operation, body, account):
                    return fault
        return None

    def _hooks(self, which: Literal["before", "after"]) -> list[Hook]:
        with self._lock:
            return list(self._before if which == "before" else self._after)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Answers go out in one write; without this, Nagle + delayed ACK add ~40 ms to each call.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                self._proxy()

            def do_GET(self) -> None:
                self._proxy()

            def _proxy(self) -> None:
                started = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service, operation = _identify(self.headers.get("X-Amz-Target"), body, self.path)
                key, region = _caller(self.headers)
                fault = proxy._fault_for(operation, body, proxy._account_of(self.headers.get("Authorization")))
                if fault is not None and fault.kind == "drop":
                    self._hang_up(Call(service, operation, 0, started, "drop", region, key))
                    return
                if fault is not None and fault.kind in _FAULT_RESPONSES:
                    status, code, message = _FAULT_RESPONSES[fault.kind]
                    self._respond(*_error_response(service, status, code, message))
                    proxy._record(Call(service, operation, status, started, fault.kind, region, key))
                    return
                if proxy._over_rate(service, operation):
                    status, code = _THROTTLING[service]
                    self._respond(*_error_response(service, status, code, "Rate exceeded"))
                    proxy._record(Call(service, operation, status, started, "rate", region, key))
                    return
                if fault is not None and fault.kind == "delay":
                    time.sleep(fault.delay_seconds)
                for hook in proxy._hooks("before"):
                    hook(service, operation)
                if fault is not None and fault.kind == "abort":
                    self._hang_up(Call(service, operation, 0, started, "abort", region, key))
                    return
                try:
                    status, payload, headers = proxy._forward(self.command, self.path, dict(self.headers), body)
                except (OSError, http.client.HTTPException):  # moto went away (a teardown): hang up, like it did
                    self._hang_up(Call(service, operation, 0, started, "upstream_gone", region, key))
                    return
                if status == 200 and operation == "AssumeRole":
                    proxy._note_assumed_role(body, payload)
                if status == 200 and operation == "CreateKey":
                    proxy._note_created_key(payload)
                elif status == 200 and service == "tagging" and operation == "GetResources":
                    payload = proxy._lag_tag_index(payload)
                for hook in proxy._hooks("after"):
                    hook(service, operation)
                if fault is not None and fault.kind == "lose_response":
                    self._hang_up(Call(service, operation, 0, started, "lose_response", region, key))
                    if status == 200:
                        proxy._emit(service, operation, self.headers, body, payload)
                    return
                self._respond(status, payload, headers)
                proxy._record(Call(service, operation, status, started, fault.kind if fault else None, region, key))
                if status == 200:
                    proxy._emit(service, operation, self.headers, body, payload)

            def _hang_up(self, call: Call) -> None:
                """Close the connection without an answer."""
                proxy._record(call)
                self.close_connection = True
                self.connection.close()

            def _respond(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                """Status line, headers and body in one send."""
                content_type = headers.get("Content-Type") or headers.get("content-type")
                reason = self.responses.get(status, ("",))[0]
                head = (
                    f"HTTP/1.1 {status} {reason}\r\n"
                    f"Content-Type: {content_type or 'application/x-amz-json-1.1'}\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n"
                )
                self.wfile.write(head.encode("latin-1") + payload)

        return Handler

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        connection = http.client.HTTPConnection(self._upstream_host, self._upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("connection", "keep-alive")}
            connection.connect()
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # http.client sends headers and a bytes body in one write.
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()


def _caller(headers: Any) -> tuple[str, str]:
    """(access key id, region) from a SigV4 Authorization header; ("", "") when unsigned."""
    found = _CREDENTIAL.search(str(headers.get("Authorization") or ""))
    return (found.group("key"), found.group("region")) if found else ("", "")


def _identify(target: str | None, body: bytes, path: str) -> tuple[str, str]:
    """(service, operation) from the JSON protocol's X-Amz-Target, or the query protocol's Action."""
    if target and "." in target:
        prefix, operation = target.split(".", 1)
        return _SERVICES.get(prefix, prefix), operation
    try:
        action = parse_qs(body.decode()).get("Action", [""])[0]
    except UnicodeDecodeError:
        action = ""
    return ("sts" if action else "other"), (action or path)

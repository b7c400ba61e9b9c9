"""A real, single-node Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback.

kube-controller-manager runs only the controllers that act on API objects alone (:data:`CONTROLLERS`): garbage
collection (owner references), the Namespace controller (a deleted Namespace empties and goes), ResourceQuota
(usage, so the API server's quota admission can count), ClusterRole aggregation (``edit``/``view`` gather labelled
roles) and the ValidatingAdmissionPolicy status (type-checking warnings). There is no scheduler or kubelet and no
ServiceAccount token Secrets are created; use :meth:`LocalControlPlane.token_kubeconfig` (TokenRequest) for
ServiceAccount identities.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes

from ._process import DevEnvError, ManagedProcess, Service, free_port, wait_until
from .binaries import ControlPlaneBinaries
from .pki import ControlPlanePKI, generate_pki

__all__ = ["LocalControlPlane"]

_HOST = "127.0.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "resourcequota-controller",
    "clusterrole-aggregation-controller",
    "validatingadmissionpolicy-status-controller",
)
"""What kube-controller-manager runs here: the controllers that need no nodes, pods or cloud."""


class LocalControlPlane(Service):
    """etcd + kube-apiserver + kube-controller-manager in ``workdir``, as a context manager or via
    ``start()``/``stop()``.

    ``workdir`` receives ``pki/``, ``etcd-data/``, ``etcd.log``, ``kube-apiserver.log``,
    ``kube-controller-manager.log`` and the admin ``kubeconfig`` (client certificate in group ``system:masters``).
    ``controller_manager=False`` leaves kube-controller-manager out (nothing is collected, Namespaces never finish
    deleting, ResourceQuota usage is never computed).

    ``die_with_parent`` (Linux) makes the servers exit when the *thread* that started them
    exits, so a killed test run leaves no servers behind; start them from a long-lived thread
    (e.g. the main thread) or pass ``False``.
    """

    def __init__(
        self,
        binaries: ControlPlaneBinaries,
        workdir: Path,
        *,
        startup_timeout: float = 120.0,
        extra_apiserver_args: list[str] | None = None,
        controller_manager: bool = True,
        die_with_parent: bool = True,
    ) -> None:
        self.binaries = binaries
        self.workdir = workdir
        self.startup_timeout = startup_timeout
        self.extra_apiserver_args = list(extra_apiserver_args or [])
        self.with_controller_manager = controller_manager
        self.die_with_parent = die_with_parent
        self.etcd_log = workdir / "etcd.log"
        self.apiserver_log = workdir / "kube-apiserver.log"
        self.controller_manager_log = workdir / "kube-controller-manager.log"
        self._kubeconfig = workdir / "kubeconfig"
        self._controller_manager_kubeconfig = workdir / "kube-controller-manager.kubeconfig"
        self._pki: ControlPlanePKI | None = None
        self._apiserver_port: int | None = None
        self._etcd_client_port: int | None = None
        self._etcd_peer_port: int | None = None
        self._etcd: ManagedProcess | None = None
        self._apiserver: ManagedProcess | None = None
        self._controller_manager_port: int | None = None
        self._controller_manager: ManagedProcess | None = None
        self._lock = threading.RLock()

    # -- public properties ---------------------------------------------------------------

    @property
    def server(self) -> str:
        """``https://127.0.0.1:<port>`` of kube-apiserver (fixed once started)."""
        if self._apiserver_port is None:
            raise DevEnvError("the control plane has not been started")
        return f"https://{_HOST}:{self._apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (self-contained: certificates are embedded)."""
        if not self._kubeconfig.is_file():
            raise DevEnvError("the control plane has not been started")
        return self._kubeconfig

    @property
    def etcd_endpoint(self) -> str:
        if self._etcd_client_port is None:
            raise DevEnvError("the control plane has not been started")
        return f"http://{_HOST}:{self._etcd_client_port}"

    @property
    def pki(self) -> ControlPlanePKI:
        if self._pki is None:
            raise DevEnvError("the control plane has not been started")
        return self._pki

    @property
    def running(self) -> bool:
        servers = [self._etcd, self._apiserver]
        if self.with_controller_manager:
            servers.append(self._controller_manager)
        return all(server is not None and server.running for server in servers)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start etcd, kube-apiserver and kube-controller-manager; wait until the API is ready to use."""
        with self._lock:
            if self.running:
                return
            try:
                self.workdir.mkdir(parents=True, exist_ok=True)
                if self._pki is None:
                    self._pki = generate_pki(self.workdir / "pki")
                if self._apiserver_port is None:
                    self._apiserver_port = free_port(_HOST)
                self._start_etcd()
                self._write_admin_kubeconfig()
                self._start_apiserver()
                if self.with_controller_manager:
                    self._start_controller_manager()
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        """Stop kube-controller-manager, kube-apiserver, then etcd. Idempotent; leaves no processes behind."""
        with self._lock:
            if self._controller_manager is not None:
                self._controller_manager.stop()
            if self._apiserver is not None:
                self._apiserver.stop()
            if self._etcd is not None:
                self._etcd.stop()

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver only (same port, certificates and etcd data); the controller manager
        keeps running and reconnects."""
        with self._lock:
            if self._apiserver is None or self._etcd is None or not self._etcd.running:
                raise DevEnvError("the control plane is not running")
            self._apiserver.stop()
            self._start_apiserver()

    # -- clients -------------------------------------------------------------------------

    def api_client(self) -> kubernetes.client.ApiClient:
        """A new admin (``system:masters``) API client; close it when done."""
        pki = self.pki
        config = kubernetes.client.Configuration()
        config.host = self.server
        config.ssl_ca_cert = str(pki.serving_ca_cert)
        config.cert_file = str(pki.admin_cert)
        config.key_file = str(pki.admin_key)
        config.verify_ssl = True
        return kubernetes.client.ApiClient(configuration=config)

    def token_kubeconfig(
        self,
        namespace: str,
        service_account: str,
        path: Path | None = None,
        *,
        expiration_seconds: int = 3600,
    ) -> Path:
        """Write a kubeconfig authenticating as ``system:serviceaccount:<namespace>:<name>``.

        The ServiceAccount is created if missing (the namespace must exist); the token comes
        from the TokenRequest API and expires after ``expiration_seconds`` (minimum 600).
        Default path: ``<workdir>/kubeconfig-<namespace>-<service_account>``.
        """
        with self.api_client() as client:
            core = kubernetes.client.CoreV1Api(client)
            try:
                core.create_namespaced_service_account(
                    namespace,
                    kubernetes.client.V1ServiceAccount(metadata=kubernetes.client.V1ObjectMeta(name=service_account)),
                )
            except kubernetes.client.ApiException as exc:
                if exc.status != 409:
                    raise
            request = kubernetes.client.AuthenticationV1TokenRequest(
                spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
            )
            response = core.create_namespaced_service_account_token(service_account, namespace, request)
            if response.status is None or not response.status.token:
                raise DevEnvError(f"TokenRequest for {namespace}/{service_account} returned no token")
            token = response.status.token
        target = path or self.workdir / f"kubeconfig-{namespace}-{service_account}"
        user = f"system:serviceaccount:{namespace}:{service_account}"
        self._write_kubeconfig(target, user, {"token": token}, namespace=namespace)
        return target

    # -- internals -----------------------------------------------------------------------

    def _start_etcd(self) -> None:
        # Ports are kept for the lifetime of this object: etcd records its peer URL in its data
        # directory, and a restarted control plane should keep its addresses.
        if self._etcd_client_port is None or self._etcd_peer_port is None:
            self._etcd_client_port = free_port(_HOST)
            self._etcd_peer_port = free_port(_HOST)
            while self._etcd_peer_port == self._etcd_client_port:
                self._etcd_peer_port = free_port(_HOST)
        client_port, peer_port = self._etcd_client_port, self._etcd_peer_port
        client_url = f"http://{_HOST}:{client_port}"
        peer_url = f"http://{_HOST}:{peer_port}"
        argv = [
            str(self.binaries.etcd),
            "--name=devenv",
            f"--data-dir={self.workdir / 'etcd-data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=devenv={peer_url}",
            "--initial-cluster-state=new",
            # Throw-away data: skip fsync, which dominates latency on slow disks.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]
        self._etcd = ManagedProcess("etcd", argv, self.etcd_log, cwd=self.workdir, die_with_parent=self.die_with_parent)
        self._etcd.start()

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as resp:
                body: dict[str, Any] = json.load(resp)
            return body.get("health") == "true"

        wait_until(healthy, what=f"etcd at {client_url}", timeout=self.startup_timeout, processes=[self._etcd])

    def _apiserver_argv(self) -> list[str]:
        pki = self.pki
        assert self._apiserver_port is not None
        return [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={self.etcd_endpoint}",
            f"--bind-address={_HOST}",
            f"--advertise-address={_HOST}",
            f"--secure-port={self._apiserver_port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.client_ca_cert}",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            # A loopback address is not a valid endpoint of the `kubernetes` Service, and no
            # endpoints controller runs here.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self.extra_apiserver_args,
        ]

    def _start_apiserver(self) -> None:
        self._apiserver = ManagedProcess(
            "kube-apiserver",
            self._apiserver_argv(),
            self.apiserver_log,
            cwd=self.workdir,
            die_with_parent=self.die_with_parent,
        )
        self._apiserver.start()
        processes = [self._etcd, self._apiserver] if self._etcd is not None else [self._apiserver]
        wait_until(
            lambda: self._get("/readyz") == 200,
            what=f"kube-apiserver /readyz at {self.server}",
            timeout=self.startup_timeout,
            processes=processes,
        )
        # The system namespaces are created by a post-start controller shortly after /readyz.
        wait_until(
            lambda: self._get("/api/v1/namespaces/default") == 200,
            what="the `default` namespace",
            timeout=self.startup_timeout,
            processes=processes,
        )

    def _start_controller_manager(self) -> None:
        pki = self.pki
        if self._controller_manager_port is None:
            self._controller_manager_port = free_port(_HOST)
        self._write_kubeconfig(
            self._controller_manager_kubeconfig,
            "system:kube-controller-manager",
            {
                "client-certificate-data": _b64(pki.controller_manager_cert),
                "client-key-data": _b64(pki.controller_manager_key),
            },
            namespace="kube-system",
        )
        argv = [
            str(self.binaries.kube_controller_manager),
            f"--kubeconfig={self._controller_manager_kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            # One controller manager: no lease to take. Each controller acts as its own ServiceAccount in
            # kube-system with its bootstrap role (a token from TokenRequest), as in a kubeadm cluster.
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.serving_ca_cert}",
            # Recount every quota often (default 5 min): a quota created before the controller discovered a new
            # CRD (every 30 s) lacks that resource's usage until its next full count, and until then the API
            # server refuses every create the quota covers.
            "--resource-quota-sync-period=10s",
            # Its /healthz, served with the API server's certificate (valid for 127.0.0.1, trusted via the CA).
            f"--bind-address={_HOST}",
            f"--secure-port={self._controller_manager_port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            "--profiling=false",
        ]
        self._controller_manager = ManagedProcess(
            "kube-controller-manager",
            argv,
            self.controller_manager_log,
            cwd=self.workdir,
            die_with_parent=self.die_with_parent,
        )
        self._controller_manager.start()
        healthz = f"https://{_HOST}:{self._controller_manager_port}/healthz"
        ctx = ssl.create_default_context(cafile=str(pki.serving_ca_cert))

        def healthy() -> bool:
            with urllib.request.urlopen(healthz, timeout=2, context=ctx) as resp:
                return bool(resp.status == 200)

        wait_until(
            healthy,
            what=f"kube-controller-manager {healthz}",
            timeout=self.startup_timeout,
            processes=[self._controller_manager],
        )

    def _ssl_context(self) -> ssl.SSLContext:
        pki = self.pki
        ctx = ssl.create_default_context(cafile=str(pki.serving_ca_cert))
        ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        return ctx

    def _get(self, path: str) -> int:
        """Status code of an admin GET (0 if the connection failed)."""
        try:
            with urllib.request.urlopen(f"{self.server}{path}", timeout=5, context=self._ssl_context()) as resp:
                status: int = resp.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return 0

    def _write_admin_kubeconfig(self) -> None:
        pki = self.pki
        self._write_kubeconfig(
            self._kubeconfig,
            "admin",
            {
                "client-certificate-data": _b64(pki.admin_cert),
                "client-key-data": _b64(pki.admin_key),
            },
            namespace="default",
        )

    def _write_kubeconfig(self, path: Path, user: str, credentials: dict[str, str], *, namespace: str) -> None:
        # JSON is valid YAML, so every kubeconfig reader accepts this.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "devenv",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": _b64(self.pki.serving_ca_cert),
                    },
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "devenv", "context": {"cluster": "devenv", "user": user, "namespace": namespace}}],
            "current-context": "devenv",
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")

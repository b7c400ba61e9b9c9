"""Local development / end-to-end environment: a real control plane and a mocked AWS.

* :func:`ensure_controlplane_binaries` builds (once, cached per version) kube-apiserver, etcd
  and kubectl from the pinned Go modules in ``hack/controlplane/``.
* :class:`LocalControlPlane` runs etcd + kube-apiserver on loopback with generated
  certificates and RBAC; no controller manager, scheduler or kubelet.
* :class:`MotoServer` runs moto's AWS mock server in a separate process.
* :class:`AwsProxy` counts the AWS calls a process makes and injects faults moto never produces.

Needs the ``local`` extra (``cryptography``, ``kubernetes``, ``moto[server]``).
"""

from ._process import DevEnvError, ProcessExitedError
from .awsproxy import AwsProxy, Call, Fault
from .binaries import ControlPlaneBinaries, ensure_controlplane_binaries
from .controlplane import LocalControlPlane
from .motoserver import MotoServer
from .operatorproc import OperatorProcess

__all__ = [
    "AwsProxy",
    "Call",
    "ControlPlaneBinaries",
    "DevEnvError",
    "Fault",
    "LocalControlPlane",
    "MotoServer",
    "OperatorProcess",
    "ProcessExitedError",
    "ensure_controlplane_binaries",
]

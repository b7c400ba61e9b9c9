"""ecr-operator's development harness (never in the production wheel or image): a real control plane and a
mocked AWS for the demo, the tests and the benchmarks.

* :func:`ensure_controlplane_binaries` builds (once, cached per version) kube-apiserver,
  kube-controller-manager, etcd and kubectl from the pinned Go modules in ``hack/controlplane/``.
* :class:`LocalControlPlane` runs etcd + kube-apiserver + kube-controller-manager (garbage collection,
  Namespace deletion, ResourceQuota, ClusterRole aggregation) on loopback with generated certificates and
  RBAC; no scheduler or kubelet.
* :class:`MotoServer` runs moto's AWS mock server in a separate process.
* :class:`AwsProxy` counts the AWS calls a process makes and injects faults moto never produces; it can also emit
  the events AWS would send for other callers' writes (:class:`EventEmitter`), into the queue and rules of
  :func:`deploy_events_stack` (the shipped CloudFormation template).

* :mod:`ecr_operator_dev.demo` (``ecr-operator-dev demo``) runs all of it with the operator and an example.

A separate distribution (``dev/pyproject.toml``, ``ecr-operator-dev``), installed by ``hack/lib/venv.sh``.
"""

from ._process import DevEnvError, ProcessExitedError
from .awsevents import EventEmitter, EventsStack, deploy_events_stack
from .awsproxy import READ_PREFIXES, AwsProxy, Call, Fault
from .binaries import ControlPlaneBinaries, ensure_controlplane_binaries
from .controlplane import LocalControlPlane
from .motoserver import MotoServer
from .operatorproc import OperatorProcess

__all__ = [
    "READ_PREFIXES",
    "AwsProxy",
    "Call",
    "ControlPlaneBinaries",
    "DevEnvError",
    "EventEmitter",
    "EventsStack",
    "Fault",
    "LocalControlPlane",
    "MotoServer",
    "OperatorProcess",
    "ProcessExitedError",
    "deploy_events_stack",
    "ensure_controlplane_binaries",
]

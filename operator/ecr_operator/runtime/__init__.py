"""The operator process, once for every kind: kopf registration, the pass runner, per-process state, kopf's
internals (kube.py), Kubernetes Events, readiness and metrics endpoint; handed the kinds by kinds.py."""

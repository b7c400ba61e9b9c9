"""The operator process at runtime: kopf handlers and wiring, Kubernetes events, health and readiness probes."""

"""The EcrRegistry kind: its spec, rendering, CRD, part, reconcile pass, status report and controller (kind.py)."""

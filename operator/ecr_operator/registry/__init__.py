"""The EcrRegistry kind: its spec, rendering, CRD, parts, reconcile pass, status report and handlers."""

"""The EcrRepository kind: its spec, rendering, validation, parts, reconcile pass, status report and controller
(kind.py)."""

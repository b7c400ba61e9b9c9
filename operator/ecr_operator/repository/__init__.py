"""The EcrRepository kind: its spec, rendering, validation, parts, reconcile pass and status report."""

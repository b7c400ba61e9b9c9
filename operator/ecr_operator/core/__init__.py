"""The shared core every kind builds on: AWS clients, errors and reasons, settings, kube access, metrics, actions."""

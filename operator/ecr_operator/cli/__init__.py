"""The command line on top of every kind: run the operator, plan, report, print CRDs and reasons."""

from ecr_operator.cli.main import main

__all__ = ["main"]

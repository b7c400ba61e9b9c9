"""`ecr-operator-dev demo`: everything locally — kube-apiserver + etcd, moto, the operator, an example resource."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecr-operator-dev", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="run everything locally: kube-apiserver + etcd, moto, the operator, the example resource"
    )
    demo.add_argument("--manifest", default=None, help="EcrRepository manifest (default: examples/my-application.yaml)")
    demo.add_argument("--exit-after-ready", action="store_true", help="stop once the resource is Ready (for CI)")
    demo.add_argument("--workdir", default=None, help="where certificates, data and logs go (default: a temp dir)")
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Ready")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .demo import DEFAULT_MANIFEST, run_demo

    manifest = Path(args.manifest) if args.manifest else DEFAULT_MANIFEST
    workdir = Path(args.workdir) if args.workdir else None
    return run_demo(manifest, args.exit_after_ready, workdir, args.timeout)


if __name__ == "__main__":
    sys.exit(main())

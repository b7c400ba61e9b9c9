"""``python -m ecr_operator_dev._motomain``: moto's server, minus a cost real KMS does not have, plus ECR's pull
through cache rules and repository creation templates (:mod:`ecr_operator_dev.moto_ecr`), which moto lacks, and
the ``account`` field in the events EventBridge delivers to SQS.

moto 5 gives every KMS key an RSA-2048 private key, symmetric ones included (for Sign/Verify on asymmetric
keys), generated in ``CreateKey``: ~50 ms of CPU per key, several times everything else a create of an
``EcrRepository`` costs moto. That made the benchmarks measure moto's RSA generation rather than the
operator. Here a symmetric key's private key is generated only if something ever uses it (nothing does for
``SYMMETRIC_DEFAULT`` keys: Sign, Verify and GetPublicKey refuse them); every answer stays the same.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any


class _LazyPrivateKey:
    """Stands in for moto's private key object; makes the real one on first use."""

    def __init__(self, make: Callable[[str], Any], key_spec: str) -> None:
        self._make = make
        self._key_spec = key_spec
        self._key: Any = None
        self._lock = threading.Lock()

    def _real(self) -> Any:
        with self._lock:
            if self._key is None:
                self._key = self._make(self._key_spec)
            return self._key

    def sign(self, message: bytes, signing_algorithm: str) -> bytes:
        return bytes(self._real().sign(message, signing_algorithm))

    def verify(self, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        return bool(self._real().verify(message, signature, signing_algorithm))

    def public_key(self) -> bytes:
        return bytes(self._real().public_key())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._real(), name)


def install_lazy_symmetric_keys() -> None:
    from moto.kms import models

    real: Callable[[str], Any] = getattr(models, "generate_private_key")  # noqa: B009 (not re-exported)

    def generate_private_key(key_spec: str) -> Any:
        if key_spec == "SYMMETRIC_DEFAULT":
            return _LazyPrivateKey(real, key_spec)
        return real(key_spec)

    setattr(models, "generate_private_key", generate_private_key)  # noqa: B010 (what CreateKey calls)


def install_event_account() -> None:
    """moto 5.2 leaves ``account`` out of an event delivered to a target without an input transformer; AWS sends
    every field of the envelope (the operator maps events to resources by it)."""
    from moto.events.utils import EventTemplateParser

    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = (
        '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", "account": "<account>", '
        '"time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}'
    )


def main() -> None:
    install_lazy_symmetric_keys()
    install_event_account()
    from moto.server import main as moto_main

    from ecr_operator_dev import moto_ecr

    moto_ecr.install()

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()

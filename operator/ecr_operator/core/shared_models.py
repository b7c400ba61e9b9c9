"""One botocore service model, client class and set of modeled exceptions per service for all of a factory's clients.

For every client, botocore builds its own ``ServiceModel`` (which then caches an operation model and its shapes for
every operation the client class documents), its own client class (a method and a docstring object per operation),
and, per session, the service's exception classes. With a session per role and a client per (role, region,
service), that is ~0.25 MiB per client, most of a (role, region) client set. All of it derives from the loader's
data alone and no client changes it, so the clients of one :class:`SharedModels` (one per client factory, all its
sessions on one loader and one handler set) reuse the first ones built.

botocore offers no hook for this: :class:`_SharingClientCreator` overrides the two ``ClientCreator`` methods that
build the model and the class, and takes the exceptions factory, only while a factory makes its clients inside
:meth:`SharedModels.sharing`; any other client in the process gets botocore's own behaviour.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client
import botocore.errorfactory

_ACTIVE: contextvars.ContextVar[SharedModels | None] = contextvars.ContextVar("shared_models", default=None)


class SharedModels:
    """Service models, client classes and exception classes, one per (service, API version), kept for the life of
    the factory: a handful of services, so bounded by what the operator calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str | None], Any] = {}
        self._classes: dict[tuple[str, str | None], type] = {}
        self.exceptions = _LockedExceptionsFactory()

    @contextmanager
    def sharing(self) -> Iterator[None]:
        """Clients made by botocore within reuse this object's models, classes and exceptions."""
        token = _ACTIVE.set(self)
        try:
            yield
        finally:
            _ACTIVE.reset(token)

    @property
    def services(self) -> tuple[tuple[str, str | None], ...]:
        """The (service, API version)s whose model is kept."""
        with self._lock:
            return tuple(self._models)

    def model(self, creator: _SharingClientCreator, service: str, api_version: str | None) -> Any:
        key = (service, api_version)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = creator.build_service_model(service, api_version)
            return model

    def client_class(self, creator: _SharingClientCreator, service: str, service_model: Any) -> type:
        key = (service, service_model.api_version)
        with self._lock:
            cls = self._classes.get(key)
            if cls is None:
                cls = self._classes[key] = creator.build_client_class(service, service_model)
            return cls


class _LockedExceptionsFactory(botocore.errorfactory.ClientExceptionsFactory):  # type: ignore[misc]
    """botocore builds a client's exception classes at its first use (its first error answer), in whichever pool
    thread made the call, outside the factory's lock: without this lock, clients doing so at once could each build
    and keep a set of their own."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def create_client_exceptions(self, service_model: Any) -> Any:
        with self._lock:
            return super().create_client_exceptions(service_model)


class _SharingClientCreator(botocore.client.ClientCreator):  # type: ignore[misc]
    """botocore's ClientCreator, reusing the active :class:`SharedModels`' parts when there is one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared = _ACTIVE.get()
        if self._shared is not None:
            self._exceptions_factory = self._shared.exceptions

    def build_service_model(self, service: str, api_version: str | None) -> Any:
        return super()._load_service_model(service, api_version)

    def build_client_class(self, service: str, service_model: Any) -> type:
        cls: type = super()._create_client_class(service, service_model)
        return cls

    def _load_service_model(self, service_name: str, api_version: str | None = None) -> Any:
        if self._shared is None:
            return self.build_service_model(service_name, api_version)
        return self._shared.model(self, service_name, api_version)

    def _create_client_class(self, service_name: str, service_model: Any) -> type:
        if self._shared is None:
            return self.build_client_class(service_name, service_model)
        return self._shared.client_class(self, service_name, service_model)


# botocore.session.Session.create_client looks the class up on the module at every call.
botocore.client.ClientCreator = _SharingClientCreator

"""The one way a function builds its process-wide service: lazily, once, and resettable.

Every function scales to zero, so nothing is built at import: the service (settings, keys,
connections) is built by the first request that needs it, under a lock so that concurrent first
requests build it once. Tests build it again after changing the environment: `reset()` closes
the built one (its connections) and forgets it; `peek()` says whether anything was built, without
building it.

A function's settings are read once per process too (`process_settings`): its first delivery
needs them three times (the sender check, the body limit, the service), and each read walks the
environment for every field.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


class _Settings(Protocol):
    @classmethod
    def from_env(cls) -> Any: ...


T = TypeVar("T", bound=_Closable)
S = TypeVar("S", bound=_Settings)

_settings: dict[type[Any], Any] = {}
_settings_lock = threading.Lock()


def process_settings(cls: type[S]) -> S:
    """The process's `cls.from_env()` (a settings class): read from the environment on first
    use."""
    with _settings_lock:
        if cls not in _settings:
            _settings[cls] = cls.from_env()
        value: S = _settings[cls]
        return value


def forget_settings() -> None:
    """Read the settings again on next use (tests that change the environment)."""
    with _settings_lock:
        _settings.clear()


class Lazy(Generic[T]):
    """A process-wide `T`, built by `build` on first use: call it (or `get()`) to have it."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    from orchestrator import logs, startup

                    logs.setup()  # JSON logs before the build logs anything
                    value = self._value = self._build()
                    startup.settled()  # what the build made lives as long as the process
        return value

    __call__ = get

    def peek(self) -> T | None:
        """The built service, or None when nothing has built it yet."""
        return self._value

    def reset(self) -> None:
        """Close and forget the built service: the next `get()` builds it again, from settings
        read again."""
        forget_settings()
        with self._lock:
            value, self._value = self._value, None
        if value is not None:
            value.close()

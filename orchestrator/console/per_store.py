"""One in-process cache per object store, for the console's memos of immutable audit objects
(parsed records in `audit`, chain heads in `chain`).

Keyed weakly by the store, so a store dropped (a test's, a reconnected MinIO client) takes its
memo with it and no store ever sees another's."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from orchestrator.adapters.object_store import ObjectStore

T = TypeVar("T")


class PerStore(Generic[T]):
    """`PerStore(factory)(store)`: the `factory()` made for this store on its first use."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, store: ObjectStore) -> T:
        with self._lock:
            found = self._items.get(store)
            if found is None:
                found = self._items[store] = self._factory()
            return found

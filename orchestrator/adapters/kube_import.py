"""Importing the `kubernetes` client without its package `__init__`s running first (cold start).

`kubernetes/__init__.py` imports every subpackage (dynamic, watch, stream, informer...), and
`kubernetes/client/__init__.py` every API class and, through `api_client`, ~700 model modules:
about 0.3 s before the first request on these machines, more than the router's whole cold start
budget. The adapters need none of it: they read and write raw JSON through `ApiClient.call_api`
/ `request`, so they only need `kubernetes.config` (in-cluster, kubeconfig, exec and auth
plugins), `Configuration`, `ApiClient`, `rest` (TLS, the urllib3 pool) and `exceptions`.
(Why not kubernetes 37, whose client loads its APIs and models lazily itself: measured, the
modules a connection needs cost the same CPU there as here, 123 ms against 129 ms, against 295
ms for 36 without this module; 37 requires python-dateutil>=3 where botocore, which the tests'
S3 server needs, requires <3, so pip refuses to install both; and its `ApiClient` changed the
calls the adapters make, `call_api`, `update_params_for_auth`, no `request`. Revisit when
botocore accepts dateutil 3.)

`defer_package_inits()` puts the four heavy packages (`kubernetes`, `kubernetes.client`,
`kubernetes.client.models`, `kubernetes.config`) into `sys.modules` as the real package
modules (same spec, `__path__`, `__file__`) with their `__init__` not yet run. Submodules then
import as usual and, each loaded once, are the same objects whichever way they are reached.
A package completes itself the first time a name it does not hold yet is read from it (or it
is listed with `dir()`): it runs its own real `__init__` (the loader's `exec_module`, in its
own namespace) and becomes a plain module, exactly what `import kubernetes` would have made.
So code elsewhere in the process that imports `kubernetes` normally (`from kubernetes import
client; client.CoreV1Api(...)`, `watch`, `kubernetes.__version__`) gets the whole package, only
later. Two exceptions, both cheap: a name that is a submodule is imported alone (as the import
system does for `from pkg import sub`), and `kubernetes.client`'s `Configuration` and
`ApiClient`, the two names the config loaders import from the package, come from their own
submodules.

When any of these packages is already imported, it does nothing: the process keeps what it has.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

PACKAGES = ("kubernetes", "kubernetes.client", "kubernetes.client.models", "kubernetes.config")
"""Parents before children: a child's spec is found through its parent's `__path__`."""

CHEAP_EXPORTS: dict[str, dict[str, str]] = {
    "kubernetes.client": {"Configuration": "kubernetes.client.configuration",
                          "ApiClient": "kubernetes.client.api_client"},
}
"""Names served from one submodule without completing the package (kube_config and
incluster_config import them as `from kubernetes.client import ApiClient, Configuration`)."""

_install_lock = threading.Lock()
_installed = False
_locks: dict[str, threading.RLock] = {}
"""One lock per deferred package: a thread reading a missing name waits for another's run."""
_pending: set[str] = set()
"""Deferred packages whose `__init__` has not started."""


class DeferredPackage(types.ModuleType):
    """A package module whose `__init__` runs on the first read of a name it lacks."""

    def __getattr__(self, name: str) -> Any:  # only called for names not (yet) set
        export = CHEAP_EXPORTS.get(self.__name__, {}).get(name)
        if export is not None:
            return getattr(importlib.import_module(export), name)
        full = f"{self.__name__}.{name}"
        if not name.startswith("__") and importlib.util.find_spec(full) is not None:
            return importlib.import_module(full)
        self.complete()
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") \
                from None

    def __dir__(self) -> list[str]:
        self.complete()
        return sorted(self.__dict__)

    def complete(self) -> None:
        """Run the package's real `__init__` now: once; other threads wait for it to end."""
        name = self.__name__
        with _locks[name]:
            if name not in _pending:
                return  # done, or running in this very thread (a circular read, as in Python)
            _pending.discard(name)
            spec = self.__spec__
            assert spec is not None and spec.loader is not None
            try:
                spec.loader.exec_module(self)
            except BaseException:
                _pending.add(name)
                raise
            # From here on a plain module, as `import` would have made it.
            self.__class__ = types.ModuleType  # type: ignore[assignment]


def defer_package_inits() -> bool:
    """Make `kubernetes` submodules importable without the packages' eager `__init__`s.

    True when this call or an earlier one did; False when `kubernetes` was already imported
    the normal way (or is not installed): then nothing is changed.
    """
    global _installed
    with _install_lock:
        if _installed:
            return True
        if any(name in sys.modules for name in PACKAGES):
            return False
        made: list[str] = []
        try:
            for name in PACKAGES:
                # A child's spec is found through its parent's `__path__`, already in place.
                spec = importlib.util.find_spec(name)
                if spec is None or spec.submodule_search_locations is None:
                    raise ImportError(f"{name} is not an installed package")
                module = importlib.util.module_from_spec(spec)
                module.__class__ = DeferredPackage
                _locks[name] = threading.RLock()
                _pending.add(name)
                sys.modules[name] = module
                made.append(name)
                parent, _, child = name.rpartition(".")
                if parent:
                    setattr(sys.modules[parent], child, module)
        except ImportError:
            for name in made:
                sys.modules.pop(name, None)
                _pending.discard(name)
            return False
        _installed = True
        return True


def is_deferred(name: str) -> bool:
    """Whether the package `name` is in `sys.modules` with its `__init__` not run yet."""
    return isinstance(sys.modules.get(name), DeferredPackage)

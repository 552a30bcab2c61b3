"""What every function's `main.py` imports first: the garbage collector leaves start-up alone.

Python's cyclic collector walks every tracked object on each full collection. By the time a
function's `main.py` runs, functions-framework and Flask have made tens of thousands of objects
that live as long as the process, and importing our modules and pydantic makes many more, so the
collections triggered during start-up walk them again and again: about a tenth of the CPU a
function spends from spawn to its first answer (measured with the benches' CPU time).
`gc.freeze()` moves every object that exists to a permanent generation that collections skip.
It runs here, at import, and again once the process's first service is built
(`orchestrator.lifecycle`): collecting still works for everything made afterwards, which is
what requests make. The cost is that garbage already unreachable at those two moments stays.
"""

from __future__ import annotations

import gc
import threading

_once = threading.Lock()
_settled = False


def settled() -> None:
    """Keep the collector off what start-up made, once per process: the first service built
    marks its end (a test process builds many; garbage frozen with them would stay)."""
    global _settled
    with _once:
        if not _settled:
            _settled = True
            gc.freeze()


gc.freeze()  # what functions-framework and Flask made before the function's module ran

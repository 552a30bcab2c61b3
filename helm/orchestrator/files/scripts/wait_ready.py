"""Wait until every dependency answers, or give up at a deadline (the index Job's init step).

Arguments are `http(s)://...` URLs (ready when they answer 2xx) or `tcp://host:port` (ready when a
connection opens). WAIT_SECONDS bounds the whole wait. Standard library only: it runs in the
function image before anything else is known to work.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def ready(target: str, timeout: float = 5.0) -> str | None:
    """None when `target` is ready, else why not."""
    url = urllib.parse.urlsplit(target)
    if url.scheme == "tcp":
        try:
            with socket.create_connection((url.hostname, url.port), timeout=timeout):
                return None
        except OSError as e:
            return str(e)
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # noqa: S310 (http only)
            return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, "reason", e))


def main(targets: list[str]) -> int:
    deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "300"))
    pending = list(targets)
    delay = 1.0
    while pending:
        why = {t: ready(t) for t in pending}
        for t, reason in why.items():
            if reason is None:
                print(f"ready: {t}", flush=True)
        pending = [t for t, reason in why.items() if reason is not None]
        if not pending:
            return 0
        if time.monotonic() + delay > deadline:
            for t in pending:
                print(f"not ready before the deadline: {t}: {why[t]}", file=sys.stderr)
            return 1
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

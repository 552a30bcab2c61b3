"""The process-wide service of each function: built once, on first use, and resettable."""

from __future__ import annotations

import importlib
import threading

import pytest

from orchestrator.lifecycle import Lazy, forget_settings, process_settings


class Service:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_built_on_first_use_only_and_then_kept() -> None:
    built: list[Service] = []

    def build() -> Service:
        built.append(Service())
        return built[-1]

    lazy = Lazy(build)
    assert lazy.peek() is None and built == [], "nothing is built at definition"
    first = lazy()
    assert lazy.get() is first and lazy() is first and lazy.peek() is first
    assert len(built) == 1


def test_concurrent_first_requests_build_it_once() -> None:
    entered, release = threading.Event(), threading.Event()
    builds: list[Service] = []

    def build() -> Service:
        entered.set()
        assert release.wait(10)
        builds.append(Service())
        return builds[-1]

    lazy = Lazy(build)
    got: list[Service] = []
    threads = [threading.Thread(target=lambda: got.append(lazy())) for _ in range(8)]
    threads[0].start()
    assert entered.wait(10), "the first caller is building"
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
    assert len(builds) == 1 and len(got) == 8 and all(g is builds[0] for g in got)


def test_reset_closes_the_built_one_and_the_next_use_builds_again() -> None:
    lazy = Lazy(Service)
    lazy.reset()  # nothing built: nothing to close
    first = lazy()
    lazy.reset()
    assert first.closed == 1 and lazy.peek() is None
    second = lazy()
    assert second is not first and second.closed == 0


def test_a_failed_build_is_not_kept() -> None:
    calls = []

    def build() -> Service:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("settings broken")
        return Service()

    lazy = Lazy(build)
    with pytest.raises(RuntimeError):
        lazy()
    assert lazy.peek() is None
    assert isinstance(lazy(), Service) and len(calls) == 2


@pytest.mark.parametrize("module", ["orchestrator.ingest.service", "orchestrator.orient.service",
                                    "orchestrator.decide.service", "orchestrator.act.service",
                                    "orchestrator.console.service"])
def test_every_function_builds_its_service_through_it(module: str) -> None:
    assert isinstance(importlib.import_module(module).instance, Lazy)


class Counted:
    """A settings class: read with `from_env()`, as every one is."""

    made = 0

    @classmethod
    def from_env(cls) -> Counted:
        Counted.made += 1
        return cls()


def test_settings_are_read_once_per_process_until_a_service_is_reset() -> None:
    # The first delivery reads the settings for its sender check, its body limit and the
    # service: one read (each walks the environment for every field).
    forget_settings()
    Counted.made = 0
    first = process_settings(Counted)
    assert process_settings(Counted) is first and Counted.made == 1
    Lazy(Service).reset()  # tests change the environment, then reset: read again
    assert process_settings(Counted) is not first and Counted.made == 2

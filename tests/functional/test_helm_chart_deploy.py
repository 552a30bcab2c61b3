"""What a real Knative + Kafka install needs from the chart (issue 13, deploy round 2): each fix
rendered and checked, and each unsafe value set refused at render time with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.helm_support import render, render_values


def _refused(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match=message):
        render_values(values)


# ---- router starvation: bounded concurrency per pod, threads to spare for the probes ----------

def test_router_pods_take_a_bounded_number_of_requests_with_threads_to_spare() -> None:
    rendered = render("default")
    spec = rendered.function("router")["spec"]["template"]
    cc = spec["spec"]["containerConcurrency"]
    env = rendered.env("router")
    assert cc > 0
    assert int(env["THREADS"]) >= cc + 2
    assert env["ROUTER_MAX_VERIFICATIONS"] == str(cc)
    target = int(spec["metadata"]["annotations"]["autoscaling.knative.dev/target"])
    assert target <= cc and target > 0  # Knative scales out before the hard limit queues requests


def test_router_limit_follows_its_values() -> None:
    rendered = render_values({"router": {"containerConcurrency": 4, "threads": 6}})
    assert rendered.function("router")["spec"]["template"]["spec"]["containerConcurrency"] == 4
    assert rendered.env("router")["ROUTER_MAX_VERIFICATIONS"] == "4"


@pytest.mark.parametrize("values, message", [
    ({"router": {"containerConcurrency": 0}}, "router.containerConcurrency must be at least 1"),
    ({"router": {"containerConcurrency": 8, "threads": 9}},
     r"router.threads \(9\) must be at least router.containerConcurrency \+ 2"),
    ({"ingest": {"containerConcurrency": 8, "threads": 8}}, r"ingest.threads \(8\)"),
    ({"router": {"settings": {"max_verifications": 3}}}, "follows router.containerConcurrency"),
])
def test_a_pod_that_could_starve_its_health_checks_is_refused(values: dict[str, Any],
                                                              message: str) -> None:
    _refused(values, message)

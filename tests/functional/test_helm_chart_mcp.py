"""The chart gives both console Services the runbooks its index Job indexed, so MCP's
`search_runbooks` and `runbook://` resources answer from the release's own knowledge base
(ranked in-process: no Qdrant, MinIO or model key added to a Service people reach)."""

from __future__ import annotations

from typing import Any

from tests.functional.helm_support import FULLNAME, render


def _spec(service: dict[str, Any]) -> dict[str, Any]:
    return service["spec"]["template"]["spec"]


def test_both_console_services_read_the_charts_runbooks() -> None:
    rendered = render("slack-no-approval")  # a public console beside the cluster-local one
    services = [rendered.function("console"), rendered.function("console-web")]
    for svc in services:
        spec = _spec(svc)
        (container,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["KB_RUNBOOKS_DIR"] == "/runbooks"
        assert not {n for n in env if n.startswith("KB_") and n != "KB_RUNBOOKS_DIR"}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "runbooks")
        assert mount["mountPath"] == "/runbooks" and mount["readOnly"] is True
        volume = next(v for v in spec["volumes"] if v["name"] == "runbooks")
        assert volume["configMap"]["name"] == f"{FULLNAME}-runbooks"

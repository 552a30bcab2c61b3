"""Shared helpers of the fake kube-apiserver tests (their fixtures are in conftest.py, which
also has pytest rewrite this module's asserts)."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body

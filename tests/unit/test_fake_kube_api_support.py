"""Shared helpers of the fake kube-apiserver tests (``test_fake_kube_api_*``).

Named ``test_*`` so pytest rewrites its asserts; it holds no tests. The fixtures stay in each
test module (imported fixtures would shadow test parameters).
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body

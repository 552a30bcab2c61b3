"""HMAC signatures over plans and approvals: the agent's, the executor's and the console's.

The agent signs what it proposes, so the executor acts on no plan the agent did not make. The
executor signs what it dry-ran (the plan and the resourceVersions it saw); the console signs a
human's decision over that signature. The executor acts on an approval only when both verify: an
event is a routing hint, a signature is authority.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from orchestrator.events import PlanProposed
from orchestrator.plan import Plan

SCHEME = "hmac-sha256"


def canonical(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTC times as the model dumps them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key: bytes, payload: bytes) -> str:
    return f"{SCHEME}:{hmac.new(key, payload, hashlib.sha256).hexdigest()}"


def verify(key: bytes, payload: bytes, signature: str) -> bool:
    """Constant-time check of a signature made by `sign` with the same key."""
    return hmac.compare_digest(sign(key, payload).encode(), signature.encode())


def proposal_payload(proposed: PlanProposed) -> bytes:
    """What the agent signs when it proposes a plan: the whole proposal but the signature."""
    return canonical(proposed.model_dump(mode="json", exclude={"signature"}))


def sign_proposal(key: bytes, proposed: PlanProposed) -> PlanProposed:
    """The proposal with the agent's signature."""
    return proposed.model_copy(update={"signature": sign(key, proposal_payload(proposed))})


def plan_payload(
    plan: Plan, resource_versions: dict[str, str], requested_at: datetime, incident_key: str
) -> bytes:
    """What the executor signs when it asks for approval."""
    return canonical(
        {
            "plan": plan.model_dump(mode="json"),
            "resource_versions": resource_versions,
            "requested_at": requested_at.isoformat(),
            "incident_key": incident_key,
        }
    )


def decision_payload(
    *, executor_signature: str, decision: str, approver: str, decided_at: datetime
) -> bytes:
    """What the console signs when a human approves or rejects (`decision`: approved|rejected)."""
    return canonical(
        {
            "executor_signature": executor_signature,
            "decision": decision,
            "approver": approver,
            "decided_at": decided_at.isoformat(),
        }
    )

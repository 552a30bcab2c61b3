"""Signatures inside the approval protocol, beyond the per-hop ones (`orchestrator.provenance`).

A hop signature authenticates one delivery; an approval request outlives it: the console shows it
from the audit log, hours later maybe, and the executor gets it back inside a decision. So the
executor signs the request's content itself (Ed25519, its own key): exactly the actions, targets,
parameters, dry-run results, resourceVersions, why and expiry a human is asked about. The
console verifies that signature before it shows or accepts anything, and signs the human's
decision over it with its own key; the executor verifies both with their public keys.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator import events
from orchestrator.provenance import Keyring, Signer

if TYPE_CHECKING:  # the approval payloads load with their first use (cold start)
    from orchestrator.events import ApprovalRequested, PlanDecision

SCHEME = "ed25519"


def canonical(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTC times as the model dumps them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_payload(req: ApprovalRequested) -> bytes:
    """What the executor signs when it asks: the whole request but the signature itself."""
    return b"approval.requested\n" + canonical(req.model_dump(mode="json",
                                                              exclude={"signature"}))


def decision_payload(*, executor_signature: str, decision: str, approver: str,
                     decided_at: datetime) -> bytes:
    """What the console signs when a human approves or rejects (`decision`: approved|rejected)."""
    return b"plan.decision\n" + canonical({
        "executor_signature": executor_signature, "decision": decision,
        "approver": approver, "decided_at": decided_at.isoformat()})


def sign(signer: Signer, payload: bytes) -> str:
    """`ed25519:<function>/<key id>:<base64 signature>`."""
    raw = signer.sign_bytes(payload)
    return f"{SCHEME}:{signer.function}/{signer.key_id}:{base64.b64encode(raw).decode()}"


def verify(keyring: Keyring, function: str, payload: bytes, signature: str) -> bool:
    """Did `function` (one of its keys in the keyring) sign `payload`?"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    scheme, _, rest = signature.partition(":")
    key_name, _, b64 = rest.partition(":")
    known = keyring.keys.get(key_name)
    if scheme != SCHEME or known is None or known[0] != function:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(known[1]).verify(
            base64.b64decode(b64, validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def request_of(decision: PlanDecision) -> ApprovalRequested:
    """The approval request a decision answers, rebuilt from the fields it carries verbatim."""
    return events.ApprovalRequested(**decision.shown(), signature=decision.executor_signature)

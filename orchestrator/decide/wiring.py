"""Building the agent's ports from settings: the knowledge base, the LLM, the audit store.

Kept apart from the service so the service reads as the event flow, and so a process that never
configured a key never reaches the code that would import google-genai (or build the httpx client
of the OpenAI-compatible adapter). `AGENT_LLM_PROVIDER` chooses the adapter; everything past it
(validation, retries, budgets, claims) is the same planner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from orchestrator.adapters.object_store import ObjectStore
from orchestrator.decide.limits import Guards
from orchestrator.decide.situation import Knowledge
from orchestrator.settings.agent import AgentSettings
from orchestrator.settings.common import reveal

if TYPE_CHECKING:
    from orchestrator.adapters.llm import LLM
    from orchestrator.knowledge.search import Retriever

log = logging.getLogger(__name__)


def language_model(s: AgentSettings) -> LLM | None:
    """The configured provider's model when its key is configured, else None (the offline
    planner plans)."""
    if s.llm_provider == "openai":
        return _openai(s)
    key = reveal(s.gemini_api_key)
    if not key:
        return None
    from orchestrator.adapters.llm import GeminiLLM

    return GeminiLLM.connect(api_key=key, model=s.model, base_url=s.base_url,
                             api_version=s.api_version, timeout_seconds=s.timeout_seconds)


def _openai(s: AgentSettings) -> LLM | None:
    key = reveal(s.openai_api_key)
    if not key:
        log.warning("AGENT_LLM_PROVIDER=openai but no AGENT_OPENAI_API_KEY (nor key file): the "
                    "offline planner plans (a server that needs no key takes any value)")
        return None
    from orchestrator.adapters.llm_openai import OpenAILLM

    return OpenAILLM.connect(api_key=key, model=s.openai_model, base_url=s.openai_base_url,
                             api_version=s.openai_api_version,
                             timeout_seconds=s.timeout_seconds)


def audit_store(s: AgentSettings) -> ObjectStore | None:
    """The audit log the console writes (the agent adds its LLM claims and token ledger), or
    None: then plans are never reused, and neither the one-call-per-fingerprint claim nor the
    hourly token budget can be kept."""
    from orchestrator.adapters.object_store import audit_store as open_store

    store = open_store(s)
    if store is not None:
        return store
    log.warning("no audit store configured (AGENT_AUDIT_DIR or AGENT_AUDIT_ENDPOINT): "
                "recent plans cannot be reused, nor LLM calls deduplicated or counted per hour")
    return None


def guards(s: AgentSettings, store: ObjectStore | None) -> Guards:
    """The LLM cost guards: budgets from the settings, claims and ledger in the audit store."""
    if store is None:
        return Guards(incident_limit=s.token_budget)
    from orchestrator.decide.claim import Claims
    from orchestrator.decide.token_budget import Ledger

    # The longest a claim holder can take: two calls (the answer and one corrective retry),
    # each with its retries, timeouts and jittered backoff, plus a margin for the rest.
    per_call = s.longest_call_seconds(s.timeout_seconds)
    hold = timedelta(seconds=2 * per_call + 10)
    claims = Claims(store, window=timedelta(seconds=s.reopen_window_seconds), hold=hold,
                    wait=timedelta(seconds=s.claim_wait_seconds))
    return Guards(incident_limit=s.token_budget, hour_limit=s.token_budget_per_hour,
                  claims=claims, ledger=Ledger(store))


def knowledge(*, exact_first: bool) -> tuple[Knowledge, Callable[[], None]]:
    """The retriever over the indexed runbooks (KB_ settings), and how to close it.

    `exact_first` (no LLM configured): exact matches come from the raw runbooks without opening
    the index, or loading the search code, see `orchestrator.decide.retrieval`.
    """
    from orchestrator.knowledge.wiring import retriever_parts
    from orchestrator.settings.knowledge import KnowledgeSettings

    # a misconfigured model fails here, not later
    parts = retriever_parts(KnowledgeSettings.from_env())

    def retriever() -> Retriever:
        from orchestrator.knowledge.search import Retriever

        return Retriever(**parts)

    if exact_first:
        from orchestrator.decide.retrieval import ExactFirst

        kb = ExactFirst(parts["source"], retriever)
        return kb, kb.close
    built = retriever()
    return built, built.close

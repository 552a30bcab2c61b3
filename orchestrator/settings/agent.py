"""Settings of the agent function (env prefix `AGENT_`).

The knowledge base (Qdrant, runbooks, embeddings) has its own settings (`KB_`, see
`orchestrator.settings.knowledge`), shared with the `orchestrator runbooks` CLI; this class holds
only what planning needs: the model, its limits, and where the audit log is.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr

from orchestrator.decide.limits import PlannerLimits
from orchestrator.settings.blocks import AuditStoreSettings
from orchestrator.settings.common import LeanSettings, SenderIdentitySettings


class AgentSettings(LeanSettings, SenderIdentitySettings, AuditStoreSettings,
                    PlannerLimits):
    """What the agent needs: the LLM and its limits (`PlannerLimits`), confidence, reuse, and
    the audit store."""

    env_prefix: ClassVar[str] = "AGENT_"

    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AGENT_GEMINI_API_KEY", "GEMINI_API_KEY")
    )
    """Gemini API key. Without one (nor a key file) the offline planner plans, and google-genai
    is never imported. `AGENT_GEMINI_API_KEY` wins over the conventional `GEMINI_API_KEY`."""

    signing_key: SecretStr | None = None
    """This function's Ed25519 private key (PKCS#8 PEM), signing every plan and escalation it emits.
    Unset (and no `AGENT_SIGNING_KEY_FILE`, where the chart mounts `agent.key` from its keys Secret)
    = nothing it emits verifies, so it refuses to emit."""

    public_keys_dir: Path | None = None
    """Folder of the other functions' Ed25519 public keys (`<function>.crt` certificates or `.pem`
    public keys; several per function while keys rotate). Contexts (the router's) are verified with
    them; without it every delivery is refused with 401."""

    event_max_age_seconds: float = Field(default=900.0, gt=0)
    """Freshness window of a delivered event's signed time, in seconds (15 min): older events are
    refused with 401 (the broker dead-letters them), so a captured event cannot be replayed later.
    Longer than the broker's retry schedule (about 16 s) and a scale-from-zero."""

    clock_skew_seconds: float = Field(default=60.0, ge=0)
    """Tolerated clock difference between functions, in seconds, for signed times."""

    llm_provider: Literal["gemini", "openai"] = Field(
        default="gemini", validation_alias=AliasChoices("AGENT_LLM_PROVIDER", "LLM_PROVIDER")
    )
    """Which LLM API plans: `gemini` (Google's, `gemini_*` settings) or `openai` (the OpenAI
    chat completions API as OpenAI, Azure OpenAI, vLLM, Ollama and other compatible servers
    speak it, `openai_*` settings). Either way, no key means the offline planner. The
    unprefixed names (`LLM_PROVIDER`, `OPENAI_*`) are what `orchestrator up` passes on from the
    shell: it drops every `AGENT_` variable of its own environment."""

    model: str = "gemini-2.5-flash"
    """Gemini model name: fast and cheap enough to plan within a function's request timeout."""

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("AGENT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    """Key for the OpenAI-compatible server (provider `openai`). Without one (nor a key file) the
    offline planner plans and the `openai` client is never imported. Servers that ask for none
    (a local Ollama or vLLM) take any non-empty value. `AGENT_OPENAI_API_KEY` wins over the
    conventional `OPENAI_API_KEY`."""

    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AGENT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    """Base URL of the chat completions API, up to and without `/chat/completions`: e.g.
    `http://ollama:11434/v1`, `http://vllm:8000/v1`, Azure's
    `https://RESOURCE.openai.azure.com/openai/v1`. None = OpenAI's own."""

    openai_model: str = Field(
        default="gpt-4.1-mini",
        validation_alias=AliasChoices("AGENT_OPENAI_MODEL", "OPENAI_MODEL"))
    """Model name the OpenAI-compatible server knows (on Azure, the deployment name). It must
    support structured output (`response_format` with a strict JSON schema)."""

    openai_api_version: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AGENT_OPENAI_API_VERSION", "OPENAI_API_VERSION"))
    """Only for Azure OpenAI's dated API (`2024-10-21`, with the base URL
    `https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT`): sent as the `api-version`
    query parameter, the key then goes in Azure's `api-key` header. None for every other server
    and for Azure's v1 API."""

    base_url: str | None = None
    """Gemini API base URL (a proxy, a regional endpoint, a test server); None = Google's."""

    api_version: str | None = None
    """Gemini API version path segment (`v1`, `v1beta`); None = the SDK's default (v1)."""

    token_budget_per_hour: int = Field(default=500_000, ge=0)
    """Tokens (in + out) all incidents together may spend on the LLM in any 60 minutes, counted
    in the audit store so every replica sees the same sum (0 = no hourly limit). About ten
    incidents at the full per-incident budget, or 30-60 ordinary ones: a storm of new alerts
    cannot run up the bill. Past it, the offline planner plans (see orchestrator.decide.guarded)."""

    confidence_threshold: float = Field(default=0.5, ge=0, le=1)
    """Plans below this confidence are escalated (`low-confidence`) instead of proposed."""

    top_k: int = Field(default=5, ge=1, le=20)
    """Runbook chunks retrieved per alert; the best few distinct runbooks go into the prompt."""

    reopen_window_seconds: float = Field(default=3600.0, ge=0)
    """A plan recorded for the same alert fingerprint this recently is reused without an LLM
    call (0 disables reuse). One hour: a flapping alert costs one plan, not one per firing."""

    claim_wait_seconds: float = Field(default=60.0, ge=0)
    """Seconds a duplicate delivery waits for the delivery that holds its fingerprint's LLM
    claim to decide, before planning offline (never a second call). One minute covers a slow
    answer and a retry, well inside the agent Trigger's 180 s delivery timeout."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=4096)
    """Largest request body accepted, in bytes (1 MiB); a larger one is refused with 413 before
    it is read whole (`orchestrator.limits`). The loop's largest event is far smaller."""

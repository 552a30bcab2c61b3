"""Decide: the agent's planning. An enriched alert, the runbooks retrieved for it and the facts
computed from its context become one validated plan (LLM or offline) or one escalation."""

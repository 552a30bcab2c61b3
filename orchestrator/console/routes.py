"""Every URL the console serves to people and scripts, in one werkzeug table: the web pages
(`web`: a login cookie, the proxy's identity header or a token, and a CSRF token on every form)
and the JSON API (`api`: a bearer token). `web.route` and `api.route` authenticate, then find
the handler here; a handler takes the `Visit` and the ids in its path. (Broker deliveries, dead
letters, Slack, the sweep and MCP are told apart by the function's edge, before any of this.)
"""

from __future__ import annotations

from functools import lru_cache

from orchestrator.console.request import Routes, rule


@lru_cache(maxsize=1)
def table() -> Routes:
    from orchestrator.console import api, web

    return Routes(
        rule("/", web.list_page, "GET"),
        rule("/incidents", web.list_page, "GET"),
        rule("/incidents/<key:key>", web.incident_page, "GET"),
        rule("/incidents/<key:key>/state", web.incident_state, "GET"),
        rule("/incidents/<key:key>/decide", web.decide, "POST"),
        rule("/trust", web.trust_page, "GET"),
        rule("/deadletters", web.letters_page, "GET"),
        rule("/deadletters/<letter:letter>", api.letter, "GET"),
        rule("/deadletters/<letter:letter>/resend", web.resend, "POST"),
        rule("/logout", web.logout, "POST"),
        rule("/api/incidents", api.incidents, "GET"),
        rule("/api/incidents/<key:key>", api.incident, "GET"),
        rule("/api/approvals", api.pending, "GET"),
        rule("/api/approvals/<key:plan_id>/<any(approve, reject):verb>", api.decide, "POST"),
        rule("/api/deadletters", api.letters, "GET"),
        rule("/api/deadletters/<letter:letter>", api.letter, "GET"),
        rule("/api/deadletters/<letter:letter>/resend", api.resend, "POST"),
    )

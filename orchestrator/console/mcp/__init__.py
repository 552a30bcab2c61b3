"""The console as an MCP server: incidents, runbooks and approvals for an SRE's own assistant.

`tools` holds what each tool does, over the console's own functions and without the SDK;
`server` declares them to the official `mcp` SDK; `http` serves that at `/mcp` behind the API's
bearer token. Nothing here is imported until `/mcp` is called (or `orchestrator mcp` runs), so a
console that never serves MCP never pays for the SDK at cold start.
"""

"""A simulated Kubernetes cluster: an API server the real client talks to, controllers that move
state the way Kubernetes does, and scenarios that declare a fault and what cures it. It backs
`orchestrator eval` and `orchestrator demo`; stdlib only, so it never touches a vendor SDK."""

"""incident-orchestrator: the shared core every function imports.

Kept import-light on purpose: every function scales to zero, so anything heavy is imported
where it is first needed, not here.
"""

__version__ = "0.1.0"

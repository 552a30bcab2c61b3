"""Settings, one module and one class per function, each with its own env prefix.

A function imports only its own settings module, so cold start pays for nothing else. The Helm
chart's values map one-to-one onto these names (see helm/orchestrator/values.yaml). Any secret
field `x` may come from the file `PREFIX_X_FILE` names instead (one rule:
`common.secrets_from_files`).
"""

"""Adapters: the only modules that import vendor SDKs, each lazily."""

"""The knowledge base: runbooks parsed, chunked, indexed and retrieved."""

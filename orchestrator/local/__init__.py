"""The embedded default: a local broker and runner standing in for Knative on one machine."""

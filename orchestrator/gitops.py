"""Which GitOps controller, if any, manages an object: one answer for the router and the executor.

A scale or a rollback of an object Argo CD or Flux syncs is reverted by the next sync, so the
executor refuses them, and runbooks guard on the `workload.managed_by_gitops` fact. Both must
read the same marks, or a runbook predicate and the executor's own check would disagree:

- Argo CD: its tracking annotation (`argocd.argoproj.io/tracking-id`), any `argocd.argoproj.io/`
  key (the custom tracking label `argocd.argoproj.io/instance` among them), and its field
  managers in `metadata.managedFields` (`argocd-controller` for server-side apply,
  `argocd-application-controller` otherwise). The managers are what gives Argo CD's default
  *label* tracking away: its label, `app.kubernetes.io/instance`, is one Helm charts (and
  people) set too, so that label alone proves nothing.
- Flux: its labels (`kustomize.toolkit.fluxcd.io/`, `helm.toolkit.fluxcd.io/`) and its field
  managers (`kustomize-controller`, `helm-controller`).
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

ARGO_PREFIX = "argocd.argoproj.io/"
ARGO_MANAGERS = frozenset({"argocd-controller", "argocd-application-controller"})
FLUX_PREFIXES = ("kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/", "fluxcd.io/")
FLUX_MANAGERS = frozenset({"kustomize-controller", "helm-controller"})

ARGO = "Argo CD"
FLUX = "Flux"


def field_managers(metadata: Json) -> set[str]:
    """The managers `metadata.managedFields` names, lower-cased."""
    return {str(f.get("manager") or "").lower() for f in metadata.get("managedFields") or []
            if isinstance(f, dict)}


def gitops_tools(metadata: Json) -> list[str]:
    """`Argo CD` and/or `Flux`: the GitOps controllers an object's metadata shows."""
    keys = [str(k) for k in (*(metadata.get("labels") or {}),
                             *(metadata.get("annotations") or {}))]
    managers = field_managers(metadata)
    found = []
    if any(k.startswith(ARGO_PREFIX) for k in keys) or managers & ARGO_MANAGERS:
        found.append(ARGO)
    if any(k.startswith(FLUX_PREFIXES) for k in keys) or managers & FLUX_MANAGERS:
        found.append(FLUX)
    return found


def gitops_tool(metadata: Json) -> str | None:
    """The first GitOps controller an object's metadata shows, or None."""
    return next(iter(gitops_tools(metadata)), None)

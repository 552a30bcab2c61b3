"""Discovery endpoints of the simulated kube-apiserver: /version, /api, /apis, resource lists."""

from __future__ import annotations

from .errors import JSON
from .resources import GROUP_VERSIONS

VERSION_INFO = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.0", "gitCommit": "fake",
    "gitTreeState": "clean", "buildDate": "2024-08-13T07:28:49Z", "goVersion": "go1.22.5",
    "compiler": "gc", "platform": "linux/amd64",
}


def discovery(segs: list[str], server_address: str) -> JSON | None:
    groups: dict[str, list[str]] = {}
    for gv in GROUP_VERSIONS:
        if "/" in gv:
            g, v = gv.split("/")
            groups.setdefault(g, []).append(v)

    def group(name: str) -> JSON:
        vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in groups[name]]
        return {"name": name, "versions": vs, "preferredVersion": vs[0]}

    if segs == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}
    if segs == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [group(g) for g in sorted(groups)]}
    if len(segs) == 2 and segs[0] == "apis" and segs[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **group(segs[1])}
    return None


def resource_list(gv: str) -> JSON:
    out = []
    for rt in GROUP_VERSIONS[gv]:
        out.append({"name": rt.plural, "singularName": rt.kind.lower(),
                    "namespaced": rt.namespaced, "kind": rt.kind,
                    "shortNames": list(rt.short_names),
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch",
                              "update", "watch"]})
        for sub in rt.subresources:
            entry: JSON = {"name": f"{rt.plural}/{sub}", "singularName": "",
                           "namespaced": rt.namespaced, "kind": rt.kind,
                           "verbs": ["get", "patch", "update"]}
            if sub == "log":
                entry["verbs"] = ["get"]
            elif sub == "eviction":
                entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
            elif sub == "scale":
                entry.update(group="autoscaling", version="v1", kind="Scale")
            out.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}

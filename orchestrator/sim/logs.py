"""Pod logs of the simulated kube-apiserver: ``GET .../pods/{name}/log`` and its options."""

from __future__ import annotations

from .errors import bad_request
from .resources import PODS, rfc3339
from .store import Store
from .wire import Request, Response, truthy


def read_log(store: Store, req: Request, ns: str, name: str) -> Response:
    pod = store.must_get(PODS, ns, name)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    inits = [c["name"] for c in spec.get("initContainers") or []]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    container = req.query.get("container") or ""
    if not container:
        if len(names) == 1:
            container = names[0]
        elif not names:
            raise bad_request(f"a container name must be specified for pod {name}")
        else:
            msg = (f"a container name must be specified for pod {name}, "
                   f"choose one of: [{' '.join(names)}]")
            if inits:
                msg += f" or one of the init containers: [{' '.join(inits)}]"
            raise bad_request(msg)
    elif container not in names + inits + ephemeral:
        raise bad_request(f"container {container} is not valid for pod {name}")
    if not spec.get("nodeName"):
        return Response(200, b"", "text/plain")  # apiserver: no host yet -> empty stream
    previous = truthy(req.query.get("previous"))
    statuses = (status.get("containerStatuses") or []) + \
        (status.get("initContainerStatuses") or []) + \
        (status.get("ephemeralContainerStatuses") or [])
    cs = next((s for s in statuses if s.get("name") == container), None)
    if cs is None:
        raise bad_request(f'container "{container}" in pod "{name}" is not available')
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    if previous:
        if last.get("terminated") is None:
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found')
    elif not ("running" in state or "terminated" in state or "terminated" in last):
        reason = (state.get("waiting") or {}).get("reason")
        detail = {"ErrImagePull": "image can't be pulled",
                  "ImagePullBackOff": "trying and failing to pull image"}.get(reason or "", reason)
        if "waiting" not in state:
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start - '
                              "no logs yet")
        raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {detail}')
    text = store.logs.get((ns, name, container, previous), "")
    lines = text.splitlines(keepends=True)
    if req.query.get("tailLines") not in (None, ""):
        n = int(req.query["tailLines"])
        lines = lines[-n:] if n > 0 else []
    if truthy(req.query.get("timestamps")):
        stamp = rfc3339().replace("Z", ".000000000Z")
        lines = [f"{stamp} {line}" for line in lines]
    data = "".join(lines).encode()
    if req.query.get("limitBytes") not in (None, ""):
        data = data[: int(req.query["limitBytes"])]
    return Response(200, data, "text/plain")

"""The executor through its real functions-framework app against the fake Kubernetes API:
the exact requests each action makes (dry run first), its Events and its budget Lease."""

from __future__ import annotations

import json

from orchestrator.events import (
    ACTION_COMPLETED,
    ACTION_FAILED,
    APPROVAL_REQUESTED,
    ESCALATED,
    ActionCompleted,
    ActionFailed,
    ApprovalRequested,
    Escalated,
)
from orchestrator.ids import event_id
from orchestrator.signing import request_payload, verify
from tests.fakes import kube_objects as ko
from tests.functional.executor_support import (
    Harness,
    action,
    alert,
    crashloop,
    pod_alert,
    proposal,
    ref,
)
from tests.keys import keyring

SMP = "application/strategic-merge-patch+json"


def test_rollout_restart_patches_like_kubectl_after_a_dry_run(harness: Harness) -> None:
    sc = crashloop(harness)
    deploy = sc["deployment"]
    before = harness.api.get("Deployment", "shop", "checkout")
    p = proposal(pod_alert(sc["pod"]), action("rollout_restart", ref("Deployment", "checkout",
                                                                     "shop")))
    r = harness.propose(p, event_id="evt-restart")

    assert r.status == 200 and r.type == ACTION_COMPLETED
    assert r.headers["ce-partitionkey"] == "shop/Deployment/checkout"
    assert r.headers["ce-id"] == event_id(p.incident_key, "executor", "evt-restart")
    assert r.headers["ce-source"] == "/orchestrator/executor"
    done = r.data
    assert isinstance(done, ActionCompleted) and done.mode == "enforce"
    assert [x.outcome for x in done.results] == ["applied"]
    assert done.results[0].dry_run.startswith("would restart shop/Deployment/checkout")

    patches = [q for q in harness.api.requests if q.method == "PATCH"]
    assert [q.dry_run for q in patches] == [True, False]
    for q in patches:
        assert q.path == "/apis/apps/v1/namespaces/shop/deployments/checkout"
        assert q.content_type == SMP
        assert q.query["fieldManager"] == "incident-orchestrator"
    assert patches[0].query["dryRun"] == "All" and "dryRun" not in patches[1].query
    body = patches[1].body
    stamp = body["spec"]["template"]["metadata"]["annotations"][
        "kubectl.kubernetes.io/restartedAt"]
    assert body == {
        "metadata": {"uid": deploy["metadata"]["uid"],
                     "resourceVersion": before["metadata"]["resourceVersion"],
                     "annotations": {"orchestrator.io/plan": "plan-1",
                                     "orchestrator.io/applied-at": stamp}},
        "spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": stamp}}}},
    }
    after = harness.api.get("Deployment", "shop", "checkout")
    assert after["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": stamp}
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1

    (lease,) = harness.leases()
    assert lease["metadata"]["annotations"]["orchestrator.io/target"] == \
        "shop/Deployment/checkout"
    entries = json.loads(lease["metadata"]["annotations"]["orchestrator.io/budget-entries"])
    assert [(e["plan"], e["action"], e["state"]) for e in entries] == \
        [("plan-1", "rollout_restart", "applied")]
    assert lease["spec"]["holderIdentity"] == "executor-test-0"

    (ev,) = [e for e in harness.events("shop") if e["reason"] == "Remediated"]
    assert ev["involvedObject"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "checkout", "namespace": "shop",
                                    "uid": deploy["metadata"]["uid"]}
    assert ev["type"] == "Normal" and ev["source"] == {"component": "incident-orchestrator"}
    assert "plan-1" in ev["message"] and "rollout_restart" in ev["message"]


def test_delete_pod_goes_through_the_eviction_api_with_preconditions(harness: Harness) -> None:
    sc = crashloop(harness)
    pod = harness.api.get("Pod", "shop", sc["pod"]["metadata"]["name"])
    name = pod["metadata"]["name"]
    r = harness.propose(proposal(pod_alert(pod), action("delete_pod", ref("Pod", name, "shop"))))

    assert r.type == ACTION_COMPLETED, r.body
    assert r.headers["ce-partitionkey"] == "shop/Deployment/checkout"  # the top owner
    evictions = [q for q in harness.api.requests if q.path.endswith("/eviction")]
    assert [q.dry_run for q in evictions] == [True, False]
    assert evictions[0].query == {"dryRun": "All"}
    assert evictions[1].query == {}
    for q in evictions:
        assert q.method == "POST" and q.path == f"/api/v1/namespaces/shop/pods/{name}/eviction"
        assert q.body == {"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": name, "namespace": "shop"},
                          "deleteOptions": {"preconditions": {
                              "uid": pod["metadata"]["uid"],
                              "resourceVersion": pod["metadata"]["resourceVersion"]}}}
    assert harness.api.get("Pod", "shop", name) is None
    assert not [q for q in harness.api.requests if q.method == "DELETE"]
    (ev,) = [e for e in harness.events("shop") if e["reason"] == "Remediated"]
    assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["name"] == name


def test_a_pod_disruption_budget_stops_the_eviction_at_the_dry_run(harness: Harness) -> None:
    sc = crashloop(harness)
    harness.api.add(ko.pdb("checkout", "shop", match_labels={"app": "checkout"},
                           disruptions_allowed=0))
    name = sc["pod"]["metadata"]["name"]
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("delete_pod", ref("Pod", name, "shop"))))

    assert r.type == ACTION_FAILED
    assert isinstance(r.data, ActionFailed)
    assert "disruption budget" in r.data.error
    assert [x.outcome for x in r.data.results] == ["failed"]
    assert harness.api.get("Pod", "shop", name) is not None
    assert harness.workload_writes() == [] and harness.leases() == []


def test_rollback_restores_the_previous_replicaset_template(harness: Harness) -> None:
    harness.set_policy("mode: enforce\nauto_approve_max_risk: medium\n"
                       "actions: {rollback: {auto_approve: true}}\n")
    sc = crashloop(harness)
    before = harness.api.get("Deployment", "shop", "checkout")
    old = sc["old_replicaset"]
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("rollback", ref("Deployment", "checkout", "shop"))))

    assert r.type == ACTION_COMPLETED, r.body
    assert "back to ReplicaSet" in r.data.results[0].api_result
    (q,) = [q for q in harness.writes() if q.method == "PATCH"]
    assert q.content_type == "application/json-patch+json"
    template = json.loads(json.dumps(old["spec"]["template"]))
    del template["metadata"]["labels"]["pod-template-hash"]
    ops = q.body
    assert ops[:3] == [
        {"op": "test", "path": "/metadata/uid", "value": before["metadata"]["uid"]},
        {"op": "replace", "path": "/metadata/resourceVersion",
         "value": before["metadata"]["resourceVersion"]},
        {"op": "replace", "path": "/spec/template", "value": template},
    ]
    assert ops[3]["op"] == "add" and ops[3]["path"] == "/metadata/annotations"
    assert ops[3]["value"]["deployment.kubernetes.io/revision"] == "2"  # kept, as kubectl does
    assert ops[3]["value"]["orchestrator.io/plan"] == "plan-1"
    after = harness.api.get("Deployment", "shop", "checkout")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4.1")


def test_scale_asks_a_human_by_default_with_a_signed_dry_run(harness: Harness) -> None:
    sc = crashloop(harness)
    before = harness.api.get("Deployment", "shop", "checkout")
    p = proposal(pod_alert(sc["pod"]), action("scale", ref("Deployment", "checkout", "shop"),
                                              replicas=2),
                 runbooks=("capacity_test",))
    r = harness.propose(p)

    assert r.type == APPROVAL_REQUESTED, r.body
    req = r.data
    assert isinstance(req, ApprovalRequested)
    assert req.resource_versions == {
        "shop/Deployment/checkout": before["metadata"]["resourceVersion"]}
    assert (req.expires_at - req.requested_at).total_seconds() == 900
    assert verify(keyring(), "executor", request_payload(req), req.signature)
    assert [x.outcome for x in req.dry_runs] == ["dry-run"]
    assert "from 1 to 2 replicas" in req.dry_runs[0].dry_run
    assert "scale is not auto-approved" in req.why
    assert harness.writes() == []  # only the dry run touched the API
    assert [q.dry_run for q in harness.writes(dry_run=None)] == [True]


def test_cordon_node_marks_it_unschedulable(harness: Harness) -> None:
    harness.set_policy("mode: enforce\nauto_approve_max_risk: medium\n"
                       "actions: {cordon_node: {auto_approve: true}}\n")
    sc = ko.notready_node().load(harness.api)
    node = harness.api.get("Node", None, "worker-7")
    a = alert({"node": "worker-7"}, alertname="KubeNodeNotReady")
    r = harness.propose(proposal(a, action("cordon_node", ref("Node", "worker-7")),
                                 runbooks=("node_not_ready",)))

    assert r.type == ACTION_COMPLETED, r.body
    assert r.headers["ce-partitionkey"] == "_cluster/Node/worker-7"
    (q,) = [q for q in harness.writes() if q.method == "PATCH"]
    assert q.path == "/api/v1/nodes/worker-7" and q.content_type == SMP
    assert q.body["spec"] == {"unschedulable": True}
    assert q.body["metadata"]["uid"] == node["metadata"]["uid"]
    assert q.body["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]
    assert harness.api.get("Node", None, "worker-7")["spec"]["unschedulable"] is True
    (ev,) = [e for e in harness.events("default") if e["reason"] == "Remediated"]
    assert ev["involvedObject"]["kind"] == "Node"
    assert sc["node"]["metadata"]["name"] == "worker-7"


def test_delete_failed_job_deletes_in_the_background_with_preconditions(
        harness: Harness) -> None:
    harness.set_policy("mode: enforce\nauto_approve_max_risk: medium\n"
                       "actions: {delete_failed_job: {auto_approve: true}}\n")
    sc = ko.failed_job().load(harness.api)
    job = harness.api.get("Job", "batch", sc["job"]["metadata"]["name"])
    name = job["metadata"]["name"]
    a = alert({"namespace": "batch", "job_name": name}, alertname="KubeJobFailed")
    r = harness.propose(proposal(a, action("delete_failed_job", ref("Job", name, "batch")),
                                 runbooks=("k8s_job_failed",)))

    assert r.type == ACTION_COMPLETED, r.body
    assert r.headers["ce-partitionkey"] == "batch/CronJob/nightly-report"
    deletes = [q for q in harness.api.requests if q.method == "DELETE"]
    assert [q.query.get("dryRun") for q in deletes] == ["All", None]
    for q in deletes:
        assert q.path == f"/apis/batch/v1/namespaces/batch/jobs/{name}"
        assert q.body == {"apiVersion": "v1", "kind": "DeleteOptions",
                          "propagationPolicy": "Background",
                          "preconditions": {"uid": job["metadata"]["uid"],
                                            "resourceVersion": job["metadata"]["resourceVersion"]}}
    assert harness.api.get("Job", "batch", name) is None
    assert harness.api.objects("Pod", "batch") == []  # its pods went with it


def test_dry_run_mode_writes_nothing_and_reports_what_enforce_would_do(
        harness: Harness) -> None:
    harness.set_policy("mode: dry-run\n")
    sc = crashloop(harness)
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("rollout_restart", ref("Deployment", "checkout", "shop"))))

    assert r.type == ACTION_COMPLETED
    assert r.data.mode == "dry-run"
    (res,) = r.data.results
    assert res.outcome == "dry-run" and res.dry_run.startswith("would restart")
    assert res.api_result == "in enforce mode this would run without a human"
    assert harness.writes() == []
    assert all(q.dry_run for q in harness.writes(dry_run=None))


def test_mode_override_and_packaged_runbooks(harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.functional.executor_support import reset_service

    monkeypatch.setenv("EXECUTOR_MODE", "dry-run")
    monkeypatch.delenv("EXECUTOR_RUNBOOKS_DIR")
    reset_service()
    sc = ko.stable_crashlooping_deployment().load(harness.api)
    r = harness.propose(proposal(pod_alert(sc["pod"]),
                                 action("rollout_restart", ref("Deployment", "checkout", "shop")),
                                 runbooks=("k8s_crashloop",)))
    assert r.data.mode == "dry-run" and harness.writes() == []


def test_mode_off_and_kill_switch_escalate_without_touching_the_cluster(
        harness: Harness) -> None:
    sc = crashloop(harness)
    p = proposal(pod_alert(sc["pod"]),
                 action("rollout_restart", ref("Deployment", "checkout", "shop")))
    for text, why in (("mode: off\n", "mode is off"),
                      ("mode: enforce\nkill_switch: true\n", "kill switch"),
                      ("mode: enforce\nactions: {delete_pod: {auto_aprove: true}}\n",
                       "policy is invalid")):
        harness.set_policy(text)
        harness.api.clear_requests()
        r = harness.propose(p)
        assert r.type == ESCALATED
        assert isinstance(r.data, Escalated) and r.data.reason == "policy"
        assert why in r.data.detail
        assert harness.api.requests == []


def test_no_cluster_escalates_as_a_missing_dependency(harness: Harness, monkeypatch,  # type: ignore[no-untyped-def]
                                                      tmp_path) -> None:
    from tests.functional.executor_support import reset_service

    monkeypatch.setenv("EXECUTOR_KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    reset_service()
    p = proposal(alert({"namespace": "shop", "pod": "x"}),
                 action("rollout_restart", ref("Deployment", "checkout", "shop")))
    r = harness.propose(p, partitionkey="shop/Deployment/checkout")
    assert r.type == ESCALATED and r.data.reason == "dependency"
    assert r.headers["ce-partitionkey"] == "shop/Deployment/checkout"



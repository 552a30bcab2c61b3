"""`orchestrator eval` and `orchestrator demo`: the loop on the simulated cluster.

`eval` scores every scenario (the packaged suite, or a folder of them) and prints a table per
scenario, per family and in total; `demo` runs a handful and prints each incident's timeline,
so the first thing a newcomer sees is a plan grounded in a runbook, a dry run, an action that
heals, an approval, a refusal and an escalation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    ev = sub.add_parser("eval", help="score the loop on the simulated cluster's scenarios")
    ev.add_argument("--scenarios", type=Path, help="folder of scenario YAML files "
                    "(default: the packaged suite)")
    ev.add_argument("--model", choices=("offline", "gemini", "replay"), default="offline",
                    help="planner: offline (default), Gemini (needs GEMINI_API_KEY), or Gemini's "
                    "answers replayed from --recording (no network, no key)")
    ev.add_argument("--record", type=Path, metavar="FILE",
                    help="with --model gemini: save the model's raw answers per scenario here")
    ev.add_argument("--recording", type=Path, metavar="FILE",
                    help="with --model replay: the recorded answers to serve")
    ev.add_argument("--note", default="", help="with --record: what made the recording "
                    "(model, date, who), kept in the file")
    ev.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only these scenarios (by name; repeatable)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--state", type=Path, help="state folder (default: a temporary one)")
    ev.set_defaults(run=_eval)


    dm = sub.add_parser("demo", help="the loop on a simulated cluster: an action that heals, "
                        "an approval, a refusal, an escalation")
    dm.add_argument("--console", action="store_true",
                    help="keep the console open to approve the waiting plan yourself")
    dm.add_argument("--console-port", type=int, default=8090)
    dm.add_argument("--state", type=Path, help="state folder (default: `demo` in the per-user "
                    "data dir)")
    dm.set_defaults(run=_demo)


_ROLES = ("applied", "refused", "escalated", "approval")  # approval last: it may stay open
_TITLES = {"applied": "an action applied automatically and verified healthy",
           "refused": "an action refused by policy",
           "escalated": "nothing safe to do: escalated to a human",
           "approval": "an action waiting for a human's approval"}


def _demo(args: argparse.Namespace) -> int:
    import json

    from orchestrator.resources import data_dir
    from orchestrator.sim import evaluate
    from orchestrator.sim.scenario import SimCluster, load_all
    from orchestrator.sim.timeline import render, say

    evaluate.offline_env()
    by_role = {s.demo: s for s in load_all() if s.demo}
    missing = [r for r in _ROLES if r not in by_role]
    if missing:
        raise SystemExit(f"the packaged scenarios lack a demo {', '.join(missing)} case")
    state = args.state or data_dir() / "demo"
    print("\n".join(say("incident-orchestrator demo: a simulated Kubernetes cluster (no real "
                        "cluster, no API key), the five functions and the local broker, policy "
                        "in enforce mode.", indent="")) + "\n")
    port = args.console_port if args.console else None
    with evaluate.session(state=state, console_port=port) as (stack, api):
        for n, role in enumerate(_ROLES, start=1):
            scenario = by_role[role]
            print(f"[{n}/{len(_ROLES)}] {_TITLES[role]}: {scenario.name}")
            print("\n".join(say(scenario.description, max_lines=4, indent="  ")))
            with SimCluster(scenario, api=api) as sim:
                result = evaluate.drive(stack, sim, timeout=120, auto_approve=False)
                hint = (f"approve it: orchestrator approve {{plan_id}} --state {state}"
                        if args.console else
                        "to approve it yourself, run `orchestrator demo --console`")
                print("\n".join(render(result.timeline, approve_hint=hint)))
                print(f"  outcome: {result.outcome}\n")
                if role == "approval" and args.console:
                    (state / "up.json").write_text(json.dumps({
                        "ingest": stack.ingest_url, "console": stack.console_url}))
                    _wait_for_human(stack, sim, result, state)
    return 0


def _wait_for_human(stack: Any, sim: Any, result: Any, state: Path) -> None:
    """Keep the stack and the simulated cluster up until the plan is decided (or Ctrl-C),
    printing the rest of its timeline as it happens."""
    from orchestrator.sim import evaluate
    from orchestrator.sim.timeline import render

    print(f"console: {stack.console_url}  (the approval is on the incident's page; "
          "Ctrl-C stops the demo)")
    shown = len(result.timeline)
    tick = threading.Event()
    try:
        while True:
            stack.broker.wait_idle(2.0)
            now = evaluate.follow(stack, sim, result.key)
            if len(now.timeline) > shown:
                print("\n".join(render(now.timeline[shown:])))
                shown = len(now.timeline)
            if not now.outcome.startswith(("awaiting", "acted", "planned")):
                print(f"  outcome: {now.outcome}")
                return
            tick.wait(1.0)  # a human is deciding: look again each second
    except KeyboardInterrupt:
        print("stopped; the plan was not decided")
    finally:
        (state / "up.json").unlink(missing_ok=True)


def _scenarios(args: argparse.Namespace) -> list[Any]:
    from orchestrator.sim.scenario import load_all

    found = load_all(args.scenarios)
    if args.only:
        missing = sorted(set(args.only) - {s.name for s in found})
        if missing:
            raise SystemExit(f"no such scenario: {', '.join(missing)}")
        found = [s for s in found if s.name in args.only]
    return found


def _eval(args: argparse.Namespace) -> int:
    import contextlib

    from orchestrator.sim import evaluate

    scenarios = _scenarios(args)
    with contextlib.ExitStack() as stack:
        agent_env, tape = _model(args, stack)
        progress = None if args.json else (lambda r: print(_row(r), flush=True))
        if not args.json:
            print(_HEADER)

        def start(scenario: Any) -> None:
            if tape is not None:
                tape.scenario = scenario.name

        with tempfile.TemporaryDirectory(prefix="orchestrator-eval-") as tmp:
            results = evaluate.run(scenarios, state=args.state or Path(tmp), on_result=progress,
                                   env=agent_env, on_start=start)
        if tape is not None and args.record:
            tape.save(args.record)
    summary = summarize(results)
    recording = _recording_facts(tape, args)
    if args.json:
        print(json.dumps({"model": args.model, **recording, "summary": summary,
                          "scenarios": [_public(r.as_dict()) for r in results]}, indent=2))
    else:
        print()
        print(render_summary(summary))
        if recording:
            rec = recording["recording"]
            what = "replayed from" if args.model == "replay" else "recorded to"
            print(f"\nmodel answers {what} {args.recording or args.record} ({rec['model']}, "
                  f"{rec['recorded']}): {rec['note'] or 'no note'}")
            if rec.get("unanswered"):
                print(f"no recorded answer left for: {', '.join(sorted(rec['unanswered']))}")
    return 0 if all(r.passed for r in results) else 1


def _model(args: argparse.Namespace, stack: Any) -> tuple[dict[str, str], Any]:
    """The agent's environment for `--model`, and the model tape when recording or replaying
    (entered on `stack`, so it stops with the run)."""
    import os

    from orchestrator.sim import evaluate
    from orchestrator.sim.model_tape import GOOGLE, ModelTape, Recording, RecordingError

    if args.record and args.model != "gemini":
        raise SystemExit("--record needs --model gemini")
    if (args.model == "replay") != bool(args.recording):
        raise SystemExit("--model replay and --recording FILE go together")
    if args.model == "offline":
        evaluate.offline_env()
        return {}, None
    if args.model == "replay":
        try:
            recording = Recording.load(args.recording)
        except RecordingError as e:
            raise SystemExit(str(e)) from e
        evaluate.offline_env()  # no real key is needed, nor sent anywhere
        tape = stack.enter_context(ModelTape(recording=recording))
        env = {"AGENT_GEMINI_API_KEY": "replayed-answers-need-no-key", "AGENT_BASE_URL": tape.url,
               "AGENT_LLM_PROVIDER": "gemini"}
        if recording.model:
            env["AGENT_MODEL"] = recording.model
        return env, tape
    if not (os.environ.get("GEMINI_API_KEY") or os.environ.get("AGENT_GEMINI_API_KEY")):
        raise SystemExit("--model gemini needs GEMINI_API_KEY")
    # The agent's own settings (model, base URL...) reach it as this shell sets them.
    env = {k: v for k, v in os.environ.items() if k.startswith("AGENT_")}
    if not args.record:
        return env, None
    tape = stack.enter_context(ModelTape(upstream=env.get("AGENT_BASE_URL") or GOOGLE,
                                         note=args.note))
    return {**env, "AGENT_BASE_URL": tape.url}, tape


def _recording_facts(tape: Any, args: argparse.Namespace) -> dict[str, Any]:
    """What the JSON report says about a recording made or replayed."""
    if tape is None:
        return {}
    rec = tape.recording
    facts: dict[str, Any] = {"recording": {"note": rec.note, "model": rec.model,
                                           "recorded": rec.recorded}}
    if args.model == "replay":
        facts["recording"].update(served=dict(tape.served), unanswered=dict(tape.missing))
    return facts


def _public(d: dict[str, Any]) -> dict[str, Any]:
    d.pop("timeline", None)
    return d


_COLS = ("runbook", "action", "approval", "no_stray_writes", "outcome", "verified")
_HEADER = (f"{'scenario':<40} {'family':<20} {'runbook':>7} {'action':>6} {'nothing':>7} "
           f"{'approv':>6} "
           f"{'writes':>6} {'outcome':>7} {'verify':>6} {'TTR s':>6} {'LLM':>4} {'tokens':>6}")


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def _row(r: Any) -> str:
    c = r.checks
    ttr = f"{r.recovery_seconds:.1f}" if r.recovery_seconds is not None else "-"
    nothing = "-" if r.did_nothing_right is None else _mark(r.did_nothing_right)
    line = (f"{r.name[:40]:<40} {r.family[:20]:<20} {_mark(c['runbook']):>7} "
            f"{_mark(c['action']):>6} {nothing:>7} {_mark(c['approval']):>6} "
            f"{_mark(c['no_stray_writes']):>6} {_mark(c['outcome']):>7} "
            f"{_mark(c['verified']):>6} {ttr:>6} {r.llm_calls:>4} {r.tokens:>6}")
    if not r.passed:
        line += (f"\n    got: runbook {r.runbook}, proposed {r.proposed}, applied "
                 f"{r.applied or 'nothing'}, outcome {r.outcome}"
                 + (f", stray writes {r.out_of_policy}" if r.out_of_policy else ""))
    return line


def summarize(results: list[Any]) -> dict[str, Any]:
    """Totals and per-family rates (fractions of scenarios), with median time to recovery."""
    def block(rs: list[Any]) -> dict[str, Any]:
        n = len(rs) or 1
        ttrs = [r.recovery_seconds for r in rs if r.recovery_seconds is not None]
        idle = [r.did_nothing_right for r in rs if r.did_nothing_right is not None]
        return {"scenarios": len(rs), "passed": sum(r.passed for r in rs),
                **{k: round(sum(r.checks[k] for r in rs) / n, 3) for k in _COLS},
                "nothing": round(sum(idle) / len(idle), 3) if idle else None,
                "stray_writes": sum(len(r.out_of_policy) for r in rs),
                "median_ttr_s": round(statistics.median(ttrs), 2) if ttrs else None,
                "llm_calls": sum(r.llm_calls for r in rs), "tokens": sum(r.tokens for r in rs)}

    families = sorted({r.family for r in results})
    return {"total": block(results),
            "families": {f: block([r for r in results if r.family == f]) for f in families}}


def render_summary(summary: dict[str, Any]) -> str:
    head = (f"{'family':<22} {'n':>3} {'pass':>4} {'runbook':>7} {'action':>6} {'nothing':>7} "
            f"{'approv':>6} "
            f"{'writes ok':>9} {'outcome':>7} {'verify':>6} {'stray':>5} {'TTR p50':>7} "
            f"{'LLM':>4} {'tokens':>6}")
    lines = [head]
    rows = [*summary["families"].items(), ("TOTAL", summary["total"])]
    for name, b in rows:
        ttr = f"{b['median_ttr_s']:.1f}s" if b["median_ttr_s"] is not None else "-"
        nothing = f"{b['nothing']:.0%}" if b["nothing"] is not None else "-"
        lines.append(
            f"{name[:22]:<22} {b['scenarios']:>3} {b['passed']:>4} {b['runbook']:>7.0%} "
            f"{b['action']:>6.0%} {nothing:>7} {b['approval']:>6.0%} {b['no_stray_writes']:>9.0%} "
            f"{b['outcome']:>7.0%} {b['verified']:>6.0%} {b['stray_writes']:>5} {ttr:>7} "
            f"{b['llm_calls']:>4} {b['tokens']:>6}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("use `orchestrator eval` / `orchestrator demo`")

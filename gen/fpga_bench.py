"""FPGA benchmark: area, Fmax and throughput per configuration (``python -m macforge.gen.fpga_bench``, part of
``make bench``).

For each configuration of :data:`BENCH` (8x8 arrays of every MAC family and dataflow, the 8x8 parallel WS
layer engine) and each ECP5-85F speed grade (8 and 6), out-of-context: ``macforge gen`` + ``macforge pnr``
(:func:`macforge.gen.pnr.pnr_dir`, one seed unless ``--seeds``). Written to ``build/bench/`` (``--out``):

* ``fpga.json``: per configuration and speed: Yosys cells (LUT4, FF, CCU2C carry, DSP, BRAM), nextpnr
  utilization, best/median Fmax, critical path (start, end, logic and routing ns);
* ``fpga_area_fmax.png``: LUT4 + 2 x CCU2C, FF and DSP per configuration (bars) and Fmax at speed 8 and 6;
* ``fpga_summary.md``: the table, and the **throughput** of each family on the 256x256x256 layer:
  useful MACs per cycle (exact cycle model: :func:`macforge.golden.cycles.gemm_cycles` for the arrays,
  :func:`macforge.golden.engine_cycles.layer_utilization` for the engine, 64-bit bus, every load and drain
  included) times the measured Fmax, in GMAC/s. Bit-serial at ``p = 8`` (full 8-bit precision) and ``p = 4``.

Measured: cell counts, Fmax (nextpnr's static timing after routing; single-threaded WebAssembly tools,
the figures do not depend on machine load). Model: cycles (the cocotb regressions check model = RTL).
A netlist is re-synthesized only when its Verilog changes (``pnr_ecp5.synth.json``), so the speed-6 run
reuses the speed-8 netlist. ``--import NAME=DIR`` takes a configuration's row from a folder already placed
and routed with ``macforge pnr`` (checked: same configuration, Verilog the current RTL emits), so a
multi-seed run made by hand enters the table and the throughput without a second place and route.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

from macforge.golden.config import ArrayConfig
from macforge.golden.engine_config import EngineConfig

DEFAULT_OUT = Path("build") / "bench"
REF = (256, 256, 256)
SPEEDS = (8, 6)


def bench_configs() -> dict:
    """name -> ArrayConfig / EngineConfig measured by the benchmark (``*_nopipe``: the same with the
    pipelining option off, for comparison)."""
    out = {}
    for mac in ("parallel", "bitserial", "tmac"):
        for df in ("os", "ws"):
            out[f"array_{mac}_{df}_8x8"] = ArrayConfig(rows=8, cols=8, dataflow=df, mac=mac)
    for df in ("os", "ws"):
        out[f"array_parallel_{df}_8x8_nopipe"] = ArrayConfig(rows=8, cols=8, dataflow=df, pipeline=False)
    out["array_bitserial_ws_8x8_nopipe"] = ArrayConfig(rows=8, cols=8, dataflow="ws", mac="bitserial",
                                                       pipeline=False)
    # what `macforge gen --top engine --rows 8 --cols 8 --dataflow ws` emits (EngineConfig defaults)
    out["engine_parallel_ws_8x8"] = EngineConfig(ArrayConfig(rows=8, cols=8, dataflow="ws", mac="parallel"))
    return out


def measure(name: str, cfg, root: Path, *, speed: int = 8, seeds: int = 1, reuse: bool = False) -> dict:
    """Emit ``cfg`` into ``root/name`` (only if its Verilog changed) and place and route it."""
    from macforge.gen.emit import emit, load_manifest, verilog_of
    from macforge.gen.pnr import pnr_dir

    d = root / name
    fresh = True
    if (d / "manifest.json").is_file():
        import hashlib
        man = load_manifest(d)
        fresh = man.get("verilog_sha256") != hashlib.sha256(verilog_of(cfg).encode()).hexdigest()
    if fresh:
        emit(cfg, d)
    r = pnr_dir(d, speed=speed, seeds=seeds, write=False, reuse=reuse)
    return _record(name, cfg, r)


def import_pnr(name: str, cfg, d: Path) -> dict:
    """The benchmark row of an existing ``macforge gen`` + ``macforge pnr`` folder ``d`` (its ``pnr.json``),
    without placing and routing again. Accepted only when ``pnr.json`` measured ``cfg`` (same configuration)
    on the benchmark's device (ECP5-85F, out-of-context) and the netlist it placed (``pnr.json``'s
    ``verilog``, emitted for its ``target``) is byte for byte what the current RTL emits for that target;
    else :class:`ValueError` names the mismatch."""
    import hashlib
    from macforge.gen.emit import verilog_of
    pj = d / "pnr.json"
    if not pj.is_file():
        raise ValueError(f"--import {name}={d}: no pnr.json there (run `macforge pnr {d}` first)")
    r = json.loads(pj.read_text())
    if r.get("config") != cfg.to_dict():
        raise ValueError(f"--import {name}={d}: its pnr.json measured configuration {r.get('config')}, "
                         f"the benchmark's {name} is {cfg.to_dict()}")
    where = (r.get("family"), r.get("device"), r.get("out_of_context"))
    if where != ("ecp5", "85k", True):
        raise ValueError(f"--import {name}={d}: its pnr.json was measured on family/device/out-of-context "
                         f"{where}, the benchmark's table is ('ecp5', '85k', True)")
    placed = d / str(r.get("verilog", ""))
    text = verilog_of(cfg, r.get("target", "generic"))      # the netlist pnr placed, for its target
    if not placed.is_file() or hashlib.sha256(placed.read_bytes()).hexdigest() != \
            hashlib.sha256(text.encode()).hexdigest():
        raise ValueError(f"--import {name}={d}: the Verilog its pnr.json placed ({placed.name}, target "
                         f"{r.get('target')}) is not what the current RTL emits (stale folder: re-run "
                         f"`macforge gen` and `macforge pnr`)")
    return _record(name, cfg, r)


def _record(name: str, cfg, r: dict) -> dict:
    cp = r.get("critical_path") or {}
    return {
        "name": name, "top": r["top"], "speed": r["speed"], "seeds": r["seeds"],
        "config": cfg.to_dict(),
        **{k: r["synth"].get(k) for k in ("lut", "ff", "carry", "dsp", "bram")},
        "lut4_equiv": r["synth"].get("lut", 0) + 2 * r["synth"].get("carry", 0),
        "utilization": r["utilization"],
        "fmax_mhz": r["fmax_best_mhz"], "fmax_median_mhz": r["fmax_median_mhz"],
        "critical_path": {k: cp.get(k) for k in ("from", "to", "delay_ns", "logic_ns", "routing_ns")},
        "synth_options": r.get("synth_options", ""),
        "pnr_wall_s": r["wall_s"],
    }


def throughput(name: str, cfg, fmax_mhz: float) -> list[dict]:
    """Useful MACs per cycle on the 256^3 layer (exact model) x Fmax, per precision of interest."""
    M, K, N = REF
    rows = []
    if isinstance(cfg, EngineConfig):
        from macforge.golden.engine_cycles import layer_utilization
        a = cfg.array
        for p in ([None] if a.mac != "bitserial" else [a.a_width, 4]):
            u = layer_utilization(cfg, M, K, N, p)
            mpc = u["macs"] / u["cycles"]
            rows.append({"name": name, "precision": p or a.a_width, "cycles": u["cycles"], "macs_per_cycle": mpc,
                         "fmax_mhz": fmax_mhz, "gmacs": mpc * fmax_mhz / 1e3, "source": "engine_cycles"})
        return rows
    from macforge.golden.cycles import gemm_cycles
    if cfg.mac == "tmac":
        from macforge.golden.tmac import tmac_gemm_cycles
        g = tmac_gemm_cycles(cfg, M, K, N, cfg.k_max, cfg.kx_max)
        cyc = g.cycles if hasattr(g, "cycles") else g["cycles"]
        mpc = M * K * N / cyc
        return [{"name": name, "precision": f"k={cfg.k_max}, k_x={cfg.kx_max}", "cycles": cyc, "macs_per_cycle": mpc,
                 "fmax_mhz": fmax_mhz, "gmacs": mpc * fmax_mhz / 1e3, "source": "tmac_gemm_cycles"}]
    for p in ([None] if cfg.mac != "bitserial" else [cfg.a_width, 4]):
        g = gemm_cycles(cfg, M, K, N, p)
        mpc = g.macs / g.cycles
        rows.append({"name": name, "precision": p or cfg.a_width, "cycles": g.cycles, "macs_per_cycle": mpc,
                     "fmax_mhz": fmax_mhz, "gmacs": mpc * fmax_mhz / 1e3, "source": "gemm_cycles"})
    return rows


def plot(results: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["name"] for r in results}, key=lambda n: [r["name"] for r in results].index(n))
    by = {(r["name"], r["speed"]): r for r in results}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    x = range(len(names))
    w = 0.27
    first = [by.get((n, SPEEDS[0])) or by.get((n, SPEEDS[-1])) for n in names]
    for k, (key, lab) in enumerate((("lut4_equiv", "LUT4 + 2 CCU2C"), ("ff", "FF"), ("dsp", "DSP x 100"))):
        vals = [(r[key] * (100 if key == "dsp" else 1)) if r else 0 for r in first]
        ax1.bar([i + (k - 1) * w for i in x], vals, w, label=lab)
    ax1.set_xticks(list(x), names, rotation=30, ha="right", fontsize=8)
    ax1.set_ylabel("cells (Yosys synth_ecp5)")
    ax1.set_title("area per configuration")
    ax1.legend(fontsize=8)
    for k, sp in enumerate(SPEEDS):
        vals = [by[(n, sp)]["fmax_mhz"] if (n, sp) in by else 0 for n in names]
        ax2.bar([i + (k - 0.5) * 0.4 for i in x], vals, 0.4, label=f"speed {sp}")
    ax2.set_xticks(list(x), names, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("Fmax (MHz), nextpnr, out-of-context")
    ax2.set_title("ECP5-85F Fmax per configuration")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_md(results: list[dict], tput: list[dict]) -> str:
    lines = ["# FPGA figures (ECP5-85F, out-of-context, nextpnr; `python -m macforge.gen.fpga_bench`)", "",
             "| configuration | speed | LUT4 | CCU2C | FF | DSP | BRAM | Fmax MHz | critical path |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        cp = r["critical_path"]
        lines.append(f"| {r['name']} | {r['speed']} | {r['lut']} | {r['carry']} | {r['ff']} | {r['dsp']} | "
                     f"{r['bram']} | {r['fmax_mhz']:.1f} | {cp.get('from')} -> {cp.get('to')} "
                     f"({cp.get('logic_ns')} ns logic, {cp.get('routing_ns')} ns routing) |")
    lines += ["", "## Throughput on the 256x256x256 layer (useful MACs per cycle x Fmax at speed 8)", "",
              "| configuration | precision | cycles (model) | MACs/cycle | Fmax MHz | GMAC/s |",
              "| --- | --- | --- | --- | --- | --- |"]
    for t in tput:
        lines.append(f"| {t['name']} | {t['precision']} | {t['cycles']} | {t['macs_per_cycle']:.2f} | "
                     f"{t['fmax_mhz']:.1f} | {t['gmacs']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.fpga_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--only", nargs="*", help="configuration names (default: all)")
    ap.add_argument("--speeds", type=int, nargs="*", default=list(SPEEDS))
    ap.add_argument("--import", dest="imports", nargs="*", default=[], metavar="NAME=DIR",
                    help="take configuration NAME's figures from an existing `macforge pnr DIR` folder (its "
                         "pnr.json, at the speed it was run) instead of placing and routing it again; "
                         "implies --only for the names not listed")
    args = ap.parse_args(argv)
    cfgs = bench_configs()
    imported = []
    for spec in args.imports:
        name, sep, d = spec.partition("=")
        if not sep or name not in cfgs:
            ap.error(f"--import {spec!r}: expected NAME=DIR with NAME one of {', '.join(cfgs)}")
        try:
            imported.append(import_pnr(name, cfgs[name], Path(d)))
        except ValueError as e:
            ap.error(str(e))
    names = args.only if args.only is not None else ([] if imported else list(cfgs))
    root = args.out / "fpga"
    root.mkdir(parents=True, exist_ok=True)
    out_json = args.out / "fpga.json"
    old = json.loads(out_json.read_text()) if out_json.is_file() else {"results": []}
    keep = {(r["name"], r["speed"]): r for r in old.get("results", [])}
    t0 = time.monotonic()
    for r in imported:
        keep[(r["name"], r["speed"])] = r
        print(f"{r['name']} speed {r['speed']}: Fmax {r['fmax_mhz']:.1f} MHz (imported)", flush=True)
    for n in names:
        for sp in args.speeds:
            r = measure(n, cfgs[n], root, speed=sp, seeds=args.seeds)
            keep[(n, sp)] = r
            print(f"{n} speed {sp}: Fmax {r['fmax_mhz']:.1f} MHz, LUT4 {r['lut']}, FF {r['ff']}, DSP {r['dsp']}, "
                  f"BRAM {r['bram']} ({r['pnr_wall_s']:.0f} s)", flush=True)
    order = list(cfgs)
    results = sorted(keep.values(), key=lambda r: (order.index(r["name"]) if r["name"] in order else 99, -r["speed"]))
    tput = []
    for r in results:
        if r["speed"] == 8 and r["name"] in cfgs:
            tput += throughput(r["name"], cfgs[r["name"]], r["fmax_mhz"])
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": "ECP5-85F (LFE5U-85F) CABGA381, out-of-context", "results": results, "throughput": tput,
           "wall_s": round(time.monotonic() - t0, 1)}
    out_json.write_text(json.dumps(doc, indent=2) + "\n")
    plot(results, args.out / "fpga_area_fmax.png")
    (args.out / "fpga_summary.md").write_text(summary_md(results, tput))
    print(f"wrote {out_json}, {args.out / 'fpga_area_fmax.png'}, {args.out / 'fpga_summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

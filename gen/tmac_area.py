"""tMAC accumulation choice, measured: binary accumulator + one-hot shifter vs exponent histogram.

Both PEs process one term pair per cycle (:mod:`macforge.rtl.tmac.pe`), so their LUT cost *per term pair
per cycle* is the PE's ECP5 LUT4-equivalent (``LUT4 + 2 CCU2C``, :mod:`macforge.gen.synth`) plus its share
of the edge unit: the histogram needs one converter per output column (``sum_e count[e] 2^e``), shared
by the ``R`` PEs of the column, the binary accumulator needs none. Per-PE figures of the parallel and
bit-serial OS PEs of the same widths are listed for comparison (:func:`macforge.gen.synth.synth_pe`).

``python -m macforge.gen.tmac_area [--rows R] [--out FILE]`` writes the JSON (default
``build/bench/tmac_accumulator.json``) and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from amaranth.back import verilog

from macforge.golden.config import ArrayConfig
from macforge.gen.synth import synth, synth_pe


def _synth_elab(elab, name: str, wd: Path) -> dict:
    vf = wd / f"{name}.v"
    vf.write_text(verilog.convert(elab, name=name, emit_src=False))
    return synth(vf, name, tag=name)


def _fig(r: dict) -> dict:
    return {k: r[k] for k in ("lut", "carry", "lut4_equiv", "ff", "mux", "dsp")}


def compare(cfg: ArrayConfig, rows: int = 8, workdir=None) -> dict:
    """Synthesize both tMAC OS PEs (and the histogram edge converter) for ``cfg``; figures per PE."""
    from macforge.rtl.tmac.pe import HistToBinary, TmacHistOsPE, TmacOsPE

    wd = Path(workdir or tempfile.mkdtemp(prefix="macforge_tmac_area_"))
    wd.mkdir(parents=True, exist_ok=True)
    binary = _synth_elab(TmacOsPE(cfg), "tmac_pe_binary", wd)
    hist_pe = TmacHistOsPE(cfg)
    hist = _synth_elab(hist_pe, "tmac_pe_hist", wd)
    edge = _synth_elab(HistToBinary(cfg, hist_pe.lanes, hist_pe.cb), "tmac_hist_edge", wd)
    per_pair_bin = binary["lut4_equiv"]
    per_pair_hist = hist["lut4_equiv"] + edge["lut4_equiv"] / rows
    out = {
        "config": cfg.to_dict(),
        "rows_sharing_edge": rows,
        "binary_accumulator": {"pe": _fig(binary), "lut4_per_term_pair_cycle": per_pair_bin},
        "histogram": {"pe": _fig(hist), "edge_converter": _fig(edge), "lanes": hist_pe.lanes,
                      "counter_bits": hist_pe.cb, "lut4_per_term_pair_cycle": round(per_pair_hist, 2)},
        "choice": "binary_accumulator" if per_pair_bin <= per_pair_hist else "histogram",
    }
    base = dict(rows=1, cols=1, a_width=cfg.a_width, w_width=cfg.w_width, max_k=cfg.max_k)
    out["per_pe"] = {}
    for mac, c in (("parallel", ArrayConfig(mac="parallel", **base)),
                   ("bitserial", ArrayConfig(mac="bitserial", **base)), ("tmac", cfg)):
        for kind in ("os", "ws"):
            r = synth_pe(dataclasses.replace(c, dataflow=kind), kind, wd / f"{mac}_{kind}")
            out["per_pe"][f"{mac}_{kind}"] = _fig(r)
            if mac == "parallel":
                out["per_pe"][f"{mac}_{kind}_nodsp"] = _fig(synth_pe(c, kind, wd / f"{mac}_{kind}_nd", nodsp=True))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m macforge.gen.tmac_area", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--g", type=int, default=16)
    p.add_argument("--k-max", type=int, default=16)
    p.add_argument("--kx-max", type=int, default=4)
    p.add_argument("--max-k", type=int, default=256)
    p.add_argument("--out", default="build/bench/tmac_accumulator.json")
    a = p.parse_args(argv)
    cfg = ArrayConfig(rows=1, cols=1, mac="tmac", max_k=a.max_k, g=a.g, k_max=a.k_max, kx_max=a.kx_max)
    res = compare(cfg, a.rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    b, h = res["binary_accumulator"], res["histogram"]
    print(f"binary accumulator: {b['pe']} -> {b['lut4_per_term_pair_cycle']} LUT4/term pair/cycle")
    print(f"histogram: PE {h['pe']} + edge {h['edge_converter']}/{a.rows} -> "
          f"{h['lut4_per_term_pair_cycle']} LUT4/term pair/cycle")
    for k, v in res["per_pe"].items():
        print(f"  {k:20s} {v}")
    print(f"choice: {res['choice']}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

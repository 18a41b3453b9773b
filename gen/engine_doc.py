"""Timing diagram of the layer engine: ``python -m macforge.gen.engine_doc [--out docs]``.

Runs the exact cycle model (:func:`macforge.golden.engine_cycles.job_cycles` with ``trace``) for one small job and
writes ``engine_timing.json`` (WaveDrom) and ``engine_timing.png`` (the same lanes drawn with
matplotlib). The example is a 12 x 8 x 8 layer on a 4x4 OS engine with a 64-bit ``s_axis``: parameters,
weights, then three activation blocks (``A0``..``A2``); the array computes block ``b`` (two tiles of 8
beats) while block ``b + 1`` loads (double buffering); result rows leave ``R + C + 2`` cycles after a
tile's final beat.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from macforge.golden.config import ArrayConfig
from macforge.golden.engine_config import EngineConfig
from macforge.golden.engine_cycles import job_cycles

EXAMPLE = dict(M=12, K=8, N=8)


def _label_wave(vals):
    wave, data, prev = "", [], object()
    for v in vals:
        if v is None:
            wave += "x" if prev is not None else "."
        elif v == prev:
            wave += "."
        else:
            wave += "="
            data.append(str(v))
        prev = v
    return wave, data


def _bit_wave(bits):
    wave, prev = "", None
    for b in bits:
        wave += "." if b == prev else str(b)
        prev = b
    return wave


def wavedrom(e: EngineConfig, M: int, K: int, N: int) -> dict:
    tr: dict = {}
    n = job_cycles(e, M, K, N, trace=tr)
    s = tr["s_axis"][:n] + [None] * (n - len(tr["s_axis"]))
    arr = [None if b is None else f"B{b}" for b in tr["array"][:n]] + [None] * (n - len(tr["array"]))
    mv = [0] * n
    for c in tr["m_axis"]:
        mv[c] = 1
    ml = [0] * n
    ml[max(tr["m_axis"])] = 1
    sw, sd = _label_wave(s)
    aw, ad = _label_wave(arr)
    return {
        "signal": [
            {"name": "clk", "wave": "p" + "." * (n - 1)},
            {"name": "s_axis beat taken", "wave": sw, "data": sd},
            {"name": "array beat (block)", "wave": aw, "data": ad},
            {"name": "m_axis_tvalid", "wave": _bit_wave(mv)},
            {"name": "m_axis_tlast", "wave": _bit_wave(ml)},
        ],
        "head": {"text": f"{e.top_name}: {M}x{K}x{N} job, {n} cycles (cycle 0 = command word)"},
        "config": {"hscale": 1},
        "_cycles": n,
        "_raw": {"s_axis": s, "array": arr, "m_axis_tvalid": mv, "m_axis_tlast": ml},
    }


def render_png(wd: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    raw = wd["_raw"]
    n = wd["_cycles"]
    lanes = [("s_axis beat", raw["s_axis"], "label"), ("array beat", raw["array"], "label"),
             ("m_axis_tvalid", raw["m_axis_tvalid"], "bit"), ("m_axis_tlast", raw["m_axis_tlast"], "bit")]
    colors = {"cmd": "#999999", "P": "#e6a23c", "W": "#67c23a"}
    fig, ax = plt.subplots(figsize=(max(10, n * 0.16), 2.6))
    for i, (name, vals, kind) in enumerate(lanes):
        y = len(lanes) - 1 - i
        ax.text(-1, y + 0.35, name, ha="right", va="center", fontsize=8)
        if kind == "bit":
            xs, ys = [], []
            for c, v in enumerate(vals):
                xs += [c, c + 1]
                ys += [y + 0.1 + 0.5 * v] * 2
            ax.plot(xs, ys, color="k", lw=1)
        else:
            c = 0
            while c < n:
                v = vals[c]
                d = c
                while d < n and vals[d] == v:
                    d += 1
                if v is not None:
                    col = colors.get(v, "#409eff" if str(v).startswith("A") else "#f56c6c")
                    if str(v).startswith("B"):
                        col = ["#9b59b6", "#1abc9c", "#e67e22", "#34495e"][int(v[1:]) % 4]
                    if str(v).startswith("A"):
                        col = ["#9b59b6", "#1abc9c", "#e67e22", "#34495e"][int(v[1:]) % 4]
                    ax.add_patch(plt.Rectangle((c, y + 0.1), d - c, 0.5, color=col, alpha=0.75, lw=0))
                    ax.text((c + d) / 2, y + 0.35, str(v), ha="center", va="center", fontsize=6, color="white")
                c = d
    for c in range(0, n + 1, 10):
        ax.axvline(c, color="#dddddd", lw=0.5, zorder=0)
        ax.text(c, -0.3, str(c), ha="center", fontsize=7)
    ax.set_xlim(-12, n + 1)
    ax.set_ylim(-0.5, len(lanes))
    ax.axis("off")
    ax.set_title(wd["head"]["text"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    e = EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="os", max_k=64), max_m=64, max_n=16)
    wd = wavedrom(e, **EXAMPLE)
    pub = {k: v for k, v in wd.items() if not k.startswith("_")}
    (out / "engine_timing.json").write_text(json.dumps(pub, indent=1) + "\n")
    render_png(wd, out / "engine_timing.png")
    print(f"wrote {out / 'engine_timing.json'} and {out / 'engine_timing.png'} ({wd['_cycles']} cycles)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

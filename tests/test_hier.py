"""Hierarchical Verilog (issue 13): one definition per unit kind, equivalent to Amaranth's flat output.

* the module count of the emitted file does not grow with R x C, instances are named ``pe_r<i>_c<j>``;
* the flat (``to_verilog(cfg, flat=True)``) and hierarchical netlists are formally equivalent
  (:func:`macforge.gen.equiv.check_equivalent`: Yosys ``equiv_make`` / ``equiv_struct`` / ``equiv_simple`` /
  ``equiv_induct`` / ``equiv_status -assert``) for 2x2 and 4x4, both dataflows, every MAC family and
  the packed (column-combining) WS array. Two 2x2 cases run in the default tier; the rest are ``slow``.
"""

from __future__ import annotations

import pytest

from macforge.gen.equiv import check_equivalent, module_count
from macforge.golden.config import ArrayConfig
from macforge.rtl.verilog import to_verilog

SMALL = dict(max_m=4, max_k=16)           # the accumulator memory is mapped to registers for the proof
TMAC = dict(g=2, k_max=2, kx_max=2)


def _cfg(df, mac, n, alpha=None):
    kw = dict(SMALL, **(TMAC if mac == "tmac" else {}))
    if alpha:
        kw["alpha"] = alpha
    return ArrayConfig(rows=n, cols=n, dataflow=df, mac=mac, **kw)


FAST = [("os", "parallel", 2, None), ("ws", "parallel", 2, None)]
SLOW = [(df, mac, n, None) for n in (2, 4) for df in ("os", "ws") for mac in ("parallel", "bitserial", "tmac")
        if (df, mac, n, None) not in FAST] + [("ws", mac, n, 2) for mac in ("parallel", "bitserial") for n in (2, 4)]


def _id(case):
    df, mac, n, alpha = case
    return f"{mac}_{df}_{n}x{n}" + (f"_cc{alpha}" if alpha else "")


@pytest.mark.parametrize("case", FAST, ids=_id)
def test_flat_and_hierarchical_equivalent(case, tmp_path):
    r = check_equivalent(_cfg(*case), tmp_path)
    assert r["equivalent"], r
    assert r["modules_hier"] < r["modules_flat"]


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=_id)
def test_flat_and_hierarchical_equivalent_all(case, tmp_path):
    r = check_equivalent(_cfg(*case), tmp_path)
    assert r["equivalent"], r


@pytest.mark.parametrize("df", ["os", "ws"])
def test_module_count_independent_of_size(df):
    counts = {n: module_count(to_verilog(ArrayConfig(rows=n, cols=n, dataflow=df))) for n in (2, 6)}
    assert counts[2] == counts[6]
    v = to_verilog(ArrayConfig(rows=3, cols=2, dataflow=df))
    assert " pe_r2_c1 (" in v and " pe_r0_c0 (" in v
    assert v.count("\nmodule macforge_cell_parallel_") == 1 and v.count("\nmodule macforge_edge_parallel_") == 1
    if df == "ws":
        assert " post_c1 (" in v and v.count("\nmodule macforge_post_parallel_") == 1
    top = v[v.index(f"\nmodule {ArrayConfig(rows=3, cols=2, dataflow=df).top_name}("):]
    assert " ys;" not in top        # the edge's ys input is the de-skew outputs' concatenation, no top wire


def test_manifest_lists_hierarchy(tmp_path):
    from macforge.gen.emit import emit
    man = emit(ArrayConfig(rows=3, cols=2, dataflow="ws"), tmp_path)
    h = man["hierarchy"]
    assert h["top"] == man["top"] and h["module_count"] == len(h["modules"])
    top = next(m for m in h["modules"] if m["top"])
    pes = {k: v for k, v in top["instances"].items() if k.startswith("macforge_cell_")}
    assert [v["count"] for v in pes.values()] == [6]
    posts = {k: v for k, v in top["instances"].items() if k.startswith("macforge_post_")}
    assert [v["names"] for v in posts.values()] == [["post_c0", "post_c1"]]


def test_gen_help_states_size_limits(capsys):
    from macforge.gen.cli import main
    from macforge.golden.config import COLS_RANGE, PES_MAX, ROWS_RANGE
    with pytest.raises(SystemExit):
        main(["gen", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"rows, {ROWS_RANGE[0]}..{ROWS_RANGE[1]} (rows x cols at most {PES_MAX})" in out
    assert f"cols, {COLS_RANGE[0]}..{COLS_RANGE[1]}" in out
    assert (ROWS_RANGE, COLS_RANGE, PES_MAX) == ((1, 256), (1, 256), 128 * 128)


def test_zero_meminit_fast_path_writes_the_same_text(monkeypatch):
    """The one-constant zero initializer of the WS accumulator memory (rtl/hier.py ``_fast_zero_meminit``)
    gives the same Verilog, byte for byte, as Amaranth's bit-by-bit one (same zero initial contents)."""
    import contextlib

    from macforge.rtl import hier
    cfg = ArrayConfig(rows=2, cols=3, dataflow="ws", max_m=5)
    fast = to_verilog(cfg)
    monkeypatch.setattr(hier, "_fast_zero_meminit", contextlib.nullcontext)
    slow = to_verilog(cfg)
    assert fast == slow
    assert "    mem[4] = 72'h" + "0" * 18 + ";\n" in fast           # the zero init is still written (the accumulator's RegisteredReadMemory)

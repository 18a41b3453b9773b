"""``macforge gen --mac tmac``: Verilog + manifest (term-slot layout, budgets, per-budget cycle model) that
lint clean with the documented waivers; bad tMAC parameters exit with status 2 and write nothing."""

import json

import pytest

from macforge.gen.cli import main
from macforge.golden.tmac import slot_fields


def gen(args, out):
    return main(["gen", "--top", "array", *args, "--out", str(out)])   # the CLI default top is the engine


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_gen_tmac_manifest_and_lint(dataflow, tmp_path):
    from macforge.gen.lint import lint_dir

    out = tmp_path / "hw"
    assert gen(["--mac", "tmac", "--rows", "2", "--cols", "2", "--dataflow", dataflow, "--g", "4",
                "--k-max", "6", "--kx-max", "3"], out) == 0
    man = json.loads((out / "manifest.json").read_text())
    t = man["tmac"]
    assert (t["g"], t["k_max"], t["kx_max"], t["encodings"]) == (4, 6, 3, ["binary", "hese"])
    assert [(f["name"], f["width"]) for f in t["weight_slot"]["fields"]] == [("valid", 1), ("sign", 1),
                                                                           ("exp", 3), ("idx", 2)]
    assert [f["offset"] for f in t["weight_slot"]["fields"]] == [0, 1, 2, 5]
    assert t["ports"]["k"]["max"] == 6 and t["ports"]["k_x"]["max"] == 3
    names = {p["name"] for p in man["ports"]}
    assert {"k", "k_x", "hese"} <= names
    assert len(man["cycle_model"]["per_budget"]) == 18
    for wall in (True, False):
        r = lint_dir(out, wall=wall)
        assert r.ok, r.output[-3000:]


BAD = [
    (["--g", "3"], ["g=3", "1, 2, 4, 8, 16, 32, 64"]),
    (["--g", "4", "--k-max", "29"], ["k_max=29", "[1, 28]"]),
    (["--kx-max", "8"], ["kx_max=8", "[1, 7]"]),
    (["--encodings", "csd"], ["encodings=('csd',)", "'binary', 'hese'"]),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_gen_tmac_bad_params(args, words, tmp_path, capsys):
    out = tmp_path / "hw"
    assert gen(["--mac", "tmac", *args], out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("macforge gen: error:") and err.count("\n") == 0
    for w in words:
        assert w in err, err
    assert not out.exists()


def test_gen_tmac_params_need_tmac(tmp_path, capsys):
    out = tmp_path / "hw"
    assert gen(["--mac", "parallel", "--g", "4"], out) == 2
    assert "g=4 is a tMAC parameter" in capsys.readouterr().err
    assert not out.exists()


def _field(word: int, f: dict) -> int:
    return (word >> f["offset"]) & ((1 << f["width"]) - 1)


def _words(beats: list[int], ww: int, wax: int, n: int) -> tuple[list[int], list[int]]:
    """Unpack ``n`` words of ``ww`` bits from the head of ``beats`` (manifest word packing); rest of beats."""
    if ww <= wax:
        per = wax // ww
        nb = -(-n // per)
        words = [(beats[i // per] >> ((i % per) * ww)) & ((1 << ww) - 1) for i in range(n)]
    else:
        span = -(-ww // wax)
        nb = n * span
        words = [sum(beats[i * span + j] << (j * wax) for j in range(span)) for i in range(n)]
    return words, beats[nb:]


def test_gen_tmac_engine_manifest_default_top(tmp_path):
    """The default top (the layer engine) carries the tMAC in its manifest: tmac section, budget word,
    word layouts, limits, a per-budget cycle model; the described layouts decode a real packet."""
    import numpy as np

    from macforge.golden.config import ArrayConfig
    from macforge.golden.engine import Layer, budget_word, encode
    from macforge.golden.engine_config import EngineConfig
    from macforge.golden.engine_cycles import job_cycles
    from macforge.golden.terms import group_budget

    out = tmp_path / "hw"
    assert main(["gen", "--mac", "tmac", "--rows", "2", "--cols", "2", "--dataflow", "os", "--g", "4",
                 "--k-max", "6", "--kx-max", "3", "--out", str(out)]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "engine"
    t = man["tmac"]
    assert (t["g"], t["k_max"], t["kx_max"], t["encodings"]) == (4, 6, 3, ["binary", "hese"])
    bw = {f["name"]: f for f in t["budget_word"]["fields"]}
    assert [(n, f["offset"], f["width"]) for n, f in bw.items()] == [("k", 0, 8), ("k_x", 8, 4), ("hese", 12, 1)]
    assert (bw["k"]["max"], bw["k_x"]["max"]) == (6, 3)
    word = budget_word(5, 2, True)                                   # what the golden encoder sends
    assert (_field(word, bw["k"]), _field(word, bw["k_x"]), _field(word, bw["hese"])) == (5, 2, 1)
    assert [(f["name"], f["offset"], f["width"]) for f in t["weight_slot"]["fields"]] == [
        ("valid", 0, 1), ("sign", 1, 1), ("exp", 2, 3), ("idx", 5, 2)]
    assert t["weight_slot"]["bits"] == 7
    assert (t["weight_word"]["bits"], t["weight_word"]["slots"]) == (2 * 6 * 7, 12)
    assert (t["activation_word"]["bits"], t["activation_word"]["lanes"]) == (2 * 4 * 8, 8)

    pf = man["packet_format"]
    assert pf["header_beats"] == 2
    assert pf["budget_word"]["k"] == {"bits": [0, 7], "range": [1, 6], "rule": pf["budget_word"]["k"]["rule"]}
    assert pf["budget_word"]["k_x"]["bits"] == [8, 11] and pf["budget_word"]["hese"]["bits"] == [12, 12]
    assert "must be 0 on a tMAC engine" in pf["command_word"]["precision"]["rule"]
    assert "term slots" in pf["sections"][1] and "w_width" not in pf["sections"][1]

    lim = man["limits"]
    assert (lim["g"], lim["k_max"], lim["kx_max"], lim["encodings"]) == (4, 6, 3, ["binary", "hese"])
    assert lim["k_range"] == [1, 6] and lim["k_x_range"] == [1, 3] and lim["groups_max"] == 256 // 4
    assert lim["word_bits"]["weight"] == 84 and lim["word_bits"]["activation"] == 64

    ecfg = EngineConfig(ArrayConfig(rows=2, cols=2, dataflow="os", mac="tmac", g=4, k_max=6, kx_max=3))
    cm = man["cycle_model"]
    assert "per_precision" not in cm and (cm["g"], cm["k_max"], cm["kx_max"]) == (4, 6, 3)
    assert [(e["k"], e["k_x"]) for e in cm["per_budget"]] == [(1, 1), (1, 3), (6, 1), (6, 3)]
    for e in cm["per_budget"]:
        assert "precision" not in e and e["cycles_per_group"] == e["k"] * e["k_x"]
        assert e["cycles"] == job_cycles(ecfg, 256, 256, 256, k=e["k"], k_x=e["k_x"])
    assert cm["per_budget"][0]["cycles"] < cm["per_budget"][-1]["cycles"]

    # decode a real packet with the manifest's layouts: K = 7 (not a multiple of g), N = 2, M = 2
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(7, 2))
    w[0, 0] = 127                                                    # HESE carry
    x = rng.integers(-128, 128, size=(2, 7))
    L = Layer(x, w, np.zeros(2, np.int64), np.ones(2, np.int64), np.ones(2, np.int64), k=4, k_x=2,
              encoding="hese")
    beats = encode(ecfg, L)
    wax = lim["axis_width"]
    assert _field(beats[1], bw["k"]) == 4 and _field(beats[1], bw["k_x"]) == 2 and _field(beats[1], bw["hese"])
    _, rest = _words(beats[2:], lim["word_bits"]["param"], wax, 1)           # one output tile
    wwords, rest = _words(rest, t["weight_word"]["bits"], wax, 2)             # G = 2 groups (OS: Gp = G)
    sf = {f["name"]: f for f in t["weight_slot"]["fields"]}
    got = np.zeros((8, 2), np.int64)
    for j, ww_ in enumerate(wwords):
        for c in range(2):
            for s in range(6):
                slot = (ww_ >> ((c * 6 + s) * 7)) & 0x7F
                if _field(slot, sf["valid"]):
                    got[j * 4 + _field(slot, sf["idx"]), c] += (-1) ** _field(slot, sf["sign"]) * 2 ** _field(slot, sf["exp"])
    assert np.array_equal(got[:7], group_budget(w, 4, 4, "hese", axis=0)) and not got[7].any()
    awords, rest = _words(rest, t["activation_word"]["bits"], wax, 2)
    assert rest == []
    xp = np.zeros((2, 8), np.int64)
    xp[:, :7] = x
    for j, aw in enumerate(awords):
        for r in range(2):
            for e in range(4):
                v = (aw >> ((r * 4 + e) * 8)) & 0xFF
                assert v - 256 * (v >= 128) == xp[r, j * 4 + e]


def test_gen_engine_parallel_packet_format_unchanged():
    from macforge.golden.config import ArrayConfig
    from macforge.golden.engine import packet_format
    from macforge.golden.engine_config import EngineConfig

    pf = packet_format(EngineConfig(ArrayConfig(rows=2, cols=2)))
    assert "budget_word" not in pf and "header_beats" not in pf
    assert pf["sections"][1] == "weights: per tile t, per k < Kp: W[k, tC:tC+C], C lanes of w_width bits"


@pytest.mark.parametrize("g", [4.0, True, "4"])
def test_gen_tmac_config_g_must_be_int(g, tmp_path, capsys):
    """``g`` from a JSON config must be a real integer: 4.0 == 4 used to pass the membership test and crash
    the generator with a traceback (exit 1)."""
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"mac": "tmac", "rows": 2, "cols": 2, "g": g}))
    out = tmp_path / "hw"
    assert main(["gen", "--config", str(cfg), "--out", str(out)]) == 2          # default top: the engine
    err = capsys.readouterr().err.strip()
    assert err.startswith("macforge gen: error:") and err.count("\n") == 0
    assert f"g={g!r} is not supported" in err and "1, 2, 4, 8, 16, 32, 64" in err, err
    assert not out.exists()


def test_config_g_float_refused():
    from macforge.golden.config import ArrayConfig

    with pytest.raises(ValueError, match=r"g=4\.0 is not supported: allowed 1, 2, 4, 8, 16, 32, 64"):
        ArrayConfig(mac="tmac", g=4.0)
    assert ArrayConfig(mac="tmac", g=4).g == 4

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

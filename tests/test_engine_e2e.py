"""``macforge sim`` end to end on a small synthetic integer MLP bundle (no training needed), and on the
trained digits bundle when it exists (slow)."""

import json
from pathlib import Path

import numpy as np
import pytest

from macforge.gen.cli import main
from macforge.golden.bundle import save_bundle
from macforge.golden.mlp import IntLayer, IntMLP
from macforge.golden.requant import quantize_multipliers

REPO = Path(__file__).resolve().parent.parent


def synthetic_bundle(path: Path, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    sizes = [64, 24, 10]
    layers = []
    for i, (ci, co) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        w = rng.integers(-127, 128, size=(ci, co))
        b = rng.integers(-3000, 3000, size=co)
        s_w = np.full(co, 0.01)
        if last:
            layers.append(IntLayer(w, b, None, None, False, 8, 8, 0.01, s_w, None))
        else:
            m0, sh = quantize_multipliers(rng.uniform(2e-4, 6e-4, size=co))
            layers.append(IntLayer(w, b, m0, sh, True, 8, 8, 0.01, s_w, 0.05))
    model = IntMLP(layers, a_bits=8, w_bits=8)
    x = rng.integers(0, 128, size=(37, 64))
    y = rng.integers(0, 10, size=37)
    save_bundle(path, model, x, y)
    return path.with_suffix(".npz")


def test_macforge_sim_synthetic_bundle(tmp_path):
    bundle = synthetic_bundle(tmp_path / "net")
    out = tmp_path / "rep"
    hw = ["--mac", "bitserial", "--precision", "6", "--rows", "4", "--cols", "4", "--dataflow", "os"]
    rc = main(["sim", "--model", str(bundle), *hw, "--batch", "16", "--limit", "33", "--out", str(out),
               "--no-progress", "--no-lower-bound"])
    rep = json.loads((out / "report.json").read_text())
    assert rc == 0
    assert rep["images"] == 33 and rep["jobs"] == 3 * 2
    assert rep["mismatches"] == 0
    assert rep["accuracy"] == rep["golden_accuracy"]
    assert rep["cycles_per_inference"] == rep["cycles_model"]
    for k in ("utilization", "wall_s"):
        assert rep[k] > 0
    # the same network under random idle input cycles and random output backpressure (same build)
    rc = main(["sim", "--model", str(bundle), *hw, "--batch", "16", "--limit", "33", "--out", str(out),
               "--no-progress", "--no-lower-bound", "--idle", "0.3", "--bp", "0.3"])
    rep2 = json.loads((out / "report.json").read_text())
    assert rc == 0 and rep2["mismatches"] == 0 and rep2["cycles_per_inference"] > rep["cycles_per_inference"]


def test_macforge_sim_rejects_bad_arguments(tmp_path):
    bundle = synthetic_bundle(tmp_path / "net")
    assert main(["sim", "--model", str(bundle), "--rows", "0", "--out", str(tmp_path / "r")]) == 2
    assert main(["sim", "--model", str(bundle), "--mac", "bitserial", "--precision", "9",
                 "--out", str(tmp_path / "r")]) == 2


@pytest.fixture(scope="module")
def digits_bundle(tmp_path_factory):
    """The bundle of `make train` if it exists, else one trained here (`macforge train --quick`)."""
    bundle = REPO / "build" / "train" / "bundle_w8a8.npz"
    if not bundle.exists():
        out = tmp_path_factory.mktemp("train")
        assert main(["train", "--quick", "--out", str(out)]) == 0
        bundle = out / "bundle_w8a8.npz"
    return bundle


@pytest.mark.slow
@pytest.mark.parametrize("mac, df, p", [("parallel", "os", None), ("parallel", "ws", None),
                                        ("bitserial", "os", 4), ("bitserial", "ws", 8)])
def test_macforge_sim_digits_full_test_set(tmp_path, mac, df, p, digits_bundle):
    bundle = digits_bundle
    out = tmp_path / "rep"
    args = ["sim", "--model", str(bundle), "--mac", mac, "--rows", "8", "--cols", "8", "--dataflow", df,
            "--out", str(out), "--no-progress", "--no-lower-bound"]
    if p:
        args += ["--precision", str(p)]
    assert main(args) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["images"] == 450 and rep["mismatches"] == 0 and rep["accuracy"] == rep["golden_accuracy"]
    assert rep["cycles_per_inference"] == rep["cycles_model"]

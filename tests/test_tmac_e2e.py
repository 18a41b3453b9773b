"""``macforge sim --mac tmac`` end to end: a term-quantized MLP bundle through the RTL layer engine, every
integer of every layer equal to the golden ``tq`` trace, cycles equal to the model, term-pair figures in
the report. Default tier: a synthetic TQ bundle, a few images; slow tier: the headline TQ bundle of the
digits training (``macforge train``'s ``build/train/bundle_tq``: the trainer's headline row, whichever TQ setting
its rule selects -- ``tq-hese-g16-k12-kx3`` before the term-pair count was corrected, ``tq-hese-g8-k6-kx3`` after;
trained here, full, when absent -- never a ``--quick`` stand-in) on all 450 test images, OS and WS, reports written
to ``build/tmac_e2e/slow_<df>_8x8``."""

import json
from pathlib import Path

import numpy as np
import pytest

from macforge.gen.cli import main
from macforge.golden.bundle import save_bundle
from macforge.golden.mlp import IntLayer, IntMLP, TQConfig, mlp_forward_int
from macforge.golden.requant import quantize_multipliers

REPO = Path(__file__).resolve().parent.parent


def synthetic_tq_bundle(path: Path, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    sizes = [20, 12, 6]       # K = 20 and 12: not multiples of g = 8
    layers = []
    for i, (ci, co) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        w = rng.integers(-127, 128, size=(ci, co))
        w[0, 0], w[1, 0] = 127, -127                     # HESE carries
        b = rng.integers(-3000, 3000, size=co)
        s_w = np.full(co, 0.01)
        if last:
            layers.append(IntLayer(w, b, None, None, False, 8, 8, 0.01, s_w, None))
        else:
            m0, sh = quantize_multipliers(rng.uniform(2e-3, 6e-3, size=co))
            layers.append(IntLayer(w, b, m0, sh, True, 8, 8, 0.01, s_w, 0.05))
    model = IntMLP(layers, a_bits=8, w_bits=8, tq=TQConfig(g=8, k=6, k_x=3, encoding="hese"))
    x = rng.integers(0, 128, size=(9, 20))
    x[0, :3] = [127, 63, 126]
    y = rng.integers(0, 6, size=9)
    save_bundle(path, model, x, y)
    return path.with_suffix(".npz")


def test_macforge_sim_tmac_synthetic(tmp_path):
    bundle = synthetic_tq_bundle(tmp_path / "net")
    out = tmp_path / "rep"
    rc = main(["sim", "--model", str(bundle), "--mac", "tmac", "--rows", "2", "--cols", "2", "--dataflow", "ws",
               "--batch", "4", "--out", str(out), "--no-progress", "--no-lower-bound"])
    rep = json.loads((out / "report.json").read_text())
    assert rc == 0
    assert rep["images"] == 9 and rep["jobs"] == 3 * 2 and rep["mismatches"] == 0
    assert rep["accuracy"] == rep["golden_accuracy"]
    assert rep["cycles_per_inference"] == rep["cycles_model"]
    assert rep["tq"] == {"g": 8, "k": 6, "k_x": 3, "encoding": "hese"}
    # budgeted slots: ceil(K/g) k k_x per output; the golden trace's nonzero pairs never exceed them
    assert rep["term_pair_slots_per_inference"] == (3 * 12 + 2 * 6) * 18
    assert 0 < rep["term_pairs_per_inference"] <= rep["term_pair_slots_per_inference"]
    assert 0 < rep["term_pair_utilization"] <= rep["utilization"] <= 1


def test_macforge_sim_tmac_needs_tq_bundle(tmp_path, capsys):
    from test_engine_e2e import synthetic_bundle

    bundle = synthetic_bundle(tmp_path / "plain")
    assert main(["sim", "--model", str(bundle), "--mac", "tmac", "--out", str(tmp_path / "r")]) == 2
    assert "term-quantized model" in capsys.readouterr().err




@pytest.fixture(scope="module")
def tq_bundle():
    """The headline TQ bundle of the full training (``macforge train`` writes ``build/train/bundle_tq``);
    trained (full, not ``--quick``) when absent."""
    train_dir = REPO / "build" / "train"
    bundle = train_dir / "bundle_tq.npz"
    if not bundle.exists():
        assert main(["train", "--out", str(train_dir), "--no-progress"]) == 0
    return bundle


def check_headline_bundle(bundle: Path) -> dict:
    """The bundle is the full training run's headline TQ row (selected by the trainer's rule, not named here),
    that row passed the training acceptance (within 0.5 pt of float with >= 5x fewer term pairs), and the
    bundle's budgets are the row's. Returns the bundle's ``tq`` section (g, k, k_x, encoding)."""
    meta = json.loads(bundle.with_suffix(".json").read_text())
    train_rep = json.loads((bundle.parent / "report.json").read_text())
    name, head = meta["meta"]["name"], train_rep["headline"]["tq"]
    assert name == head["name"], (name, head["name"])
    assert meta["tq"] == {"g": head["g"], "k": head["k"], "k_x": head["k_x"], "encoding": head["encoding"]}
    assert train_rep["acceptance"]["tq_within_0.5pt_and_5x"] is True, train_rep["acceptance"]
    # a full run (450 test images, the full TQ QAT grid), never a --quick stand-in
    assert train_rep["dataset"]["n_test"] == 450 and len(train_rep["config"]["tq_qat"]) > 1
    assert not name.endswith("-qat") or name.removesuffix("-qat") in train_rep["config"]["tq_qat"]
    print(f"headline TQ bundle: {name} {meta['tq']}")
    return meta["tq"]


@pytest.mark.slow
@pytest.mark.parametrize("df", ["os", "ws"])
def test_macforge_sim_tmac_digits_full_test_set(df, tq_bundle):
    tq = check_headline_bundle(tq_bundle)
    out = REPO / "build" / "tmac_e2e" / f"slow_{df}_8x8"
    assert main(["sim", "--model", str(tq_bundle), "--mac", "tmac", "--rows", "8", "--cols", "8", "--dataflow", df,
                 "--out", str(out), "--no-progress", "--no-lower-bound"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert Path(rep["model"]).resolve() == tq_bundle.resolve() and rep["tq"] == tq
    assert rep["images"] == 450 and rep["mismatches"] == 0 and rep["accuracy"] == rep["golden_accuracy"]
    assert rep["cycles_per_inference"] == rep["cycles_model"]
    from macforge.golden.bundle import load_bundle
    b = load_bundle(tq_bundle)
    golden = mlp_forward_int(b.model, b.test_x, mode="tq")
    assert rep["golden_accuracy"] == float(np.mean(golden.predict() == b.test_y))

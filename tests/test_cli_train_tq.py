import json

import numpy as np
import pytest

from macforge.gen.cli import main
from macforge.golden.bundle import digits_test_set, load_bundle
from macforge.golden.mlp import mlp_forward_int


def test_tq_cli_lecture_example(capsys):
    assert main(["tq", "1", "12", "5", "137", "--budget", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["values"] == [1, 12, 5, 137] and out["truncated"] == [0, 12, 0, 136]
    assert sum(t["kept"] for v in out["terms"] for t in v) == 4


def test_tq_cli_hese_table(capsys):
    assert main(["tq", "64", "3", "14", "--budget", "4", "--encoding", "hese"]) == 0
    out = capsys.readouterr().out
    assert "2^7" in out and "(-)" in out
    assert main(["tq", "64", "3", "14", "--budget", "4", "--encoding", "hese", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["truncated"] == [64, 4, 14]


def test_tq_cli_bad_budget(capsys):
    assert main(["tq", "1", "--budget", "0"]) == 2
    assert "--budget" in capsys.readouterr().err


def test_train_cli_quick(tmp_path):
    out = tmp_path / "t"
    assert main(["train", "--out", str(out), "--epochs", "3", "--qat-epochs", "1", "--hidden", "32", "--quick",
                 "--distill", "0.5", "--m0-bits", "16", "--no-progress"]) == 0
    rep = json.loads((out / "report.json").read_text())
    names = {r["name"] for r in rep["rows"]}
    assert rep["config"]["qat_distill_alpha"] == 0.5 and rep["config"]["val_frac"] == 0.2
    assert rep["config"]["m0_bits"] == 16
    assert {"float", "w8a8", "w4a4-qat"} <= names
    assert rep["dataset"]["n_val"] + rep["dataset"]["n_train"] == 1347 and rep["dataset"]["n_test"] == 450
    for r in rep["rows"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and "term_pair_ops" in r
        assert 0.0 <= r["val_accuracy"] <= 1.0 and 0.0 <= r["val_agreement"] <= 1.0 and 0.0 <= r["agreement"] <= 1.0
        if r["kind"].startswith("uniform"):
            assert r["term_pair_ops"] == r["w_bits"] * r["a_bits"] * rep["macs_per_inference"]
        if r["kind"].startswith("tq"):
            assert r["term_pair_ops"] <= r["term_pair_ops_bound"]
    assert (out / "report.md").read_text().startswith("# macforge train report")
    assert (out / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    b = load_bundle(out / "bundle_w8a8")
    x, y = digits_test_set(b)
    acc = np.mean(mlp_forward_int(b.model, x).predict() == y)
    row = next(r for r in rep["rows"] if r["name"] == "w8a8")
    assert acc == pytest.approx(row["accuracy"])
    hidden = [l for l in b.model.layers if l.m0 is not None]
    assert hidden and all(l.m0.max() < 2**16 for l in hidden) and b.manifest["layers"][0]["m0_bits"] == 16


def test_train_cli_bad_option(capsys):
    assert main(["train", "--epochs", "0", "--out", "/nonexistent/x"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["train", "--val-frac", "0.7", "--out", "/nonexistent/x"]) == 2
    assert "--val-frac=0.7 is out of range: allowed (0, 0.5]" in capsys.readouterr().err
    assert main(["train", "--m0-bits", "32", "--out", "/nonexistent/x"]) == 2
    assert "--m0-bits=32 is out of range: allowed [2, 31]" in capsys.readouterr().err
    assert main(["train", "--distill", "2", "--out", "/nonexistent/x"]) == 2
    assert "--distill=2.0 is out of range: allowed [0, 1]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert main(["train", "--out", str(out), "--no-progress"]) == 0
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_train_cli_accuracy_acceptance(full_report):
    acc = full_report["acceptance"]
    assert acc["float_ge_97.5"] and acc["int8_within_0.3pt"] and acc["int4_qat_within_1.0pt"], acc


@pytest.mark.slow
def test_train_cli_tq_acceptance(full_report):
    h = full_report["headline"]
    assert full_report["acceptance"]["tq_within_0.5pt_and_5x"], h
    # recompute the acceptance from the rows: the headline TQ row is within 0.5 pt of float on test and
    # at least 5x cheaper than the selected uniform row, which is the cheapest at least as accurate on validation
    rows = {r["name"]: r for r in full_report["rows"]}
    tq, uni = rows[h["tq"]["name"]], rows[h["uniform"]["name"]]
    assert full_report["float_accuracy"] - tq["accuracy"] <= 0.005 and uni["term_pair_ops"] >= 5 * tq["term_pair_ops"]
    assert tq["val_agreement"] == 1.0 and h["selected_on"] == "validation"
    n_val = full_report["dataset"]["n_val"]
    cheaper = [r for r in rows.values()
               if r["kind"].startswith("uniform") and r["term_pair_ops"] < uni["term_pair_ops"]]
    assert all(r["val_accuracy"] < tq["val_accuracy"] - 0.5 / n_val for r in cheaper)


def test_headline_selection_uses_validation_only():
    from macforge.golden.train.report import _headline

    def tq(name, ops, vagree, vacc, acc):
        return {"name": name, "kind": "tq-qat", "term_pair_ops": ops, "val_term_pair_ops": ops,
                "term_pair_ops_bound": 2 * ops, "nonzero_term_pairs": ops, "val_agreement": vagree,
                "val_accuracy": vacc, "accuracy": acc}

    def uni(name, ops, vacc, acc):
        return {"name": name, "kind": "uniform-qat", "term_pair_ops": ops, "nonzero_term_pairs": ops / 10,
                "val_accuracy": vacc, "accuracy": acc}

    rows = [{"name": "float", "kind": "float", "val_accuracy": 0.97, "val_agreement": 1.0, "accuracy": 0.98},
            tq("cheap-flips", 100, 1 - 1 / 200, 0.975, 0.99),     # one validation flip: rejected at max_flips=0
            tq("exact", 200, 1.0, 0.97, 0.90),                    # test accuracy is never looked at
            tq("exact-dear", 300, 1.0, 0.97, 0.99),
            uni("u-cheap", 1000, 0.96, 0.99), uni("u-ok", 2000, 0.97, 0.50), uni("u-dear", 4000, 0.99, 0.99)]
    h = _headline(rows, 200)
    assert h["tq"]["name"] == "exact" and h["uniform"]["name"] == "u-ok" and h["ratio"] == 10.0
    assert _headline(rows, 200, max_flips=1)["tq"]["name"] == "cheap-flips"
    assert _headline([rows[0], tq("bad", 1, 0.9, 0.9, 0.9)], 200) == {}

import json

import numpy as np
import pytest

from macforge.golden.bundle import (BundleFormatError, BundleHashError, BundleKeyError, BundleShapeError, BundleValueError,
                           digits_test_set, load_bundle, save_bundle)
from macforge.golden.mlp import TQConfig, mlp_forward_int
from helpers import random_int_mlp


@pytest.fixture
def saved(tmp_path, rng):
    model = random_int_mlp(rng, tq=TQConfig(4, 4, 2, "hese"))
    X = rng.integers(0, 128, (6, 12))
    y = rng.integers(0, 5, 6)
    npz, js = save_bundle(tmp_path / "b", model, X, y, {"dataset": "test"})
    return model, X, y, npz, js


def test_round_trip(saved):
    model, X, y, npz, js = saved
    b = load_bundle(js)
    tx, ty = digits_test_set(b)
    assert np.array_equal(tx, X) and np.array_equal(ty, y)
    assert b.model.tq == model.tq
    for mode in ("uniform", "tq"):
        assert np.array_equal(mlp_forward_int(b.model, tx, mode).logits, mlp_forward_int(model, X, mode).logits)
    assert b.manifest["logits"] == "raw_int32_acc"


def _rewrite_npz(npz, fn):
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    fn(arrays)
    np.savez(npz, **arrays)


def _rewrite_json(js, fn):
    m = json.loads(js.read_text())
    fn(m)
    js.write_text(json.dumps(m))


def test_truncated_npz(saved):
    *_, npz, js = saved
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleFormatError, match="truncated"):
        load_bundle(js)


def test_truncated_json(saved):
    *_, npz, js = saved
    js.write_text(js.read_text()[:100])
    with pytest.raises(BundleFormatError, match="JSON"):
        load_bundle(js)


def test_missing_array(saved):
    *_, npz, js = saved
    _rewrite_npz(npz, lambda a: a.pop("layer0.m0"))
    with pytest.raises(BundleKeyError, match="layer0.m0"):
        load_bundle(js)


def test_missing_manifest_key(saved):
    *_, npz, js = saved
    _rewrite_json(js, lambda m: m.pop("a_bits"))
    with pytest.raises(BundleKeyError, match="a_bits"):
        load_bundle(js)


def test_wrong_shape(saved):
    *_, npz, js = saved
    _rewrite_npz(npz, lambda a: a.__setitem__("layer1.w", a["layer1.w"][:, :3]))
    with pytest.raises(BundleShapeError, match=r"layer1.w.*\(8, 5\)"):
        load_bundle(js)


def test_wrong_dtype(saved):
    *_, npz, js = saved
    _rewrite_npz(npz, lambda a: a.__setitem__("layer0.bias", a["layer0.bias"].astype(float)))
    with pytest.raises(BundleShapeError, match="layer0.bias.*integer"):
        load_bundle(js)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_scale(saved, value):
    *_, npz, js = saved
    _rewrite_json(js, lambda m: m["layers"][0].__setitem__("s_out", value))
    with pytest.raises(BundleValueError, match=r"layers\[0\]\.s_out"):
        load_bundle(js)


def test_out_of_range_weight(saved):
    *_, npz, js = saved
    def bump(a):
        a["layer0.w"][0, 0] = 200
    _rewrite_npz(npz, bump)
    with pytest.raises(BundleValueError, match=r"layer0.w.*\[-127, 127\]"):
        load_bundle(js)


def test_hash_mismatch(saved):
    *_, npz, js = saved
    def flip(a):
        a["layer0.w"][0, 0] = -a["layer0.w"][0, 0] or 1
    _rewrite_npz(npz, flip)
    with pytest.raises(BundleHashError, match="content_sha256"):
        load_bundle(js)
    # editing a manifest scale is caught by the hash as well
    *_, npz2, js2 = saved


def test_manifest_edit_caught_by_hash(saved):
    *_, npz, js = saved
    _rewrite_json(js, lambda m: m["layers"][0].__setitem__("s_out", 0.1))
    with pytest.raises(BundleHashError):
        load_bundle(js)


def test_missing_files(tmp_path):
    with pytest.raises(BundleFormatError, match="not found"):
        load_bundle(tmp_path / "nope")


def test_errors_are_value_errors():
    assert issubclass(BundleHashError, ValueError) and issubclass(BundleKeyError, ValueError)


def test_dotted_stem_keeps_its_name(tmp_path, rng):
    model = random_int_mlp(rng)
    X = rng.integers(0, 128, (3, 12))
    npz, js = save_bundle(tmp_path / "model.v2", model, X, np.zeros(3, int), {"dataset": "test"})
    assert npz.name == "model.v2.npz" and js.name == "model.v2.json"
    assert load_bundle(npz).model.layers[0].w.tolist() == model.layers[0].w.tolist()


@pytest.mark.parametrize("edit, error, match", [
    (lambda m: m.__setitem__("layers", [1, 2]), BundleFormatError, r"layers\[0\] must be a JSON object"),
    (lambda m: m.__setitem__("layers", {"0": {}}), BundleFormatError, "'layers' must be a non-empty list"),
    (lambda m: m.__setitem__("tq", [4, 4, 2]), BundleFormatError, "tq must be a JSON object"),
    (lambda m: m["tq"].__setitem__("g", "4"), BundleValueError, "manifest tq"),
    (lambda m: m["layers"][0].__setitem__("relu", "yes"), BundleValueError, r"layers\[0\].relu must be true or false"),
    (lambda m: m["layers"][0].__setitem__("s_w", 3.0), BundleShapeError, r"layers\[0\].s_w must be a list"),
    (lambda m: m["layers"][0].__setitem__("c_in", 12.0), BundleValueError, r"layers\[0\].c_in must be an integer"),
    (lambda m: m.__setitem__("a_bits", "8"), BundleValueError, r"a_bits must be an integer in \[2, 16\]"),
    (lambda m: m.__setitem__("meta", [1]), BundleFormatError, "'meta' must be a JSON object"),
    (lambda m: m.__setitem__("input_clip", None), BundleValueError, "input_clip must be a finite number"),
], ids=["layer-not-object", "layers-not-list", "tq-not-object", "tq-g-string", "relu-string", "s_w-scalar",
        "c_in-float", "a_bits-string", "meta-list", "input_clip-null"])
def test_wrong_json_types_are_clear_errors(saved, edit, error, match):
    """A manifest with the right keys but wrong JSON types is rejected with a BundleError naming the field."""
    *_, npz, js = saved
    _rewrite_json(js, edit)
    with pytest.raises(error, match=match):
        load_bundle(js)

"""Model bundle: the integer MLP plus the exact test set the hardware streams, saved and validated.

A bundle is two files with a common stem:

* ``STEM.npz``  integer tensors (all int64): ``layer{i}.w`` ``(C_in, C_out)``, ``layer{i}.bias`` ``(C_out,)``,
  for requantized layers ``layer{i}.m0`` and ``layer{i}.shift`` ``(C_out,)``; ``test.x`` ``(N, C_in0)`` (the
  quantized network inputs) and ``test.y`` ``(N,)`` (labels).
* ``STEM.json`` the manifest: format/version, ``a_bits``, ``w_bits``, input quantization
  (``input_clip``, ``pixel_max``, ``input_scale``), per layer ``c_in``, ``c_out``, ``relu``, ``requant``,
  ``s_in``, ``s_w`` (list), ``s_out``, ``m0_bits``; ``tq`` (``g``, ``k``, ``k_x``, ``encoding`` or null),
  ``logits`` convention, ``dataset`` (split description), ``meta`` and ``content_sha256``.

Column-combining bundles (:mod:`macforge.golden.colcomb`) add, per layer, ``layer{i}.lines`` ``(G, alpha)``
(the lines of each packed group, ``-1`` = empty lane) and ``layer{i}.sel`` ``(G, C_out)`` (the select
index of each packed weight), and a manifest entry ``packing`` = ``{"alpha", "gamma", "sparsity",
"layers": [{"groups": G}, ...]}``; ``layer{i}.w`` stays the dense matrix of surviving weights and the packed
weights are ``w[lines[g, sel[g, n]], n]``. The loader checks the select indices (in ``[0, alpha)``, never an
empty lane), the line indices and that every nonzero weight is the one its group selects, and returns the
:class:`~macforge.golden.colcomb.PackedMatrix` of every layer in ``Bundle.packing``.

``content_sha256`` is the SHA-256 over the canonical manifest JSON (sorted keys, without the hash itself)
followed by the arrays in sorted key order, each contributing
``key \\0 dtype \\0 shape \\0 little-endian int64 bytes``. :func:`load_bundle` rejects, with a
:class:`BundleError` (a ``ValueError``) naming the key and what was expected: unreadable/truncated files,
missing keys, wrong shapes or dtypes, out-of-range integers, non-finite or non-positive scales, and hash
mismatches.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from macforge.golden.mlp import IntLayer, IntMLP, TQConfig
from macforge.golden.quant import qrange
from macforge.golden.requant import INT32_MAX, INT32_MIN, MAX_SHIFT

FORMAT = "macforge-int-mlp"
VERSION = 1
LOGITS = "raw_int32_acc"


class BundleError(ValueError):
    """Base class of every bundle validation error."""


class BundleFormatError(BundleError):
    """A bundle file is missing, truncated or not in the expected format."""


class BundleKeyError(BundleError):
    """A required array or manifest key is missing."""


class BundleShapeError(BundleError):
    """An array has the wrong shape or dtype."""


class BundleValueError(BundleError):
    """A value is non-finite or outside its allowed range."""


class BundleHashError(BundleError):
    """The arrays do not match the manifest's content hash."""


@dataclass
class Bundle:
    model: IntMLP
    test_x: np.ndarray
    test_y: np.ndarray
    manifest: dict
    packing: list | None = None     # PackedMatrix per layer (column combining), else None


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    # append, not with_suffix: "model.v2" must become "model.v2.npz", not "model.npz"
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def content_hash(arrays: dict[str, np.ndarray], manifest: dict | None = None) -> str:
    """SHA-256 over the arrays and the manifest (without its ``content_sha256`` entry)."""
    h = hashlib.sha256()
    if manifest is not None:
        m = {k: v for k, v in manifest.items() if k != "content_sha256"}
        h.update(json.dumps(m, sort_keys=True, allow_nan=False).encode() + b"\0")
    for key in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[key]).astype("<i8"))
        h.update(f"{key}\0int64\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_bundle(path: str | Path, model: IntMLP, test_x, test_y, dataset: dict | None = None,
                packing: list | None = None, packing_info: dict | None = None) -> tuple[Path, Path]:
    """Write ``STEM.npz`` and ``STEM.json``; returns both paths. ``packing``: one
    :class:`~macforge.golden.colcomb.PackedMatrix` per layer (column combining; its ``dense()`` must equal the
    layer's ``w``), ``packing_info`` extra manifest fields (e.g. ``gamma``, ``sparsity``)."""
    npz_path, json_path = _paths(path)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, l in enumerate(model.layers):
        l.validate()
        arrays[f"layer{i}.w"] = np.asarray(l.w, dtype=np.int64)
        arrays[f"layer{i}.bias"] = np.asarray(l.bias, dtype=np.int64)
        if l.requant:
            arrays[f"layer{i}.m0"] = np.asarray(l.m0, dtype=np.int64)
            arrays[f"layer{i}.shift"] = np.asarray(l.shift, dtype=np.int64)
        layers.append({
            "c_in": int(l.w.shape[0]), "c_out": int(l.w.shape[1]), "relu": bool(l.relu), "requant": l.requant,
            "w_bits": int(l.w_bits), "a_bits": int(l.a_bits), "s_in": float(l.s_in),
            "s_w": [float(v) for v in np.asarray(l.s_w).ravel()],
            "s_out": None if l.s_out is None else float(l.s_out), "m0_bits": int(l.m0_bits),
        })
    arrays["test.x"] = np.asarray(test_x, dtype=np.int64)
    arrays["test.y"] = np.asarray(test_y, dtype=np.int64)
    manifest = {
        "format": FORMAT, "version": VERSION, "a_bits": int(model.a_bits), "w_bits": int(model.w_bits),
        "input_clip": float(model.input_clip), "pixel_max": float(model.pixel_max),
        "input_scale": float(model.input_scale), "logits": LOGITS, "layers": layers,
        "tq": None if model.tq is None else {"g": model.tq.g, "k": model.tq.k, "k_x": model.tq.k_x,
                                             "encoding": model.tq.encoding},
        "dataset": dict(dataset or {}), "meta": dict(model.meta),
    }
    if packing is not None:
        if len(packing) != len(model.layers):
            raise ValueError(f"packing has {len(packing)} entries: need one per layer ({len(model.layers)})")
        alpha = max(pm.alpha for pm in packing)
        for i, (l, pm) in enumerate(zip(model.layers, packing)):
            pm = pm.with_alpha(alpha)
            pm.validate(alpha, int(l.w_bits), what=f"layer{i} packing")
            if pm.dense().shape != np.shape(l.w) or not (pm.dense() == np.asarray(l.w)).all():
                raise ValueError(f"layer{i} packing: its surviving weights differ from layer{i}.w")
            arrays[f"layer{i}.lines"] = np.asarray(pm.lines, dtype=np.int64)
            arrays[f"layer{i}.sel"] = np.asarray(pm.sel, dtype=np.int64)
        manifest["packing"] = {**dict(packing_info or {}), "alpha": int(alpha),
                               "layers": [{"groups": int(pm.groups)} for pm in packing]}
    manifest["content_sha256"] = content_hash(arrays, manifest)
    np.savez(npz_path, **arrays)
    json_path.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    return npz_path, json_path


def _nonfinite(obj, where: str = "manifest"):
    """Path of the first non-finite float in a JSON structure, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return where
    if isinstance(obj, dict):
        for k, v in obj.items():
            r = _nonfinite(v, f"{where}.{k}")
            if r:
                return r
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            r = _nonfinite(v, f"{where}[{i}]")
            if r:
                return r
    return None


def _require(d: dict, key: str, where: str):
    if not isinstance(d, dict):
        raise BundleFormatError(f"{where} must be a JSON object, got {type(d).__name__} {d!r:.40}")
    if key not in d:
        raise BundleKeyError(f"{where}: missing key {key!r}")
    return d[key]


def _pos_scale(v, where: str) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise BundleValueError(f"{where} must be a finite number > 0, got {v!r}")
    return float(v)


def _int_param(v, where: str, lo: int, hi: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise BundleValueError(f"{where} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def load_bundle(path: str | Path) -> Bundle:
    """Load and validate a bundle written by :func:`save_bundle` (``path``: the stem, ``.npz`` or ``.json``)."""
    npz_path, json_path = _paths(path)
    try:
        manifest = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise BundleFormatError(f"{json_path}: manifest file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleFormatError(f"{json_path}: manifest is not valid JSON (truncated?): {exc}") from None
    if not isinstance(manifest, dict):
        raise BundleFormatError(f"{json_path}: manifest must be a JSON object")
    bad = _nonfinite(manifest)
    if bad:
        raise BundleValueError(f"{bad} is not finite; every number in the manifest must be finite")
    where = json_path.name
    if _require(manifest, "format", where) != FORMAT:
        raise BundleFormatError(f"{where}: format must be {FORMAT!r}, got {manifest['format']!r}")
    if _require(manifest, "version", where) != VERSION:
        raise BundleFormatError(f"{where}: version must be {VERSION}, got {manifest['version']!r}")
    a_bits = _int_param(_require(manifest, "a_bits", where), "a_bits", 2, 16)
    w_bits = _int_param(_require(manifest, "w_bits", where), "w_bits", 2, 16)
    input_clip = _pos_scale(_require(manifest, "input_clip", where), "input_clip")
    pixel_max = _pos_scale(_require(manifest, "pixel_max", where), "pixel_max")
    mlayers = _require(manifest, "layers", where)
    expected_hash = _require(manifest, "content_sha256", where)
    if not isinstance(mlayers, list) or not mlayers:
        raise BundleFormatError(f"{where}: 'layers' must be a non-empty list")
    tq = None
    if manifest.get("tq") is not None:
        t = manifest["tq"]
        try:
            tq = TQConfig(_require(t, "g", "tq"), _require(t, "k", "tq"), _require(t, "k_x", "tq"),
                          _require(t, "encoding", "tq"))
        except BundleError:
            raise
        except (ValueError, TypeError) as exc:
            raise BundleValueError(f"manifest tq: {exc}") from None

    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise BundleFormatError(f"{npz_path}: array file not found") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise BundleFormatError(f"{npz_path}: unreadable .npz (truncated or corrupt): {exc}") from None

    def arr(key: str, shape: tuple) -> np.ndarray:
        if key not in arrays:
            raise BundleKeyError(f"{npz_path.name}: missing array {key!r}")
        a = arrays[key]
        if a.dtype.kind not in "iu":
            raise BundleShapeError(f"array {key!r} must have an integer dtype, got {a.dtype}")
        if a.shape != shape:
            raise BundleShapeError(f"array {key!r} must have shape {shape}, got {a.shape}")
        return a.astype(np.int64)

    def in_range(a: np.ndarray, key: str, lo: int, hi: int) -> None:
        if a.size and (a.min() < lo or a.max() > hi):
            raise BundleValueError(f"array {key!r} must lie in [{lo}, {hi}], got [{a.min()}, {a.max()}]")

    layers = []
    c_prev = None
    for i, ml in enumerate(mlayers):
        lw = f"layers[{i}]"
        c_in = _int_param(_require(ml, "c_in", lw), f"{lw}.c_in", 1, 1 << 20)
        c_out = _int_param(_require(ml, "c_out", lw), f"{lw}.c_out", 1, 1 << 20)
        if c_prev is not None and c_in != c_prev:
            raise BundleShapeError(f"{lw}.c_in must equal the previous layer's c_out = {c_prev}, got {c_in}")
        c_prev = c_out
        relu, requant = _require(ml, "relu", lw), _require(ml, "requant", lw)
        for name, v in (("relu", relu), ("requant", requant)):
            if not isinstance(v, bool):
                raise BundleValueError(f"{lw}.{name} must be true or false, got {v!r}")
        last = i == len(mlayers) - 1
        if requant == last:
            raise BundleValueError(f"{lw}.requant must be {not last} (hidden layers requantize, the final "
                                   f"layer emits {LOGITS})")
        s_in = _pos_scale(_require(ml, "s_in", lw), f"{lw}.s_in")
        s_w = _require(ml, "s_w", lw)
        if not isinstance(s_w, list) or len(s_w) != c_out:
            raise BundleShapeError(f"{lw}.s_w must be a list of length c_out = {c_out}")
        s_w = np.array([_pos_scale(v, f"{lw}.s_w[{j}]") for j, v in enumerate(s_w)])
        s_out = _pos_scale(_require(ml, "s_out", lw), f"{lw}.s_out") if requant else None
        m0_bits = _int_param(ml.get("m0_bits", 31), f"{lw}.m0_bits", 2, 31)
        w = arr(f"layer{i}.w", (c_in, c_out))
        in_range(w, f"layer{i}.w", *qrange(w_bits))
        b = arr(f"layer{i}.bias", (c_out,))
        in_range(b, f"layer{i}.bias", INT32_MIN, INT32_MAX)
        m0 = shift = None
        if requant:
            m0 = arr(f"layer{i}.m0", (c_out,))
            in_range(m0, f"layer{i}.m0", 0, (1 << m0_bits) - 1)
            shift = arr(f"layer{i}.shift", (c_out,))
            in_range(shift, f"layer{i}.shift", 1, MAX_SHIFT)
        layers.append(IntLayer(w, b, m0, shift, relu, w_bits, a_bits, s_in, s_w, s_out, m0_bits))
    tx = arrays.get("test.x")
    if tx is None:
        raise BundleKeyError(f"{npz_path.name}: missing array 'test.x'")
    test_x = arr("test.x", (tx.shape[0] if tx.ndim == 2 else -1, mlayers[0]["c_in"]))
    test_y = arr("test.y", (test_x.shape[0],))
    in_range(test_x, "test.x", -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1)
    in_range(test_y, "test.y", 0, mlayers[-1]["c_out"] - 1)
    meta = manifest.get("meta", {})
    if not isinstance(meta, dict):
        raise BundleFormatError(f"{where}: 'meta' must be a JSON object, got {type(meta).__name__}")
    packing = _load_packing(manifest, arr, layers, where) if manifest.get("packing") is not None else None
    got = content_hash(arrays, manifest)
    if got != expected_hash:
        raise BundleHashError(f"content_sha256 mismatch: manifest says {expected_hash}, arrays hash to {got}")
    model = IntMLP(layers, a_bits=a_bits, w_bits=w_bits, input_clip=input_clip, pixel_max=pixel_max, tq=tq,
                   meta=dict(meta))
    return Bundle(model, test_x, test_y, manifest, packing)


def _load_packing(manifest: dict, arr, layers: list, where: str) -> list:
    """Validate the ``packing`` manifest entry and the ``lines``/``sel`` arrays (see the module docstring)."""
    from macforge.golden.colcomb import PackedMatrix
    from macforge.golden.config import ALPHA_RANGE
    mp = manifest["packing"]
    alpha = _int_param(_require(mp, "alpha", "packing"), "packing.alpha", *ALPHA_RANGE)
    pl = _require(mp, "layers", "packing")
    if not isinstance(pl, list) or len(pl) != len(layers):
        raise BundleFormatError(f"{where}: packing.layers must be a list with one entry per layer ({len(layers)})")
    out = []
    for i, (ml, l) in enumerate(zip(pl, layers)):
        K, N = l.w.shape
        G = _int_param(_require(ml, "groups", f"packing.layers[{i}]"), f"packing.layers[{i}].groups", 1, K)
        lines = arr(f"layer{i}.lines", (G, alpha))
        sel = arr(f"layer{i}.sel", (G, N))
        if sel.size and (sel.min() < 0 or sel.max() >= alpha):
            bad = sel[(sel < 0) | (sel >= alpha)][0]
            g, n = (int(v[0]) for v in np.nonzero(sel == bad))
            raise BundleValueError(f"array 'layer{i}.sel': select index {bad} (group {g}, column {n}) is out of "
                                   f"range: allowed [0, {alpha - 1}] (alpha={alpha})")
        if lines.size and (lines.min() < -1 or lines.max() >= K):
            bad = lines[(lines < -1) | (lines >= K)][0]
            raise BundleValueError(f"array 'layer{i}.lines': line index {bad} is out of range: allowed "
                                   f"[0, {K - 1}] or -1 (empty lane)")
        pw = np.where(lines[np.arange(G)[:, None], sel] >= 0,
                      l.w[np.maximum(lines[np.arange(G)[:, None], sel], 0), np.arange(N)[None, :]], 0)
        pm = PackedMatrix(K, lines, pw, sel)
        try:
            pm.validate(alpha, what=f"layer{i} packing")
        except ValueError as exc:
            raise BundleValueError(str(exc)) from None
        if not (pm.dense() == l.w).all():
            k, n = (int(v[0]) for v in np.nonzero(pm.dense() != l.w))
            raise BundleValueError(f"array 'layer{i}.w': weight ({k}, {n}) = {l.w[k, n]} is not the one its "
                                   f"group selects (packing allows at most one nonzero per group and column)")
        out.append(pm)
    return out


def digits_test_set(bundle: Bundle | str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(X_int, y)``: the exact integer test inputs (``(N, 64)``, signed a_bits) and labels to stream."""
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    return b.test_x.copy(), b.test_y.copy()

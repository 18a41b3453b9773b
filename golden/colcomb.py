"""Column combining (Kung, McDanel, Zhang, ASPLOS 2019): prune, group, pack a sparse weight matrix.

macforge's weight matrix is ``W`` of shape ``(K, N)``; a *line* is one row ``W[k, :]`` (one array row of
the weight-stationary array), a *position* is one output column ``n`` (one PE column). Column combining
packs several sparse lines into one array line:

1. **Pruning** (:func:`prune_magnitude`): zero the ``round(sparsity * K * N)`` weights of smallest
   magnitude (ties: the lower flat index ``k * N + n`` is pruned first), ``0 <= sparsity < 1``.
2. **Grouping** (:func:`group_lines`), a best-fit-decreasing greedy in the spirit of the paper (the
   authors' code merges pairs of groups agglomeratively instead): lines with at
   least one nonzero are visited by decreasing nonzero count (ties: lower ``k`` first); a line joins the
   existing group that it has the fewest *conflicts* with, among the groups that stay within both limits,
   otherwise it opens a new group (ties between groups: the earlier group). Limits, for every group ``G``:

   * ``|G| <= alpha`` (lines per group);
   * ``conflicts(G) <= gamma * N`` where ``conflicts(G) = sum_n max(0, nnz_G(n) - 1)`` and ``nnz_G(n)`` is
     the number of lines of ``G`` with a nonzero in position ``n``: the weights conflict pruning will remove
     (``gamma`` is the paper's average number of conflicts allowed per position; ``gamma = 0``: no weight
     is ever removed by packing).

   All-zero lines join no group (their activations are never needed); an all-zero matrix packs into one
   group holding line 0.
3. **Conflict pruning** (:func:`pack`): in every position of a group only the weight of largest magnitude
   survives (ties: the line earlier in the group); the others become zero.
4. **Packed format** (:class:`PackedMatrix`), exactly what the hardware reads: ``lines`` ``(G, alpha)``
   (the group's lines in increasing ``k``, padded with ``-1``), ``w`` ``(G, N)`` the surviving weight of
   each position (0 if none) and ``sel`` ``(G, N)`` in ``[0, alpha)`` the lane (index into ``lines[g]``)
   the weight belongs to (0 where ``w`` is 0). The activation side is ``Xp[m, g, l] = X[m, lines[g, l]]``
   (0 for padding lanes), so

       Y[m, n] = sum_g w[g, n] * Xp[m, g, sel[g, n]] = (X @ dense())[m, n]

   where ``dense()`` scatters every surviving weight back to ``(lines[g, sel[g, n]], n)``
   (:func:`packed_gemm` evaluates the left side, the multiplexer form).

Timing. A packed layer is a plain WS GEMM of reduction length ``G`` (one array row per group, the
``alpha`` activations of a group travel together along that row): :func:`packed_gemm_cycles` is
:func:`macforge.golden.cycles.gemm_cycles` with ``K = G``, and the engine's :func:`engine_job_cycles` is
:func:`macforge.golden.engine_cycles.job_cycles` with ``K = G`` on the packed engine's word widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ALPHA_RANGE, ArrayConfig


def _check_alpha(alpha, hi: int = ALPHA_RANGE[1]) -> int:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, np.integer)) or not 1 <= alpha <= hi:
        raise ValueError(f"alpha={alpha!r} is out of range: allowed integers [1, {hi}]")
    return int(alpha)


def _check_gamma(gamma) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)) \
            or not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma={gamma!r} is out of range: allowed a finite number >= 0")
    return float(gamma)


def _check_sparsity(sparsity) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.integer, np.floating)) \
            or not 0 <= sparsity < 1:
        raise ValueError(f"sparsity={sparsity!r} is out of range: allowed [0, 1)")
    return float(sparsity)


def prune_magnitude(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Copy of ``w`` with its ``round(sparsity * w.size)`` smallest-magnitude entries set to 0 (ties:
    lower flat index first; entries already 0 count as pruned first, being the smallest)."""
    sparsity = _check_sparsity(sparsity)
    w = np.array(w, copy=True)
    n = int(round(sparsity * w.size))
    if n:
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        w.ravel()[order[:n]] = 0
    return w


def conflicts(nz: np.ndarray, group) -> int:
    """``sum_n max(0, nnz_G(n) - 1)`` for the lines ``group`` of the 0/1 matrix ``nz`` ``(K, N)``."""
    if len(group) == 0:
        return 0
    c = nz[list(group)].sum(axis=0)
    return int(np.maximum(c - 1, 0).sum())


def group_lines(w: np.ndarray, alpha: int, gamma: float) -> list[list[int]]:
    """The best-fit-decreasing greedy grouping of the module docstring (not the authors' agglomerative
    pair merging): a list of groups, each a list of line indices in increasing order; every group has at
    most ``alpha`` lines and at most ``gamma * N`` conflicts."""
    alpha, gamma = _check_alpha(alpha), _check_gamma(gamma)
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"W must be 2-D (K, N), got shape {w.shape}")
    K, N = w.shape
    nz = (w != 0).astype(np.int64)
    cnt = nz.sum(axis=1)
    budget = gamma * N
    groups: list[list[int]] = []
    colsum: list[np.ndarray] = []       # nnz_G(n) per group
    confl: list[int] = []
    for k in sorted((k for k in range(K) if cnt[k]), key=lambda k: (-cnt[k], k)):
        best, best_c = -1, None
        for gi, g in enumerate(groups):
            if len(g) >= alpha:
                continue
            # conflicts added by line k: positions where the group already has a nonzero
            c = confl[gi] + int((nz[k] & (colsum[gi] > 0)).sum())
            if c <= budget and (best_c is None or c - confl[gi] < best_c):
                best, best_c = gi, c - confl[gi]
        if best < 0:
            groups.append([k])
            colsum.append(nz[k].copy())
            confl.append(0)
        else:
            groups[best].append(k)
            confl[best] += best_c
            colsum[best] += nz[k]
    if not groups:
        groups = [[0]] if K else []
    return [sorted(g) for g in groups]


@dataclass(frozen=True)
class PackedMatrix:
    """A packed ``(K, N)`` weight matrix (see the module docstring): ``lines`` ``(G, alpha)`` int
    (``-1`` padding), ``w`` ``(G, N)`` int or float surviving weights, ``sel`` ``(G, N)`` lane indices."""

    k: int
    lines: np.ndarray
    w: np.ndarray
    sel: np.ndarray

    @property
    def groups(self) -> int:
        return self.lines.shape[0]

    @property
    def alpha(self) -> int:
        """Lanes per packed line (the build's ``alpha`` the format is laid out for)."""
        return self.lines.shape[1]

    @property
    def n(self) -> int:
        return self.w.shape[1]

    def validate(self, alpha_max: int | None = None, w_width: int | None = None, what: str = "packing") -> None:
        """Raise ``ValueError`` naming the field, the offending value and the allowed range."""
        lines, w, sel = np.asarray(self.lines), np.asarray(self.w), np.asarray(self.sel)
        if lines.ndim != 2 or w.ndim != 2 or sel.shape != w.shape or lines.shape[0] != w.shape[0]:
            raise ValueError(f"{what}: shapes lines {lines.shape}, w {w.shape}, sel {sel.shape} are "
                             f"inconsistent: need lines (G, alpha), w and sel (G, N)")
        G, A = lines.shape
        if G < 1:
            raise ValueError(f"{what}: G={G} packed lines: allowed >= 1")
        if alpha_max is not None and not 1 <= A <= alpha_max:
            raise ValueError(f"{what}: alpha={A} is out of range: allowed [1, {alpha_max}]")
        if lines.dtype.kind not in "iu" or sel.dtype.kind not in "iu":
            raise ValueError(f"{what}: lines and sel must be integer arrays, got {lines.dtype}, {sel.dtype}")
        if lines.size and (lines.min() < -1 or lines.max() >= self.k):
            bad = lines[(lines < -1) | (lines >= self.k)][0]
            raise ValueError(f"{what}: line index {bad} is out of range: allowed [0, {self.k - 1}] "
                             f"(-1 = empty lane)")
        used = lines[lines >= 0]
        if len(np.unique(used)) != len(used):
            raise ValueError(f"{what}: a line appears in more than one lane (lines must be distinct)")
        if (lines[:, 0] < 0).any():
            raise ValueError(f"{what}: lane 0 of group {int(np.argmax(lines[:, 0] < 0))} is empty: "
                             f"every group holds at least one line in lane 0")
        if sel.size and (sel.min() < 0 or sel.max() >= A):
            bad = sel[(sel < 0) | (sel >= A)][0]
            raise ValueError(f"{what}: select index {bad} is out of range: allowed [0, {A - 1}] (alpha={A})")
        g_i, n_i = np.nonzero(w)
        if len(g_i) and (lines[g_i, sel[g_i, n_i]] < 0).any():
            j = int(np.argmax(lines[g_i, sel[g_i, n_i]] < 0))
            raise ValueError(f"{what}: select index {sel[g_i[j], n_i[j]]} of group {g_i[j]}, position "
                             f"{n_i[j]} points to an empty lane: allowed lanes holding a line")
        if w_width is not None and w.size:
            lo, hi = -(1 << (w_width - 1)), (1 << (w_width - 1)) - 1
            if w.dtype.kind not in "iu" or w.min() < lo or w.max() > hi:
                raise ValueError(f"{what}: packed weights span [{w.min()}, {w.max()}]: allowed integers "
                                 f"[{lo}, {hi}]")

    def dense(self) -> np.ndarray:
        """The ``(K, N)`` matrix of surviving weights (``W[lines[g, sel[g, n]], n] = w[g, n]``)."""
        out = np.zeros((self.k, self.n), dtype=np.asarray(self.w).dtype)
        g_i, n_i = np.nonzero(self.w)
        out[self.lines[g_i, self.sel[g_i, n_i]], n_i] = self.w[g_i, n_i]
        return out

    def mask(self) -> np.ndarray:
        """The packing mask ``(K, N)`` bool: True where a weight may be nonzero (it is its group's
        selected line in that position); retraining keeps every other weight at 0."""
        m = np.zeros((self.k, self.n), bool)
        g_i, n_i = np.nonzero(self.w)
        m[self.lines[g_i, self.sel[g_i, n_i]], n_i] = True
        return m

    def gather(self, x: np.ndarray) -> np.ndarray:
        """``Xp`` ``(M, G, alpha)``: ``Xp[m, g, l] = X[m, lines[g, l]]`` (0 for empty lanes): the
        activations each packed array line carries."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.k:
            raise ValueError(f"X must have shape (M, {self.k}), got {x.shape}")
        xp = x[:, np.maximum(self.lines, 0)]
        xp[:, self.lines < 0] = 0
        return xp

    def with_alpha(self, alpha: int) -> "PackedMatrix":
        """The same packing laid out for ``alpha >= self.alpha`` lanes (extra lanes empty)."""
        if alpha < self.alpha:
            raise ValueError(f"alpha={alpha} is out of range: allowed [{self.alpha}, {ALPHA_RANGE[1]}] "
                             f"(the packing combines up to {self.alpha} lines)")
        lines = np.full((self.groups, alpha), -1, np.int64)
        lines[:, :self.alpha] = self.lines
        return PackedMatrix(self.k, lines, self.w, self.sel)

    @property
    def lines_per_group(self) -> np.ndarray:
        return (self.lines >= 0).sum(axis=1)


def check_groups(w: np.ndarray, alpha: int, groups) -> list[list[int]]:
    """Validate caller-supplied line ``groups`` for the ``(K, N)`` matrix ``w`` (see :func:`pack`); return
    them as lists of ``int``. Raises ``ValueError`` naming the group, the offending value and the allowed
    range."""
    K = np.asarray(w).shape[0]
    groups = list(groups)
    if not groups:
        raise ValueError(f"groups: 0 groups given: allowed at least 1 (K={K} lines)")
    seen: dict[int, int] = {}
    out = []
    for g, ls in enumerate(groups):
        ls = list(ls)
        if not 1 <= len(ls) <= alpha:
            raise ValueError(f"groups: group {g} has {len(ls)} lines: allowed [1, {alpha}] (alpha={alpha})")
        for k in ls:
            if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 0 <= k < K:
                raise ValueError(f"groups: line {k!r} in group {g} is out of range: allowed integers "
                                 f"[0, {K - 1}] (K={K})")
            if int(k) in seen:
                where = "twice in group" if seen[int(k)] == g else f"in group {seen[int(k)]} and in group"
                raise ValueError(f"groups: line {int(k)} appears {where} {g}: allowed in at most one group")
            seen[int(k)] = g
        out.append([int(k) for k in ls])
    nz = np.flatnonzero((np.asarray(w) != 0).any(axis=1))
    missing = [int(k) for k in nz if int(k) not in seen]
    if missing:
        raise ValueError(f"groups: line(s) {missing[:8]}{' ...' if len(missing) > 8 else ''} hold nonzero "
                         f"weights but are in no group (their weights would be dropped): every nonzero line "
                         f"must be in a group")
    return out


def pack(w: np.ndarray, alpha: int, gamma: float, groups: list[list[int]] | None = None) -> PackedMatrix:
    """Group the lines of ``w`` (:func:`group_lines`, or the given ``groups``) and conflict-prune: the
    packed matrix whose :meth:`PackedMatrix.dense` is ``w`` with every conflict loser set to 0.

    Given ``groups`` are checked (:func:`check_groups`): at least one group, ``1..alpha`` lines each,
    line indices integers in ``[0, K)``, no line twice, and every line holding a nonzero weight in some
    group (a line left out would silently drop its weights)."""
    alpha = _check_alpha(alpha)
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"W must be 2-D (K, N), got shape {w.shape}")
    K, N = w.shape
    if groups is None:
        groups = group_lines(w, alpha, gamma)
    else:
        groups = check_groups(w, alpha, groups)
    G = len(groups)
    lines = np.full((G, alpha), -1, np.int64)
    for g, ls in enumerate(groups):
        lines[g, :len(ls)] = sorted(ls)
    sub = w[np.maximum(lines, 0)]                     # (G, alpha, N)
    mag = np.where((lines >= 0)[:, :, None], np.abs(sub), -1)
    sel = np.argmax(mag, axis=1)                      # first maximum = earliest lane on ties
    wp = np.take_along_axis(sub, sel[:, None, :], axis=1)[:, 0, :]
    sel = np.where(wp != 0, sel, 0).astype(np.int64)
    return PackedMatrix(K, lines, wp.copy(), sel)


def packed_gemm(x: np.ndarray, pm: PackedMatrix) -> np.ndarray:
    """Multiplexer form ``Y[m, n] = sum_g w[g, n] * Xp[m, g, sel[g, n]]`` (int64 for integer inputs):
    what the packed array computes, PE ``(g, n)`` selecting lane ``sel[g, n]`` of its row."""
    xp = pm.gather(x)                                  # (M, G, alpha)
    dt = np.int64 if np.asarray(x).dtype.kind in "iu" and np.asarray(pm.w).dtype.kind in "iu" else np.float64
    xs = np.take_along_axis(xp[:, :, :], np.broadcast_to(pm.sel[None], (xp.shape[0],) + pm.sel.shape), axis=2)
    return np.einsum("mgn,gn->mn", xs.astype(dt), np.asarray(pm.w).astype(dt))


def packing_stats(w_dense: np.ndarray, pm: PackedMatrix) -> dict:
    """Figures of one packed layer: ``K``, ``N``, ``groups``, ``line_reduction = K / G`` (array lines
    saved; counts the all-zero lines that join no group, so it can exceed ``alpha``), ``alpha_achieved``
    (lines actually combined per group, the mean group size, ``<= alpha``), ``packing_factor`` (the old
    name of ``line_reduction``, kept for existing readers), ``nonzeros`` before packing, ``kept`` after
    conflict pruning, ``sparsity`` of the surviving matrix, ``conflict_pruned``."""
    w_dense = np.asarray(w_dense)
    nnz = int((w_dense != 0).sum())
    kept = int((np.asarray(pm.w) != 0).sum())
    return {"K": pm.k, "N": pm.n, "groups": pm.groups, "line_reduction": pm.k / pm.groups,
            "alpha_achieved": float(pm.lines_per_group.mean()), "packing_factor": pm.k / pm.groups,
            "nonzeros": nnz, "kept": kept, "conflict_pruned": nnz - kept,
            "sparsity": 1 - kept / max(1, w_dense.size)}


def network_packing(packing) -> dict:
    """Figures of a packed network (a list of :class:`PackedMatrix`, one per layer): ``groups`` and
    ``lines`` (``K``) per layer, ``line_reduction = sum K / sum G`` (array lines saved, counting the
    all-zero lines that join no group, so it can exceed ``alpha``), ``alpha_achieved = sum |group| /
    sum G`` (lines actually combined per group, ``<= alpha``) and ``packing_factor`` (the old name of
    ``line_reduction``)."""
    K = sum(pm.k for pm in packing)
    G = sum(pm.groups for pm in packing)
    used = sum(int(pm.lines_per_group.sum()) for pm in packing)
    return {"groups": [pm.groups for pm in packing], "lines": [pm.k for pm in packing],
            "line_reduction": K / G, "alpha_achieved": used / G, "packing_factor": K / G}


def packed_gemm_cycles(cfg: ArrayConfig, M: int, pm: PackedMatrix, precision: int | None = None):
    """Array cycle model of ``X @ dense()`` on the packed array ``cfg``: a WS GEMM with ``K = G`` (see
    :func:`macforge.golden.cycles.gemm_cycles`); its ``macs``/``utilization`` count array slots
    (``M G N``); useful MACs are ``M * kept``."""
    from .cycles import gemm_cycles
    if cfg.alpha is None or cfg.alpha < pm.alpha:
        raise ValueError(f"alpha={pm.alpha} packing needs an array built with alpha >= {pm.alpha}, "
                         f"got alpha={cfg.alpha}")
    return gemm_cycles(cfg, M, pm.groups, pm.n, precision)


# ----- the layer engine with a packed array ----------------------------------------------------------

@dataclass
class PackedLayer:
    """One packed engine job: ``X`` ``(M, K)``, the integer :class:`PackedMatrix` of ``W`` and the
    post-processing of :class:`macforge.golden.engine.Layer` (``Y = post(X @ pm.dense() + b)``)."""

    x: np.ndarray
    pm: PackedMatrix
    bias: np.ndarray
    m0: np.ndarray | None
    shift: np.ndarray | None
    relu: bool = False
    requant: bool = True
    precision: int | None = None

    @property
    def dims(self) -> tuple[int, int, int]:
        """``(M, G, N)``: the job's dimensions as the engine sees them (reduction = packed lines)."""
        return np.asarray(self.x).shape[0], self.pm.groups, self.pm.n

    def dense_layer(self):
        from .engine import Layer
        return Layer(self.x, self.pm.dense(), self.bias, self.m0, self.shift, self.relu, self.requant,
                     self.precision)


def check_packed_engine(ecfg, alpha: int) -> None:
    """A layer packed with ``alpha`` lanes needs an engine built with ``array.alpha >= alpha``."""
    a = ecfg.array
    if a.alpha is None:
        raise ValueError(f"a packed layer (alpha={alpha}) needs an engine built with column combining "
                         f"(array alpha in [{alpha}, {ALPHA_RANGE[1]}]); this engine has alpha=None")
    if alpha > a.alpha:
        raise ValueError(f"alpha={alpha} is out of range for this engine: allowed [1, {a.alpha}] "
                         f"(the build's alpha)")


def check_packed_layer(ecfg, L: PackedLayer) -> None:
    """Every driver-side check of :func:`macforge.golden.engine.check_layer` on the equivalent dense
    layer, plus the packed format (select indices, lines, weight range) against the engine's alpha."""
    from .engine import check_dims, check_layer
    check_packed_engine(ecfg, L.pm.alpha)
    L.pm.validate(ecfg.array.alpha, ecfg.array.w_width)
    x = np.asarray(L.x)
    if x.ndim != 2 or x.shape[1] != L.pm.k:
        raise ValueError(f"X must have shape (M, {L.pm.k}), got {x.shape}")
    check_dims(ecfg, x.shape[0], L.pm.groups, L.pm.n)       # K of the job is G
    check_layer(ecfg, L.dense_layer(), packed_ok=True)


def encode_packed(ecfg, L: PackedLayer, check: bool = True) -> list[int]:
    """The ``s_axis`` beats of one packed job: the format of :mod:`macforge.golden.engine` with
    ``K = G`` (packed lines); a weight lane is ``w + sel_bits`` bits (weight in the low ``w`` bits, the
    select index above it) and an activation word is ``R * alpha`` lanes of ``a`` bits, lane
    ``r * alpha + l`` = ``Xp[m, c*R + r, l]`` (:meth:`PackedMatrix.gather`)."""
    from .engine import command_word, geometry, pack_words, PARAM_LANE_BITS
    if check:
        check_packed_layer(ecfg, L)
    a = ecfg.array
    pm = L.pm.with_alpha(a.alpha)
    R, C, wax, A = ecfg.rows, ecfg.cols, ecfg.axis_width, a.alpha
    M, G, N = np.asarray(L.x).shape[0], pm.groups, pm.n
    nt, kc, kp, blocks = geometry(ecfg, M, G, N)
    beats = [command_word(M, G, N, relu=L.relu, requant=L.requant, precision=L.precision or 0)]
    bias = np.zeros(nt * C, np.int64)
    bias[:N] = L.bias
    m0 = np.zeros(nt * C, np.int64)
    sh = np.ones(nt * C, np.int64)
    if L.requant:
        m0[:N] = L.m0
        sh[:N] = L.shift
    lane = [(int(b) & 0xFFFFFFFF) | (int(m) << 32) | (int(s) << 64) for b, m, s in zip(bias, m0, sh)]
    beats += pack_words([sum(lane[t * C + j] << (j * PARAM_LANE_BITS) for j in range(C)) for t in range(nt)],
                        ecfg.p_word, wax)
    lb = a.w_width + a.sel_bits
    wmask = (1 << a.w_width) - 1
    wl = np.zeros((kp, nt * C), np.int64)
    wl[:G, :N] = (np.asarray(pm.w, np.int64) & wmask) | (np.asarray(pm.sel, np.int64) << a.w_width)
    wwords = []
    for t in range(nt):
        for k in range(kp):
            v = 0
            for j, x in enumerate(wl[k, t * C:(t + 1) * C].tolist()):
                v |= x << (j * lb)
            wwords.append(v)
    beats += pack_words(wwords, ecfg.w_word, wax)
    xp = np.zeros((M, kc * R, A), np.int64)
    xp[:, :G] = pm.gather(np.asarray(L.x, np.int64))
    amask = (1 << a.a_width) - 1
    for m0_, mb in blocks:
        words = []
        for c in range(kc):
            for m in range(m0_, m0_ + mb):
                v = 0
                for i, x in enumerate(xp[m, c * R:(c + 1) * R].ravel().tolist()):
                    v |= (x & amask) << (i * a.a_width)
                words.append(v)
        beats += pack_words(words, ecfg.a_word, wax)
    return beats


def expected_rows_packed(ecfg, L: PackedLayer) -> np.ndarray:
    """Every ``m_axis`` beat of a good packed job (the dense job's order and values, ``W = dense()``)."""
    from .engine import expected_rows
    return expected_rows(ecfg, L.dense_layer())


def engine_job_cycles(ecfg, M: int, pm: PackedMatrix, precision: int | None = None) -> int:
    """Exact engine cycles of a packed job: :func:`macforge.golden.engine_cycles.job_cycles` with
    ``K = G`` on the packed engine (its wider words are in ``ecfg.a_word`` / ``ecfg.w_word``)."""
    from .engine_cycles import job_cycles
    check_packed_engine(ecfg, pm.alpha)
    return job_cycles(ecfg, M, pm.groups, pm.n, precision)


# ----- the bare packed array (array-level testbench) ----------------------------------------------

def packed_schedule(cfg: ArrayConfig, x: np.ndarray, pm: PackedMatrix, precision: int | None = None):
    """Beats of ``X @ pm.dense()`` on the packed WS array ``cfg`` (the order of
    :func:`macforge.golden.gemm.schedule` with ``K = G``): ``acts`` ``(beats, R * alpha)`` lanes
    ``Xp[m, c*R + r, l]`` at ``r * alpha + l``; ``weights`` ``(rows, C)`` lane values
    ``(w & (2^w_width - 1)) | sel << w_width`` (``w_width + sel_bits`` bits, the ``{w, sel}`` layout of
    :mod:`macforge.rtl.packed.pe`); ``outputs`` the golden ``gemm(X, dense(), precision)``."""
    from .gemm import Schedule, gemm, ws_tiles
    if cfg.alpha is None or cfg.alpha < pm.alpha or cfg.dataflow != "ws":
        raise ValueError(f"alpha={pm.alpha} packing needs a packed WS array with alpha >= {pm.alpha}, got "
                         f"alpha={cfg.alpha}, dataflow={cfg.dataflow!r}")
    pm = pm.with_alpha(cfg.alpha)
    pm.validate(cfg.alpha, cfg.w_width)
    x = np.asarray(x, np.int64)
    M, G, N, A = x.shape[0], pm.groups, pm.n, cfg.alpha
    R, C = cfg.rows, cfg.cols
    y = gemm(x, pm.dense().astype(np.int64), precision)
    nt_n, kc_n = -(-N // C), -(-G // R)
    xp = np.zeros((M, kc_n * R, A), np.int64)
    xp[:, :G] = pm.gather(x)
    lanes = np.zeros((kc_n * R, nt_n * C), np.int64)
    lanes[:G, :N] = (np.asarray(pm.w, np.int64) & ((1 << cfg.w_width) - 1)) | (pm.sel << cfg.w_width)
    yp = np.zeros((M, nt_n * C), np.int64)
    yp[:, :N] = y
    acts, flags, weights, outs, out_last, tiles = ws_tiles(
        cfg, M, nt_n, kc_n, lambda kc, nt: lanes[kc * R:(kc + 1) * R, nt * C:(nt + 1) * C],
        lambda m0, m1, kc: xp[m0:m1, kc * R:(kc + 1) * R].reshape(m1 - m0, R * A), yp)
    return Schedule(cfg, np.concatenate(acts), np.concatenate(flags), np.concatenate(weights),
                    np.concatenate(outs), np.concatenate(out_last), tiles)

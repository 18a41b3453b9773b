"""Losses with their gradients w.r.t. the network output.

Softmax ``s_i = e^(z_i) / sum_j e^(z_j)`` with cross-entropy ``L = -(1/B) sum_b log s_(b, y_b)``:
``dL/dz = (s - onehot(y)) / B`` (the Jacobian ``diag(s) - s s^T`` contracted with ``-onehot/s``).

Mean squared error ``L = (1/n) sum (z - t)^2`` over all n entries: ``dL/dz = 2 (z - t) / n``.

Knowledge distillation (Hinton et al. 2015) from a teacher's logits ``t`` at temperature ``T``:
``L = (1 - a) CE(z, y) + a T^2 (1/B) sum_b KL(softmax(t_b / T) || softmax(z_b / T))`` with
``dL/dz = (1 - a) (s - onehot(y)) / B + a T (softmax(z / T) - softmax(t / T)) / B``.

Weight decay (L2) ``L + lambda ||W||^2`` over the weight matrices (not the biases): ``dL/dW += 2 lambda W``.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``(L, dL/dz)`` for logits ``z: (B, C)`` and integer labels ``y: (B,)``."""
    y = np.asarray(y)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"need logits (B, C) and labels (B,), got {z.shape} and {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must be in [0, {z.shape[1] - 1}]")
    B = z.shape[0]
    zs = z - z.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(zs).sum(axis=1))
    loss = float(np.mean(logsum - zs[np.arange(B), y]))
    grad = softmax(z)
    grad[np.arange(B), y] -= 1.0
    return loss, grad / B


def distillation(z: np.ndarray, y: np.ndarray, t: np.ndarray, alpha: float, T: float) -> tuple[float, np.ndarray]:
    """``(L, dL/dz)`` of the distillation loss above for logits ``z``, labels ``y`` and teacher logits ``t``."""
    if t.shape != z.shape:
        raise ValueError(f"teacher logits {t.shape} must match student logits {z.shape}")
    if not 0.0 <= alpha <= 1.0 or not T > 0.0:
        raise ValueError(f"distillation needs alpha in [0, 1] and T > 0, got alpha={alpha}, T={T}")
    ce, dce = softmax_cross_entropy(z, y)
    B = z.shape[0]
    pt = softmax(t / T)
    zs = z / T - (z / T).max(axis=1, keepdims=True)
    log_q = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
    kl = float(np.sum(pt * (np.log(np.maximum(pt, 1e-300)) - log_q)) / B)
    dkl = T * (softmax(z / T) - pt) / B   # d(T^2 KL)/dz
    return (1 - alpha) * ce + alpha * T * T * kl, (1 - alpha) * dce + alpha * dkl


def mse(z: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """``(L, dL/dz)`` for ``L = mean((z - t)^2)``."""
    if z.shape != t.shape:
        raise ValueError(f"mse needs equal shapes, got {z.shape} and {t.shape}")
    d = z - t
    return float(np.mean(d * d)), 2.0 * d / d.size


def l2_penalty(weights: list[np.ndarray], lam: float) -> tuple[float, list[np.ndarray]]:
    """``(lambda * sum ||W||^2, [2 lambda W])``."""
    if lam < 0:
        raise ValueError(f"weight decay lambda must be >= 0, got {lam}")
    return float(lam * sum(np.sum(w * w) for w in weights)), [2.0 * lam * w for w in weights]

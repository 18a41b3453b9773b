"""Layers of the NumPy trainer, each with an explicit forward and backward pass (lecture notation).

Fully connected layer ``Y = X W + b`` with ``X: (B, C_in)``, ``W: (C_in, C_out)``, ``b: (1, C_out)``:

    dL/dX = dL/dY W^T,      dL/dW = X^T dL/dY,      dL/db = sum_batch dL/dY

ReLU ``y = max(x, 0)`` with ``dy/dx = 1 if x >= 0 else 0`` (the lecture's convention at 0).

Inverted dropout with drop rate ``p``: ``y = x * m / (1 - p)``, ``m ~ Bernoulli(1 - p)`` at training time,
identity at inference; ``dL/dx = dL/dy * m / (1 - p)``.

Kaiming initialization (for ReLU networks): ``W ~ N(0, 2 / n_in)`` keeps ``var(y_l)`` constant across layers
(``var(y_l) = 0.5 n_l var(W_l) var(y_(l-1))``); biases start at 0.

A layer exposes ``params`` and ``grads`` (dicts of arrays with the same keys), ``forward(x, train)`` and
``backward(dy) -> dx``. A ``Linear`` may carry a weight quantizer ``wq`` (see :mod:`macforge.golden.train.qat`): the
forward pass then uses ``W_q = wq.forward(W)`` and the backward pass maps ``dL/dW_q`` back through
``wq.backward`` (straight-through estimator).
"""

from __future__ import annotations

import numpy as np


class Layer:
    params: dict
    grads: dict

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class Linear(Layer):
    """``Y = X W + b`` (optionally with a fake-quantized weight ``W_q``)."""

    def __init__(self, c_in: int, c_out: int, rng: np.random.Generator):
        super().__init__()
        if c_in < 1 or c_out < 1:
            raise ValueError(f"Linear needs c_in >= 1 and c_out >= 1, got ({c_in}, {c_out})")
        self.params["W"] = rng.normal(0.0, np.sqrt(2.0 / c_in), size=(c_in, c_out))  # Kaiming
        self.params["b"] = np.zeros(c_out)
        self.wq = None  # optional weight quantizer (qat.WeightQuant)
        self._x = self._w = None

    def effective_weight(self) -> np.ndarray:
        return self.params["W"] if self.wq is None else self.wq.forward(self.params["W"])

    def forward(self, x, train=False):
        self._x = x
        self._w = self.effective_weight()
        return x @ self._w + self.params["b"]

    def backward(self, dy):
        dw = self._x.T @ dy
        self.grads["W"] = dw if self.wq is None else self.wq.backward(dw)
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self._w.T


class ReLU(Layer):
    def forward(self, x, train=False):
        self._mask = x >= 0
        return np.where(self._mask, x, 0.0)

    def backward(self, dy):
        return dy * self._mask


class Dropout(Layer):
    """Inverted dropout; the random source is the generator passed in (reproducible)."""

    def __init__(self, p: float, rng: np.random.Generator):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng
        self._mask = None

    def forward(self, x, train=False):
        if not train or self.p == 0.0:
            self._mask = None
            return x
        self._mask = (self.rng.random(x.shape) >= self.p) / (1.0 - self.p)
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, layers: list[Layer]):
        self.layers = list(layers)

    def forward(self, x, train=False):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def linears(self) -> list[Linear]:
        return [l for l in self.layers if isinstance(l, Linear)]

    def parameters(self):
        """``(layer, name)`` for every trainable array."""
        return [(l, k) for l in self.layers for k in l.params]



def build_mlp(sizes: list[int], rng: np.random.Generator, dropout: float = 0.0) -> Sequential:
    """``Linear -> ReLU [-> Dropout]`` for every hidden layer, then a final ``Linear`` (logits)."""
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {sizes}")
    layers: list[Layer] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, rng))
        if i < len(sizes) - 2:
            layers.append(ReLU())
            if dropout > 0:
                layers.append(Dropout(dropout, rng))
    return Sequential(layers)

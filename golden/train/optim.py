"""Optimizers in the lecture's form. ``grad`` is ``dL/dtheta`` (weight decay already folded in).

* SGD with momentum:  ``g_t = s g_(t-1) + (1 - s) dL/dW``,  ``W <- W - eta g_t``  (s in [0, 1); s = 0 is SGD)
* RMSProp:            ``E[g^2]_t = rho E[g^2]_(t-1) + (1 - rho) g_t^2``,
                      ``theta <- theta - eta g_t / sqrt(E[g^2]_t + eps)``  (lecture: rho = 0.9)
* Adam:               ``m_t = b1 m + (1 - b1) g``, ``v_t = b2 v + (1 - b2) g^2``,
                      ``m^ = m_t / (1 - b1^t)``, ``v^ = v_t / (1 - b2^t)``,
                      ``theta <- theta - eta m^ / (sqrt(v^) + eps)``

Each optimizer updates the arrays in place; its state is keyed by the array's slot ``(layer index, name)``.
"""

from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "rmsprop", "adam")


class Optimizer:
    def __init__(self, lr: float):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.lr = float(lr)
        self.state: dict = {}
        self.t = 0

    def step(self, slots: list[tuple[object, np.ndarray, np.ndarray]]) -> None:
        """``slots``: ``(key, param, grad)``; params are updated in place."""
        self.t += 1
        for key, p, g in slots:
            p -= self._delta(key, g)

    def _delta(self, key, g):  # pragma: no cover - interface
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum s must be in [0, 1), got {momentum}")
        self.s = momentum

    def _delta(self, key, g):
        buf = self.state.get(key)
        buf = (1.0 - self.s) * g if buf is None else self.s * buf + (1.0 - self.s) * g
        self.state[key] = buf
        return self.lr * buf


class RMSProp(Optimizer):
    def __init__(self, lr: float, rho: float = 0.9, eps: float = 1e-8):
        super().__init__(lr)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {rho}")
        self.rho, self.eps = rho, eps

    def _delta(self, key, g):
        e = self.state.get(key, np.zeros_like(g))
        e = self.rho * e + (1.0 - self.rho) * g * g
        self.state[key] = e
        return self.lr * g / np.sqrt(e + self.eps)


class Adam(Optimizer):
    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        self.b1, self.b2, self.eps = beta1, beta2, eps

    def _delta(self, key, g):
        m, v = self.state.get(key, (np.zeros_like(g), np.zeros_like(g)))
        m = self.b1 * m + (1.0 - self.b1) * g
        v = self.b2 * v + (1.0 - self.b2) * g * g
        self.state[key] = (m, v)
        m_hat = m / (1.0 - self.b1**self.t)
        v_hat = v / (1.0 - self.b2**self.t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def make_optimizer(name: str, lr: float, **kw) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    return {"sgd": SGD, "rmsprop": RMSProp, "adam": Adam}[name](lr, **kw)

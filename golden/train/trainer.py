"""Mini-batch training loop (the lecture's "DNN training process").

    initialize W (Kaiming)
    for each epoch:
        shuffle the training data
        for each batch: forward, loss + weight decay, backward, optimizer step, update the learning rate

The loss is softmax cross-entropy plus ``lambda * sum ||W||^2``. Progress is shown with tqdm. All
randomness (initialization, shuffling, dropout) comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from macforge.golden.train.layers import Linear, Sequential, build_mlp
from macforge.golden.train.losses import distillation, l2_penalty, softmax_cross_entropy
from macforge.golden.train.optim import make_optimizer
from macforge.golden.train.schedules import make_schedule


@dataclass
class TrainConfig:
    hidden: tuple[int, ...] = (128,)
    epochs: int = 60
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 2e-3
    schedule: str = "cosine"
    weight_decay: float = 1e-4
    dropout: float = 0.1
    seed: int = 0
    distill_alpha: float = 0.0   # weight of the teacher term when train() gets a teacher (losses.distillation)
    distill_T: float = 4.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class History:
    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)


def accuracy(model: Sequential, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.forward(X, train=False), axis=1) == y))


def loss_and_grads(model: Sequential, X: np.ndarray, y: np.ndarray, weight_decay: float, train: bool = True,
                   teacher_logits: np.ndarray | None = None, alpha: float = 0.0, T: float = 4.0) -> float:
    """Forward + backward; fills every layer's ``grads``; returns ``CE + lambda sum ||W||^2`` (with
    ``teacher_logits``: the distillation loss in place of ``CE``)."""
    z = model.forward(X, train=train)
    if teacher_logits is None:
        loss, dz = softmax_cross_entropy(z, y)
    else:
        loss, dz = distillation(z, y, teacher_logits, alpha, T)
    model.backward(dz)
    lins = model.linears()
    pen, dpen = l2_penalty([l.params["W"] for l in lins], weight_decay)
    for lin, d in zip(lins, dpen):
        lin.grads["W"] = lin.grads["W"] + d
    return loss + pen


def new_model(n_in: int, n_out: int, cfg: TrainConfig) -> Sequential:
    rng = np.random.default_rng(cfg.seed)
    return build_mlp([n_in, *cfg.hidden, n_out], rng, cfg.dropout)


def train(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    desc: str = "train",
    progress: bool = True,
    teacher: Sequential | None = None,
) -> History:
    """Train ``model`` in place; the test set (if given) is only *reported* per epoch, never used to select.

    With a ``teacher`` (e.g. the float network during QAT) the loss is the distillation loss with
    ``cfg.distill_alpha`` and ``cfg.distill_T`` against the teacher's logits (computed once, dropout off)."""
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {cfg.epochs}, {cfg.batch_size}")
    rng = np.random.default_rng(cfg.seed + 1)
    n = len(y)
    per_epoch = int(np.ceil(n / cfg.batch_size))
    total = per_epoch * cfg.epochs
    opt = make_optimizer(cfg.optimizer, cfg.lr)
    sched = make_schedule(cfg.schedule, cfg.lr, total, per_epoch)
    slots = [(i, name) for i, l in enumerate(model.layers) for name in l.params]
    hist = History()
    t_logits = None if teacher is None else teacher.forward(X, train=False)
    t = 0
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False, unit="ep")
    for ep in bar:
        if on_epoch_start is not None:
            on_epoch_start(ep)
        perm = rng.permutation(n)
        tot = 0.0
        for b in range(per_epoch):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            tl = None if t_logits is None else t_logits[idx]
            tot += loss_and_grads(model, X[idx], y[idx], cfg.weight_decay, teacher_logits=tl, alpha=cfg.distill_alpha,
                                  T=cfg.distill_T) * len(idx)
            opt.lr = sched(t)
            opt.step([((i, k), model.layers[i].params[k], model.layers[i].grads[k]) for i, k in slots])
            t += 1
        hist.epoch.append(ep + 1)
        hist.loss.append(tot / n)
        hist.lr.append(opt.lr)
        hist.train_acc.append(accuracy(model, X, y))
        if X_test is not None:
            hist.test_acc.append(accuracy(model, X_test, y_test))
        bar.set_postfix(loss=f"{hist.loss[-1]:.4f}", acc=f"{hist.train_acc[-1]:.3f}")
    return hist


__all__ = ["TrainConfig", "History", "train", "accuracy", "loss_and_grads", "new_model", "Linear"]

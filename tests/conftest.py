import os

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """Seeded generator; the seed is printed and can be overridden with MACFORGE_SEED."""
    seed = int(os.environ.get("MACFORGE_SEED", "12345"))
    print(f"[{request.node.name}] MACFORGE_SEED={seed}")
    return np.random.default_rng(seed)


@pytest.fixture
def seed(request):
    """Integer seed for hardware regressions: random unless MACFORGE_SEED is set; always printed
    (and repeated in every assertion message) so that a failure can be re-run exactly."""
    env = os.environ.get("MACFORGE_SEED")
    s = int(env) if env else int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    print(f"[{request.node.name}] MACFORGE_SEED={s}")
    return s

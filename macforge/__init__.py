"""macforge: efficient-AI hardware co-design in Python.

Parameterized MAC-array RTL (Amaranth), verified bit- and cycle-exact with cocotb on Verilator against a
NumPy golden model of quantized MLP inference, a NumPy QAT trainer, and FPGA handoff.

The installed packages are :mod:`macforge.golden` (NumPy reference, cycle models, trainer),
:mod:`macforge.rtl` (Amaranth hardware), :mod:`macforge.sim` (Verilator runner, cocotb testbenches) and
:mod:`macforge.gen` (command line, Verilog emission, synthesis). The names below are the Python API
(:mod:`macforge.api`); the ``macforge`` command line is a thin layer over the same functions.
"""

from macforge.api import (Accelerator, EmitResult, SimResult, SynthResult, TrainResult, emit, engine_for,
                          simulate, synthesize, train)
from macforge.golden.bundle import Bundle, load_bundle, save_bundle
from macforge.golden.config import ArrayConfig
from macforge.golden.engine_config import EngineConfig
from macforge.golden.mlp import IntLayer, IntMLP, TQConfig

try:
    from importlib.metadata import version as _version

    __version__ = _version("macforge")
except Exception:  # pragma: no cover - running from a checkout that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Accelerator", "ArrayConfig", "Bundle", "EmitResult", "EngineConfig", "IntLayer", "IntMLP", "SimResult",
    "SynthResult", "TQConfig", "TrainResult", "emit", "engine_for", "load_bundle", "save_bundle", "simulate",
    "synthesize", "train",
]

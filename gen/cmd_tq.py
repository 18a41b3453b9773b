"""``macforge tq``: show term quantization of a group of values the way the lecture slide does.

Example: ``macforge tq 1 12 5 137 --budget 4`` prints each value's terms by bit position, marks the terms
the group budget keeps, and the truncated values (0, 12, 0, 136). ``--json`` prints
``{"values": [...], "truncated": [...], "terms": [...]}`` for scripts. Logic: :mod:`macforge.golden.terms`.
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("tq", help="show term quantization of a group of integers under a term budget",
                              description=__doc__.splitlines()[0])
    p.add_argument("values", nargs="+", type=int, help="integer values (one group; sign-magnitude)")
    p.add_argument("--budget", "-k", type=int, required=True, help="group term budget k (terms kept in total)")
    p.add_argument("--encoding", choices=("binary", "hese"), default="binary", help="term encoding (default binary)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from macforge.golden import terms

    if args.budget < 1:
        raise ValueError(f"--budget must be a positive integer, got {args.budget}")
    v = np.array(args.values, dtype=np.int64)
    sign, d, keep = terms.group_budget_mask(v, len(v), args.budget, args.encoding, axis=0)
    truncated = terms.reconstruct(sign, np.where(keep, d, 0))
    P = d.shape[-1]
    term_list = [[{"sign": int(sign[i] * d[i, p]), "exponent": p, "kept": bool(keep[i, p])}
                  for p in range(P - 1, -1, -1) if d[i, p]] for i in range(len(v))]
    if args.json:
        print(json.dumps({"values": v.tolist(), "truncated": truncated.tolist(), "encoding": args.encoding,
                          "budget": args.budget, "terms": term_list}))
        return 0
    w = max(9, max(len(str(x)) for x in v.tolist() + truncated.tolist()) + 1)
    head = "value".rjust(w) + " | " + " ".join(f"2^{p}".rjust(4) for p in range(P - 1, -1, -1)) + " | " + "truncated".rjust(w)
    print(f"term quantization: {args.encoding} encoding, group of {len(v)}, budget k = {args.budget}")
    print("cells: +/- a kept term, (+)/(-) a dropped term, . no term")
    print(head)
    print("-" * len(head))
    for i in range(len(v)):
        cells = []
        for p in range(P - 1, -1, -1):
            s = int(sign[i] * d[i, p]) if sign[i] else int(d[i, p])
            c = "." if s == 0 else ("+" if s > 0 else "-")
            cells.append((c if keep[i, p] or s == 0 else f"({c})").rjust(4))
        print(str(int(v[i])).rjust(w) + " | " + " ".join(cells) + " | " + str(int(truncated[i])).rjust(w))
    n_terms = int(np.count_nonzero(d))
    print(f"{n_terms} terms, {int(np.count_nonzero(keep))} kept, {n_terms - int(np.count_nonzero(keep))} dropped")
    return 0

"""``make fuzz``: seeded packet fuzzing of the layer engine on Verilator.

Random and malformed ``s_axis`` packets -- random opcodes and header fields, dimensions at and past every
limit, truncation at every section boundary and inside words, extra beats, ``tlast`` in random places, random
operand / parameter values (bad M0 / S included), capabilities queries with and without payload,
bit-serial precisions past ``a_width`` -- are interleaved with valid jobs, sent alone or back to back
with no gap, under random idle cycles, backpressure and resets, on engines of two MAC families and both
dataflows. :mod:`macforge.sim.tb.fuzz_tb` checks every answer against
:func:`macforge.golden.packet_oracle.predict` (see there and the testbench for the properties).

A failure prints the seed and a shrunk reproducer (the shortest item list found that still fails,
written to ``build/fuzz/repro_<config>_<seed>.json``: ``python -m macforge.gen.fuzz --replay FILE``).

Usage: ``python -m macforge.gen.fuzz [--packets N] [--seed S] [--configs NAME ...]``; the summary goes to
``build/reliability/fuzz.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import numpy as np

from macforge.golden.config import ArrayConfig
from macforge.golden.engine import (Layer, OPCODE, OPCODE_CAPS, command_word, encode, section_beats)
from macforge.golden.engine_config import EngineConfig
from macforge.sim.runner import BUILD_ROOT

#: the fuzzed engines: parallel and bit-serial, OS and WS, 64- and 128-bit buses (the first two are the
#: engines of tests/test_engine.py, so their Verilator builds are shared)
CONFIGS = {
    "os_par_4x4": EngineConfig(ArrayConfig(rows=4, cols=4, dataflow="os", max_k=64), max_m=64, max_n=16),
    "ws_bs_2x3": EngineConfig(ArrayConfig(rows=2, cols=3, dataflow="ws", mac="bitserial", max_k=32, max_m=8),
                              max_m=40, max_n=8),
    "ws_par_3x2_w128": EngineConfig(ArrayConfig(rows=3, cols=2, dataflow="ws", max_k=32, max_m=8),
                                    axis_width=128, max_m=40, max_n=8),
}
FUZZ_DIR = BUILD_ROOT / "fuzz"


def _dim(rng: random.Random, hi: int) -> int:
    r = rng.random()
    if r < 0.1:
        return hi
    if r < 0.2:
        return 1
    return rng.randint(1, min(hi, rng.choice((3, 6, 12, hi))))


def valid_layer(e: EngineConfig, rng: random.Random, bad_param: bool = False) -> Layer:
    a = e.array
    M, K, N = _dim(rng, e.max_m), _dim(rng, e.max_k), _dim(rng, e.max_n)
    if M * K * N > 4000:                          # keep most jobs short (limits are still hit)
        M = max(1, 4000 // (K * N))
    nrng = np.random.default_rng(rng.getrandbits(32))
    alo, ahi = -(1 << (a.a_width - 1)), (1 << (a.a_width - 1)) - 1
    wlo, whi = -(1 << (a.w_width - 1)), (1 << (a.w_width - 1)) - 1
    x = nrng.integers(alo, ahi + 1, (M, K))
    w = nrng.integers(wlo, whi + 1, (K, N))
    requant = rng.random() < 0.7
    if requant:
        bias = nrng.integers(-(1 << 31), 1 << 31, N)
        m0 = nrng.integers(0, 1 << 31, N)
        shift = nrng.integers(1, 63, N)
        if bad_param:
            ch = rng.randrange(N)
            if rng.random() < 0.5:
                m0[ch] = rng.randint(1 << 31, (1 << 32) - 1)
            else:
                shift[ch] = rng.choice((0, 63, rng.randint(64, (1 << 32) - 1)))
    else:
        # raw results wrap modulo 2^32: random bias over the whole int32 range exercises that too
        bias = nrng.integers(-(1 << 31), 1 << 31, N)
        m0 = shift = None
    p = None
    if a.mac == "bitserial" and rng.random() < 0.5:
        p = rng.randint(1, a.a_width)
    return Layer(x, w, bias, m0, shift, relu=rng.random() < 0.5, requant=requant, precision=p)


def packet(e: EngineConfig, rng: random.Random) -> tuple[str, list[int]]:
    """One random packet: ``(kind, beats)``."""
    a = e.array
    r = rng.random()
    M64 = (1 << 64) - 1
    if r < 0.40:
        return "valid", encode(e, valid_layer(e, rng), check=False)
    if r < 0.50:
        return "badparam", encode(e, valid_layer(e, rng, bad_param=True), check=False)
    if r < 0.68:
        beats = encode(e, valid_layer(e, rng), check=False)
        cmd = beats[0]
        M, K, N = (cmd >> 16) & 0xFFFF, (cmd >> 32) & 0xFFFF, (cmd >> 48) & 0xFFFF
        sb = section_beats(e, M, K, N)
        bounds = np.cumsum(sb).tolist()
        cut = rng.choice([rng.randint(1, len(beats) - 1) if len(beats) > 1 else 1,
                          max(1, min(len(beats) - 1, rng.choice(bounds) + rng.choice((-1, 0, 1))))])
        return "trunc", beats[:max(1, cut)]
    if r < 0.75:
        beats = encode(e, valid_layer(e, rng), check=False)
        return "long", beats + [rng.getrandbits(e.axis_width) if rng.random() < 0.5 else OPCODE
                                for _ in range(rng.randint(1, 4))]
    if r < 0.83:
        # dimensions at and past every limit, random flags and precision
        def pick(hi):
            return rng.choice((0, 1, hi, hi + 1, 0xFFFF, rng.randint(0, 0xFFFF)))
        cmd = command_word(pick(e.max_m), pick(e.max_k), pick(e.max_n), relu=rng.random() < 0.5,
                           requant=rng.random() < 0.5, precision=rng.randint(0, 15))
        cmd |= rng.getrandbits(2) << 10                     # reserved bits: ignored
        n = rng.randint(1, 30)
        return "limits", [cmd] + [rng.getrandbits(e.axis_width) for _ in range(n - 1)]
    if r < 0.90:
        # random command word (random opcode and fields), random payload
        cmd = rng.getrandbits(64)
        if rng.random() < 0.3:
            cmd = (cmd & ~0xFF) | OPCODE
        n = rng.randint(1, 12)
        return "random", [cmd | (rng.getrandbits(e.axis_width - 64) << 64 if e.axis_width > 64 else 0)] + \
            [rng.getrandbits(e.axis_width) for _ in range(n - 1)]
    if r < 0.95:
        n = 1 if rng.random() < 0.6 else rng.randint(2, 4)
        return "caps", [OPCODE_CAPS] + [rng.getrandbits(e.axis_width) for _ in range(n - 1)]
    if a.mac == "bitserial":
        L = valid_layer(e, rng)
        beats = encode(e, L, check=False)
        beats[0] = (beats[0] & ~(0xF << 12)) | (rng.randint(a.a_width + 1, 15) << 12)
        return "precision", beats
    return "valid", encode(e, valid_layer(e, rng), check=False)


def make_items(e: EngineConfig, seed: int, n_packets: int) -> list[dict]:
    """The seeded item list (see :mod:`macforge.sim.tb.fuzz_tb`) with about ``n_packets`` packets."""
    rng = random.Random(seed)
    items, count = [], 0
    while count < n_packets:
        r = rng.random()
        traffic = rng.random()
        idle = 0.0 if traffic < 0.35 else rng.choice((0.1, 0.3, 0.6))
        bp = 0.0 if traffic < 0.35 else rng.choice((0.0, 0.2, 0.5, 0.8))
        if r < 0.04:
            kind, beats = packet(e, rng)
            items.append({"packets": [beats], "idle": idle, "bp": bp,
                          "reset_after": rng.randint(0, len(beats) + 40)})
            continue
        n = 1 if r < 0.7 else rng.randint(2, 4)
        ps = [packet(e, rng) for _ in range(n)]
        items.append({"packets": [b for _, b in ps], "kinds": [k for k, _ in ps], "idle": idle, "bp": bp,
                      "reset_after": None})
        count += n
    return items


def run_items(name: str, e: EngineConfig, items: list[dict], seed: int, tag: str = "fuzz") -> dict:
    from macforge.sim.engine_run import build_engine
    from macforge.sim.runner import run
    model = build_engine(e)
    return run(model, "macforge.sim.tb.fuzz_tb", {"engine": e.to_dict(), "seed": seed, "items": items},
               name=f"{tag}_{name}")


def shrink(name: str, e: EngineConfig, items: list[dict], seed: int, budget_s: float = 300) -> list[dict]:
    """Greedy delta debugging: drop items (then packets inside items) while the run still fails."""
    t0 = time.time()
    cur = list(items)

    def fails(lst):
        return run_items(name, e, lst, seed, "shrink")["fail"] is not None

    i = 0
    while i < len(cur) and time.time() - t0 < budget_s:
        cand = cur[:i] + cur[i + 1:]
        if cand and fails(cand):
            cur = cand
        else:
            i += 1
    for i, it in enumerate(cur):
        if len(it["packets"]) > 1 and time.time() - t0 < budget_s:
            for j in range(len(it["packets"])):
                one = dict(it, packets=[it["packets"][j]])
                cand = cur[:i] + [one] + cur[i + 1:]
                if fails(cand):
                    cur = cand
                    break
    return cur


def fuzz_config(name: str, e: EngineConfig, seed: int, n_packets: int, do_shrink: bool = True) -> dict:
    items = make_items(e, seed, n_packets)
    print(f"[fuzz] {name}: MACFORGE_SEED={seed} {sum(len(i['packets']) for i in items)} packets in "
          f"{len(items)} items", flush=True)
    t0 = time.time()
    res = run_items(name, e, items, seed)
    dt = time.time() - t0
    out = {"config": name, "seed": seed, "items": len(items), "seconds": round(dt, 1), **res}
    if res["fail"] is not None:
        FUZZ_DIR.mkdir(parents=True, exist_ok=True)
        bad = items[:res["fail"] + 1]
        small = shrink(name, e, bad, seed) if do_shrink else bad
        path = FUZZ_DIR / f"repro_{name}_{seed}.json"
        path.write_text(json.dumps({"config": name, "engine": e.to_dict(), "seed": seed, "items": small},
                                   indent=1))
        print(f"[fuzz] {name}: FAILED at item {res['fail']}: {res['msg']}\n[fuzz] seed {seed}; shrunk "
              f"reproducer ({len(small)} items, {sum(len(i['packets']) for i in small)} packets): {path}\n"
              f"[fuzz] replay: python -m macforge.gen.fuzz --replay {path}", flush=True)
        for it in small:
            print("[fuzz]   item:", json.dumps({**it, "packets": [[hex(b) for b in p] for p in it["packets"]]}))
        out["repro"] = str(path)
    else:
        print(f"[fuzz] {name}: {res['packets']} packets, {res['resets']} resets, answers {res['codes']}, "
              f"every property held ({dt:.0f} s)", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m macforge.gen.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=2000, help="packets per configuration (default 2000)")
    ap.add_argument("--seed", type=int, default=None, help="seed (default: random, printed)")
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--replay", help="a reproducer file written by a failing run")
    ap.add_argument("--no-summary", action="store_true", help="do not write build/reliability/fuzz.json")
    ns = ap.parse_args(argv)
    if ns.replay:
        d = json.loads(open(ns.replay).read())
        e = EngineConfig.from_dict(d["engine"])
        res = run_items(d["config"], e, d["items"], d["seed"], "replay")
        print(res)
        return 0 if res["fail"] is None else 1
    seed = ns.seed if ns.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"[fuzz] MACFORGE_SEED={seed}", flush=True)
    results = [fuzz_config(n, CONFIGS[n], seed, ns.packets) for n in ns.configs]
    ok = all(r["fail"] is None for r in results)
    summ = {"target": "make fuzz", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seed": seed,
            "packets": sum(r.get("packets", 0) for r in results), "configs": len(results),
            "resets": sum(r.get("resets", 0) for r in results), "all_ok": ok,
            "seconds": round(sum(r["seconds"] for r in results), 1),
            "per_config": results}
    (BUILD_ROOT / "reliability").mkdir(parents=True, exist_ok=True)
    if set(ns.configs) == set(CONFIGS) and not ns.no_summary:
        (BUILD_ROOT / "reliability" / "fuzz.json").write_text(json.dumps(summ, indent=1))
    print(f"[fuzz] {'PASS' if ok else 'FAIL'}: {summ['packets']} packets on {len(results)} configurations, "
          f"seed {seed}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

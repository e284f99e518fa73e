"""Where a GPT-SoVITS stream pool's time goes (ttsx serve --join's continuous batching): N pieces added at once,
stepped to the end; the prefills, the t2s steps, and the rows' turns (choice, streaming split, decode_streaming
of each finished chunk), with each piece's first chunk time.

    GPT_SOVITS_HOME=... python scripts/gpt_sovits/pool_profile.py ARTIFACT [--rows 1 8] [--tokens 250]
"""
import argparse
import time

import ttsx
from ttsx.recipes import get_family
from ttsx.runtimes.pipeline import Piece, StreamOptions, SynthesisOptions

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("artifact")
parser.add_argument("--rows", type=int, nargs="+", default=[1, 8])
parser.add_argument("--tokens", type=int, default=250)
args = parser.parse_args()
texts = get_family("gpt_sovits").bench_prompts()
from ttsx.recipes.families.gpt_sovits import pool as pool_module

with ttsx.load(args.artifact) as pipeline:
    for rows in args.rows:
        pool = pipeline.stream_pool(pipeline.voices[0], SynthesisOptions(max_tokens=args.tokens), rows=rows)
        turns_s, turn = [0.0], pool_module._Row.turn

        def timed_turn(self, *a, _turn=turn):
            t = time.perf_counter()
            out = _turn(self, *a)
            turns_s[0] += time.perf_counter() - t
            return out

        pool_module._Row.turn = timed_turn
        start = time.perf_counter()
        for i in range(rows):
            pool.add(Piece(texts[i % len(texts)], i), StreamOptions())
        added = time.perf_counter() - start
        firsts, steps, live = {}, 0, rows
        while live:
            for t in pool.advance():
                if t.chunks and id(t.handle) not in firsts:
                    firsts[id(t.handle)] = time.perf_counter() - start
                live -= t.done
            steps += 1
        total = time.perf_counter() - start
        pool_module._Row.turn = turn
        pool.close()
        print(f"rows {rows}: prefills {added:.2f} s, {steps} steps, total {total:.2f} s, rows' turns (choice, split, "
              f"decode_streaming) {turns_s[0]:.2f} s, t2s steps {total - added - turns_s[0]:.2f} s; first chunks at "
              f"{[round(x, 2) for x in sorted(firsts.values())]} s")

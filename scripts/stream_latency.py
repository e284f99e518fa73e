"""Time to first audio (TTFA) and total latency of one request, streamed (Pipeline.stream, as each family's
reference streams) against the whole call, in one process; one table.

    python scripts/stream_latency.py ARTIFACT [ARTIFACT ...] --seconds 10 [--chunk 10 43] [--voice NAME] [--seeds 0 1 2]

Each artifact says `ttsx bench`'s first prompt and makes about --seconds of audio: greedy (or, with --seeds, the
family's default sampling at each seed: one row set per seed), EOS suppressed, its first stage's tokens set from the
recipe's audio rate (measured on a short warm-up run). Where a family's streamer splits at data-dependent points
(GPT-SoVITS splits at mute-like ids), greedy on random weights may repeat one id and never split; sampled seeds
show the spread. Per row: the whole call's latency, then per stream
setting (the reference's defaults, then each --chunk) the first chunk's time, the whole stream's time, the
chunks sent and TTFA as a share of the whole call, one row each as it is measured. Medians of --repeats
runs after one warm-up run.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

def timed_stream(pipeline, text, voice, options, streaming):
    """(seconds to the first non-empty chunk, seconds to the last, chunks, samples) of one streamed call."""
    start, first, chunks, samples = time.perf_counter(), None, 0, 0
    for chunk in pipeline.stream(text, voice=voice, options=options, streaming=streaming):
        if first is None and len(chunk):
            first = time.perf_counter() - start
        chunks += 1
        samples += len(chunk)
    return first, time.perf_counter() - start, chunks, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per request, about")
    parser.add_argument("--chunk", type=int, nargs="*", default=[], help="stream chunks (steps) to time as well")
    parser.add_argument("--voice", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="sample with the family's defaults at these "
                        "seeds instead of greedy (one row set per seed)")
    args = parser.parse_args()

    import ttsx
    from ttsx.app.probes import machine
    from ttsx.base.versions import library_versions
    from ttsx.recipes import get_family
    from ttsx.runtimes.pipeline import StreamOptions, SynthesisOptions

    m = machine()
    print(f"machine: {m['processor']}, {m['cpus']} CPUs, flags {' '.join(m['flags'])}; "
          f"{', '.join(f'{k} {v}' for k, v in library_versions().items())}")
    print(f"command: python {' '.join(sys.argv)}\n")
    header = ("recipe", "precision", "decoding", "audio s", "whole call s", "stream", "TTFA s", "stream total s", "chunks",
              "TTFA / whole")
    print(" | ".join(header))
    for path in args.artifacts:
        options = {} if args.threads is None else {"threads": args.threads}
        with ttsx.load(path, **options) as pipeline:
            recipe = pipeline.recipe
            text = get_family(recipe.family).bench_prompts()[0]  # `ttsx bench`'s first prompt (phonemes for GPT-SoVITS)
            voice = args.voice or (pipeline.voices[0] if pipeline.voices else None)
            probe = SynthesisOptions(greedy=True, max_tokens=32, stop_at_eos=False)
            speech = pipeline(text, voice=voice, options=probe)
            per_token = sum(map(len, speech.audio)) / pipeline.sample_rate / 32
            tokens = min(recipe.limits.max_tokens, max(1, round(args.seconds / per_token)))
            decodings = ([(f"seed {seed}", SynthesisOptions(seed=seed, max_tokens=tokens, stop_at_eos=False))
                          for seed in args.seeds]
                         or [("greedy", SynthesisOptions(greedy=True, max_tokens=tokens, stop_at_eos=False))])
            settings = [("reference default", StreamOptions())] + [(f"chunk {c}", StreamOptions(chunk=c))
                                                                  for c in args.chunk]
            pipeline(text, voice=voice, options=decodings[0][1])  # warm-up
            summary: dict[str, list] = {label: [] for label, _ in settings}
            for decoding, opts in decodings:
                whole, audio = [], 0.0
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    speech = pipeline(text, voice=voice, options=opts)
                    whole.append(time.perf_counter() - start)
                    audio = sum(map(len, speech.audio)) / pipeline.sample_rate
                whole_s = statistics.median(whole)
                for label, streaming in settings:
                    timed_stream(pipeline, text, voice, opts, streaming)  # warm-up
                    runs = [timed_stream(pipeline, text, voice, opts, streaming) for _ in range(args.repeats)]
                    first = statistics.median(r[0] for r in runs)
                    total = statistics.median(r[1] for r in runs)
                    summary[label].append((first, total, first / whole_s, runs[0][2]))
                    print(" | ".join((recipe.name, pipeline.artifact.precision, decoding, f"{audio:.2f}",
                                      f"{whole_s:.2f}", label, f"{first:.2f}", f"{total:.2f}", str(runs[0][2]),
                                      f"{first / whole_s:.0%}")), flush=True)
            if len(decodings) > 1:
                for label, rows in summary.items():
                    firsts = [r[0] for r in rows]
                    print(f"{recipe.name}, {label}, {len(rows)} seeds: TTFA median {statistics.median(firsts):.2f} s "
                          f"(min {min(firsts):.2f}, max {max(firsts):.2f}), TTFA / whole median "
                          f"{statistics.median(r[2] for r in rows):.0%}, chunks median "
                          f"{statistics.median(r[3] for r in rows):g}", flush=True)

if __name__ == "__main__":
    main()

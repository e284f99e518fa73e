"""One t2s decode step at batch 1: ttsx's graphs against upstream's eager loop and genie-tts's step graph, in one run.

    python scripts/gpt_sovits/decode_step.py ART [ART ...] [--pasts 100 300 600] [--threads 2] [--steps 30] [--rounds 5]
        [--genie-python VENV/bin/python --genie-dir CONVERTED]

GPT_SOVITS_HOME must name the checkout (upstream's eager rows use the artifact's reference, rebuilt from its
recorded seed or checkpoint). Rows, ms per step at a fixed past (text + audio positions already cached; 40 of
them text): per round the median of `steps` calls of each runtime in turn, and the median of the rounds:
  ttsx <precision> graph    the t2s graph's step alone (CausalRunner.step on the in-place cache)
  ttsx <precision> token    what the pipeline does per token: embed_audio, the step, upstream's sampling rules
  upstream eager token      infer_panel_naive's loop body: T2STransformer.decode_next_token (its caches grow by
                            concatenation), ar_predict_layer, `sample` (top_k 15, penalty 1.35), the next embedding
  genie-tts step            genie-tts's `t2s_stage_decoder_fp32.onnx` (converted by genie's own converter from the
                            same weights; sampling inside the graph, caches concatenated and returned every step),
                            run by genie's pinned onnxruntime in its own venv (--genie-python); docs/BENCHMARKS.md
                            says how that venv and the conversion were made
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/benchtools.py
from benchtools import timed  # noqa: E402

TEXT = 40  # text positions of every prefill (a short reference transcript and sentence)
HIDDEN = 512


def median_ms(fn, steps: int) -> float:
    return timed(fn, steps, warmup=3)


def genie_rows(model_dir: str, pasts: list[int], threads: int, steps: int) -> dict:
    """Run inside genie's venv: its stage decoder at each past, fed as its loop feeds it (random state)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(f"{model_dir}/t2s_stage_decoder_fp32.onnx", options,
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    out = {"onnxruntime": ort.__version__}
    for past in pasts:
        audio = past - TEXT  # iy: the prompt and generated ids so far; iy_emb: their embeddings but the newest
        feed = {"iy": rng.integers(0, 1024, (1, audio + 1)), "iy_emb": rng.standard_normal((1, audio, HIDDEN), np.float32)}
        for i in range(len([x for x in session.get_inputs() if x.name.startswith("past_k")])):
            for part in ("k", "v"):
                feed[f"past_{part}_layer_{i}"] = rng.standard_normal((past, 1, HIDDEN), np.float32)
        out[str(past)] = median_ms(lambda: session.run(None, feed), steps)
    return out


def ttsx_probes(paths: list[str], threads: int):
    """prepare(past) -> {row name: step function at that past}, over one open session per artifact."""
    from ttsx.artifact.manifest import load_artifact
    from ttsx.recipes.families.gpt_sovits.pipeline import GptSovitsOptions, choose, exponential
    from ttsx.runtimes.causal import CausalRunner
    from ttsx.runtimes.factory import open_session
    from ttsx.runtimes.sampling import RowRandom

    opened = []
    for path in paths:
        artifact = load_artifact(path)
        opened.append((artifact, CausalRunner(open_session(artifact, "t2s", threads=threads)),
                       open_session(artifact, "embed_audio", threads=threads)))
    rng, options, noise = np.random.default_rng(0), GptSovitsOptions(), RowRandom([(0,)])
    text = np.array([TEXT], np.int32)

    def prepare(past: int) -> dict:
        probes = {}
        for artifact, runner, embed in opened:
            runner.close()
            hidden = artifact.recipe.t2s.hidden
            runner.start({"inputs_embeds": rng.standard_normal((1, past, hidden), np.float32), "text_lengths": text},
                         [past], 1)
            step = {"inputs_embeds": rng.standard_normal((1, 1, hidden), np.float32), "text_lengths": text}
            seen = np.zeros((1, artifact.recipe.t2s.semantic), bool)
            seen[0, rng.integers(0, 1024, past - TEXT)] = True

            def graph_step(runner=runner, step=step):
                runner.cache_lengths = np.array([past], np.int32)
                runner.step(step)

            def token_step(runner=runner, embed=embed, seen=seen):
                runner.cache_lengths = np.array([past], np.int32)
                embeds = embed.run({"semantic_ids": np.array([[7]]), "positions": np.array([[past - TEXT]])})["embeds"]
                logits = runner.step({"inputs_embeds": embeds, "text_lengths": text})["logits"]
                choose(logits, seen, options, exponential(noise, logits.shape), 1024)

            probes[f"ttsx {artifact.precision} graph"], probes[f"ttsx {artifact.precision} token"] = graph_step, token_step
        return probes

    return prepare


def upstream_probe(path: str, threads: int):
    """prepare(past) -> infer_panel_naive's loop body at that past (its caches at that length)."""
    import torch

    from ttsx.artifact.manifest import load_artifact
    from ttsx.runtimes.reference import reference_model

    torch.set_num_threads(threads)
    reference = reference_model(load_artifact(path))
    from AR.models.utils import sample  # upstream's, from the checkout the reference was built from

    t2s, rng = reference.t2s, torch.Generator().manual_seed(0)
    table = t2s.ar_audio_position

    def prepare(past: int):
        keys = [torch.randn(1, past, t2s.model_dim, generator=rng) for _ in range(t2s.num_layers)]
        values = [torch.randn(1, past, t2s.model_dim, generator=rng) for _ in range(t2s.num_layers)]
        y = torch.randint(0, 1024, (1, past - TEXT), generator=rng)
        xy_pos = torch.randn(1, 1, t2s.model_dim, generator=rng)

        def body():
            with torch.no_grad():
                dec, _, _ = t2s.t2s_transformer.decode_next_token(xy_pos, list(keys), list(values))
                logits = t2s.ar_predict_layer(dec[:, -1])
                samples = sample(logits, y, top_k=15, top_p=1, repetition_penalty=1.35, temperature=1.0)[0]
                emb = t2s.ar_audio_embedding(samples[:, -1:])
                return emb * table.x_scale + table.alpha * table.pe[:, past - TEXT].to(dtype=emb.dtype)

        return body

    return prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", nargs="*")
    parser.add_argument("--pasts", type=int, nargs="+", default=[100, 300, 600])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the table shows their median")
    parser.add_argument("--genie-python", help="the python of genie-tts's venv (its pinned onnxruntime)")
    parser.add_argument("--genie-dir", help="genie-tts's converted v2 model folder")
    parser.add_argument("--genie-only", action="store_true", help=argparse.SUPPRESS)  # inside genie's venv
    args = parser.parse_args()
    if args.genie_only:
        print(json.dumps(genie_rows(args.genie_dir, args.pasts, args.threads, args.steps)))
        return
    import onnxruntime
    import torch

    from ttsx.app.probes import machine

    info = machine()
    print(f"machine: {info['processor']}, {info['cpus']} CPUs, flags {' '.join(info['flags'])}; {args.threads} threads; "
          f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}; batch 1, median of {args.rounds} rounds "
          f"of {args.steps} steps")
    prepare_ttsx = ttsx_probes(args.artifacts, args.threads)
    prepare_upstream = upstream_probe(args.artifacts[0], args.threads) if args.artifacts else None
    results: dict[str, dict[int, list[float]]] = {}
    for past in args.pasts:
        probes = prepare_ttsx(past)
        if prepare_upstream:
            probes["upstream eager token"] = prepare_upstream(past)
        for _ in range(args.rounds):  # rounds interleave the runtimes, so that drift hits every row alike
            for name, fn in probes.items():
                results.setdefault(name, {}).setdefault(past, []).append(median_ms(fn, args.steps))
            if args.genie_python:
                cmd = [args.genie_python, __file__, "--genie-only", "--genie-dir", args.genie_dir, "--threads",
                       str(args.threads), "--steps", str(args.steps), "--pasts", str(past)]
                genie = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
                name = f"genie-tts step (onnxruntime {genie.pop('onnxruntime')})"
                results.setdefault(name, {}).setdefault(past, []).append(genie[str(past)])
    rows = [(name, {p: float(np.median(v)) for p, v in by_past.items()}) for name, by_past in results.items()]
    print("| runtime | " + " | ".join(f"past {p} ms" for p in args.pasts) + " |")
    print("|---|" + "---:|" * len(args.pasts))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(f"{values[p]:.2f}" for p in args.pasts) + " |")


if __name__ == "__main__":
    sys.exit(main())

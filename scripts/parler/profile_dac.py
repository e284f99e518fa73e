"""Where a Parler-TTS artifact's DAC decode (codes -> 44.1 kHz audio) spends its time, and what batching rows buys.

usage: python scripts/parler/profile_dac.py ARTIFACT [--frames 300] [--batch 1 2 4] [--threads 2] [--repeats 3]

One table: per batch size, the median wall seconds of the artifact's `dac` graph (onnxruntime, the session the
pipeline opens) and seconds per row; then transformers' DacModel (eager torch, random weights of the artifact's
DAC sizes) on the same codes. Then the op kinds' shares of onnxruntime's kernel time (its profiler) and the
convolutions' arithmetic: multiply-adds counted from DacModel's Conv1d/ConvTranspose1d shapes (2 flops each),
the achieved GFLOP/s of onnxruntime's Conv + ConvTranspose kernel time. The header names the CPU and its flags.
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import time

import numpy as np
import torch

from ttsx.app.probes import machine
from ttsx.artifact.manifest import load_artifact
from ttsx.runtimes.factory import open_session


def conv_flops(model, codes) -> float:
    """2 x multiply-adds of every convolution in DacModel.decode of `codes`."""
    total = [0.0]

    def count(module, inputs, output):
        weight = module.weight  # Conv1d [out, in/groups, K]; ConvTranspose1d [in, out/groups, K]
        if isinstance(module, torch.nn.ConvTranspose1d):
            total[0] += 2.0 * inputs[0].shape[-1] * weight.shape[0] * weight.shape[1] * weight.shape[2] * output.shape[0]
        else:
            total[0] += 2.0 * output.shape[-1] * weight.shape[0] * weight.shape[1] * weight.shape[2] * output.shape[0]

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    with torch.inference_mode():
        model.decode(audio_codes=torch.from_numpy(codes))
    for h in hooks:
        h.remove()
    return total[0]


def timed(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    artifact = load_artifact(args.artifact)
    dac = artifact.recipe.dac
    rng = np.random.default_rng(0)
    cpu = machine()
    print(f"machine: {cpu['processor']}, {cpu['cpus']} CPUs, flags {' '.join(cpu['flags'])}; onnxruntime and torch at "
          f"{args.threads} threads; {args.frames} frames "
          f"({args.frames * dac.hop / dac.sample_rate:.2f} s of audio)\n")
    session = open_session(artifact, "dac", threads=args.threads)
    print("| runtime | batch | s per call | s per row |\n|---|---:|---:|---:|")
    for batch in args.batch:
        codes = rng.integers(0, dac.codebook_size, (batch, dac.codebooks, args.frames)).astype(np.int64)
        seconds = timed(lambda: session.run({"codes": codes}), args.repeats)
        print(f"| onnxruntime | {batch} | {seconds:.2f} | {seconds / batch:.2f} |", flush=True)
    from transformers import DacModel

    model = DacModel(dac.config()).eval()
    codes = rng.integers(0, dac.codebook_size, (1, dac.codebooks, args.frames)).astype(np.int64)
    with torch.inference_mode():
        seconds = timed(lambda: model.decode(audio_codes=torch.from_numpy(codes)), args.repeats)
    print(f"| torch eager (DacModel) | 1 | {seconds:.2f} | {seconds:.2f} |")

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.enable_profiling = args.threads, True
    profiled = ort.InferenceSession(str(artifact.graph_path("dac")), options, providers=["CPUExecutionProvider"])
    for _ in range(2):
        profiled.run(None, {"codes": codes})
    events = json.load(open(profiled.end_profiling()))
    kinds = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            kinds[e["args"]["op_name"]] += e["dur"] / 2e6  # seconds per call
    kernel = sum(kinds.values())
    flops = conv_flops(model, codes)
    conv = kinds["Conv"] + kinds["ConvTranspose"] + kinds["FusedConv"]
    print(f"\nonnxruntime kernels: {kernel:.2f} s per call; "
          + ", ".join(f"{k} {v / kernel:.0%}" for k, v in kinds.most_common(6)))
    print(f"convolutions: {flops / 1e9:.0f} GFLOP per call; Conv + ConvTranspose + FusedConv kernels {conv:.2f} s "
          f"-> {flops / conv / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()

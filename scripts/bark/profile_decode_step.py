"""Where one semantic decode step spends its time, per torch backend (torch.profiler table per backend).

    python scripts/bark/profile_decode_step.py ARTIFACT [BACKEND ...]   (default: torch torch-compiled)

ARTIFACT: an fp32 Bark artifact (e.g. `ttsx export --recipe bark-small --random-weights -o ART`).
A 257-token prefill, 10 warm-up steps, 40 timed steps (past about 287), then 10 profiled steps.
"""
import sys
import time

import numpy as np
import torch

from ttsx.artifact.manifest import load_artifact
from ttsx.runtimes.reference import reference_model
from ttsx.runtimes.factory import open_session

art = load_artifact(sys.argv[1])
model = reference_model(art)
torch.set_num_threads(2)
CAPACITY = 1024  # the semantic graph's cache capacity (Bark's block size)
backends = sys.argv[2:] or ["torch", "torch-compiled"]
for backend in backends:
    s = open_session(art, "semantic", backend, reference_model=model)
    s.attach(s.new_cache(1, CAPACITY))
    feed = {"input_ids": np.zeros((1, 257), np.int64), "history_ids": np.full((1, 257), -1, np.int64),
            "cache_lengths": np.zeros(1, np.int32), "lengths": np.full(1, 257, np.int32)}
    s.run(feed, host=("logits",))
    def step(past):
        return s.run({"input_ids": np.array([[5]]), "history_ids": np.full((1, 1), -1, np.int64),
                      "cache_lengths": np.array([past], np.int32), "lengths": np.ones(1, np.int32)}, host=("logits",))
    for p in range(257, 267):
        step(p)
    t = time.perf_counter(); n = 40
    for p in range(267, 267 + n):
        step(p)
    print(f"{backend}: {1000 * (time.perf_counter() - t) / n:.2f} ms per semantic decode step (past ~{267 + n // 2}, capacity {CAPACITY})", flush=True)
    with torch.profiler.profile() as prof:
        for p in range(400, 410):
            step(p)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))

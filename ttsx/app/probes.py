"""What `ttsx bench` and the scripts measure about the machine and a graph: the CPU and its kernel flags, the
read bandwidth, the process's peak RSS, and the weight bytes one decode step reads."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

RSS_POLL_S = 0.01  # peak-RSS sampling period, seconds


KERNEL_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")  # pick onnxruntime's kernels


def machine() -> dict:
    """Platform, CPU model, count and the CPU flags that pick onnxruntime's int8 and fp32 kernels."""
    import platform

    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"platform": platform.platform(), "processor": model or platform.processor(), "cpus": os.cpu_count(),
            "flags": [f for f in KERNEL_FLAGS if f in flags]}


def read_bandwidth_gbs() -> float:
    """GB/s of a sum over 1 GiB of float32 (torch, its default threads), best of 5."""
    import torch

    x = torch.ones(1 << 28)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.numel() * 4 / best / 1e9


def step_weight_bytes(path: Path) -> int:
    """Bytes of the initializers one decode step of the graph at `path` reads: all but tables only gathered
    from (a step reads one row of each)."""
    import onnx

    model = onnx.load(str(path))
    uses: dict[str, list] = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            uses.setdefault(name, []).append((node.op_type, i))
    total = 0
    for init in model.graph.initializer:
        if all(op == "Gather" and i == 0 for op, i in uses.get(init.name, [("?", 1)])):
            continue
        total += onnx.numpy_helper.to_array(init).nbytes
    return total


class PeakRss:
    """Context manager: the highest resident set size (MB) seen while inside, polled from /proc."""

    def __enter__(self) -> "PeakRss":
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(RSS_POLL_S):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

"""`ttsx bench`: one fixed Bark workload through eager transformers and through ttsx, in one process.

The workload is the same for every runtime: the same prompts, greedy decoding, and EOS
suppressed, so every run makes exactly `semantic_tokens` semantic tokens per sequence (random
weights would otherwise stop at random points; FACTS.md). Each runtime does one untimed warm-up
run (reported with the load time), then `repeats` timed runs; the table shows medians. Stage times:
transformers' four stage calls, timed one by one as `BarkModel.generate` makes them; ttsx's from the
pipeline's stage boundaries. RTF = wall time / seconds of audio made (all sequences of the batch).
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ttsx.artifact import Artifact, load_artifact

STAGES = ("semantic", "coarse", "fine", "codec")
BENCH_PROMPT = "The quick brown fox jumps over the lazy dog, then rests in the shade of an old oak tree."
RSS_POLL_S = 0.01  # peak-RSS sampling period, seconds


@dataclass(frozen=True)
class Workload:
    """What every runtime is asked to do."""

    semantic_tokens: int = 256  # per sequence, EOS suppressed (5.1 s of audio)
    batch: int = 1  # sequences run together
    repeats: int = 3  # timed runs after one warm-up run


@dataclass
class BenchResult:
    """One runtime's medians over the timed runs."""

    runtime: str
    stage_s: dict[str, float]  # wall seconds per stage (STAGES)
    total_s: float
    audio_s: float  # seconds of audio made, all sequences
    coarse_frames: int  # per sequence (2 coarse tokens each)
    warmup_s: float  # load (or build) plus the untimed first run
    peak_rss_mb: float  # process RSS peak during this runtime's runs
    speedup: float | None = None  # eager transformers' total / this total
    notes: list[str] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        """Real-time factor: wall seconds per second of audio."""
        return self.total_s / self.audio_s


class PeakRss:
    """Context manager: the highest resident set size (MB) seen while inside, polled from /proc."""

    def __enter__(self) -> "PeakRss":
        self.peak, self._stop = _rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(RSS_POLL_S):
            self.peak = max(self.peak, _rss_mb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class StageClock:
    """A pipeline progress callback that times the stages (messages start with the stage name)."""

    def __init__(self):
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._stage, self._start = None, 0.0

    def __call__(self, message: str) -> None:
        self.stop()
        stage = message.split(":")[0]
        self._stage, self._start = (stage if stage in self.seconds else None), time.perf_counter()

    def stop(self) -> None:
        """Close the running stage (call once after the pipeline returns)."""
        if self._stage is not None:
            self.seconds[self._stage] += time.perf_counter() - self._start
        self._stage = None


def run_bench(artifacts: list[str | Path], backends: tuple[str, ...] = ("onnxruntime",),
              workload: Workload = Workload(), baseline: bool = True,
              progress: Callable[[str], None] = lambda m: None) -> list[BenchResult]:
    """Eager transformers (on the first artifact's reference weights), then each artifact on each backend."""
    loaded = [load_artifact(a) for a in artifacts]
    results = []
    if baseline:
        progress("eager transformers fp32: warm-up and timed runs")
        results.append(_transformers(loaded[0], workload))
    for artifact in loaded:
        for backend in backends:
            progress(f"ttsx {backend} {artifact.precision} ({artifact.root}): warm-up and timed runs")
            results.append(_ttsx(artifact, backend, workload))
    if baseline:
        for result in results:
            result.speedup = results[0].total_s / result.total_s
    return results


def _median_runs(run: Callable[[], tuple[dict, float, int]], repeats: int) -> tuple[dict, float, int]:
    runs = [run() for _ in range(repeats)]
    stages = {s: statistics.median(r[0][s] for r in runs) for s in STAGES}
    return stages, runs[0][1], runs[0][2]


def _ttsx(artifact: Artifact, backend: str, workload: Workload) -> BenchResult:
    from ttsx.runtimes.bark_pipeline import BarkPipeline, GenerationOptions
    from ttsx.runtimes.bark_stages import SemanticOptions
    from ttsx.runtimes.sampling import SamplingOptions

    greedy = SamplingOptions(greedy=True)
    options = GenerationOptions(semantic=SemanticOptions(greedy, workload.semantic_tokens, allow_eos=False),
                                coarse=greedy, fine_temperature=None, batch_size=workload.batch)
    texts = [BENCH_PROMPT] * workload.batch

    with PeakRss() as rss:
        start = time.perf_counter()
        pipeline = BarkPipeline(artifact, backend)

        def run():
            clock = StageClock()
            speech = pipeline(texts, options=options, progress=clock)
            clock.stop()
            audio = sum(len(a) for a in speech.audio) / speech.sample_rate
            return clock.seconds, audio, speech.coarse[0].size // 2

        run()
        warmup = time.perf_counter() - start
        stages, audio, coarse = _median_runs(run, workload.repeats)
        pipeline.close()
    return BenchResult(f"ttsx {backend} {artifact.precision}", stages, sum(stages.values()), audio, coarse, warmup,
                       rss.peak)


def _transformers(artifact: Artifact, workload: Workload) -> BenchResult:
    import torch

    from ttsx.parity import reference_model
    from ttsx.runtimes.bark_pipeline import _tokenizer

    c = artifact.recipe.constants
    with PeakRss() as rss:
        start = time.perf_counter()
        model = reference_model(artifact)
        tokens = _tokenizer(artifact).encode(BENCH_PROMPT)[: c.max_text_tokens]
        ids = torch.zeros((workload.batch, c.max_text_tokens), dtype=torch.long)
        ids[:, : len(tokens)] = torch.tensor(tokens)
        mask = (torch.arange(c.max_text_tokens) < len(tokens)).long().expand(workload.batch, -1)

        @torch.no_grad()
        def run():
            return _transformers_stages(model, ids, mask, workload.semantic_tokens, c)

        run()
        warmup = time.perf_counter() - start
        stages, audio, coarse = _median_runs(run, workload.repeats)
    return BenchResult("eager transformers fp32", stages, sum(stages.values()), audio, coarse, warmup, rss.peak,
                       notes=["BarkModel.generate's four stage calls, greedy, EOS suppressed (bad_words_ids)"])


def _transformers_stages(model, ids, mask, semantic_tokens: int, c) -> tuple[dict, float, int]:
    """The stage calls of BarkModel.generate(do_sample=False), each timed; (stage seconds, audio s, coarse frames)."""
    gen, seconds = model.generation_config, {}
    configs = dict(semantic_generation_config=gen.semantic_config, coarse_generation_config=gen.coarse_acoustics_config)
    start = time.perf_counter()
    semantic = model.semantic.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=semantic_tokens,
                                       semantic_generation_config=gen.semantic_config,
                                       bad_words_ids=[[c.semantic_pad]])
    seconds["semantic"], start = time.perf_counter() - start, time.perf_counter()
    coarse = model.coarse_acoustics.generate(semantic, codebook_size=c.codebook_size, do_sample=False, **configs)
    seconds["coarse"], start = time.perf_counter() - start, time.perf_counter()
    fine = model.fine_acoustics.generate(coarse, codebook_size=c.codebook_size,
                                         fine_generation_config=gen.fine_acoustics_config, **configs)
    seconds["fine"], start = time.perf_counter() - start, time.perf_counter()
    audio = model.codec_decode(fine)
    seconds["codec"] = time.perf_counter() - start
    return seconds, audio.numel() / c.sample_rate, coarse.shape[-1] // c.n_coarse_codebooks


def format_results(results: list[BenchResult], workload: Workload) -> str:
    """A plain-text table: per-stage time, total, RTF, speedup, warm-up and peak RSS per runtime."""
    header = ("runtime", "semantic ms/tok", "coarse ms/tok", "fine s", "codec s", "total s", "audio s", "RTF",
              "speedup", "warm-up s", "peak RSS MB")
    lines = []
    for r in results:
        lines.append((r.runtime, f"{r.stage_s['semantic'] * 1e3 / workload.semantic_tokens:.2f}",
                      f"{r.stage_s['coarse'] * 1e3 / max(1, 2 * r.coarse_frames):.2f}", f"{r.stage_s['fine']:.2f}",
                      f"{r.stage_s['codec']:.2f}", f"{r.total_s:.2f}", f"{r.audio_s:.2f}", f"{r.rtf:.3f}",
                      "-" if r.speedup is None else f"{r.speedup:.2f}x", f"{r.warmup_s:.1f}", f"{r.peak_rss_mb:.0f}"))
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    fmt = "  ".join(f"{{:>{w}}}" if i else f"{{:<{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def to_json(results: list[BenchResult], workload: Workload) -> dict:
    """Machine, versions, workload and results, for --json."""
    import platform

    from ttsx.exporter.export import library_versions

    return {"machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "versions": library_versions(), "workload": asdict(workload),
            "results": [{**asdict(r), "rtf": r.rtf} for r in results]}

"""`ttsx bench`: one fixed workload through the family's eager reference and through ttsx, in one process.

The workload is the same for every runtime: the same prompts, greedy decoding, and EOS
suppressed, so every run makes exactly `tokens` first-stage tokens per sequence (random weights
would otherwise stop at random points). Each runtime does one untimed warm-up run
(reported with the load time), then `repeats` timed runs; the table shows medians. Stage times: the
reference's own stage calls, timed one by one (the family's eager baseline); ttsx's from the
pipeline's stage boundaries (`Speech.seconds`). RTF = wall time / seconds of audio made (all
sequences of the batch).

With several batch sizes every runtime runs each of them. A batch holds prompts of different
lengths (BENCH_PROMPTS, cycled; batch 1 is the first); throughput is audio seconds made per wall
second, and a request's latency is the batch's wall time (every request of a batch finishes with it).
The tables and the picture: ttsx/app/bench_report.py; the machine probes: ttsx/app/probes.py.

The batching ceiling: a batch of B rows can at best share its decode steps' weight reads and per-call
work (one step of B rows costing no more than a step of one, but for each row's own cache reads), while
everything else (prefills, graphs without a cache, the host's work) grows with B, as it does on a CPU
whose GEMMs already run at their peak. So from batch 1's run on onnxruntime, with S the seconds its
decode steps took (cached graphs' one-token calls, timed) and C the part of them reading the filled
caches (bytes counted per step / the read bandwidth measured at the start), batch B can at best take about
(S - C) + B x (T1 - S + C) seconds for B times the audio: the table shows that ceiling and the share of
it reached. It is a model (it leaves out the decode steps' extra multiply-adds at batch B), so a run
can land a few per cent above it within run-to-run noise.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ttsx.base.progress import Progress, silent
from ttsx.artifact.manifest import Artifact, load_artifact
from ttsx.base.progress import counter, quiet_third_party
from ttsx.recipes import get_family
from ttsx.recipes.family import BENCH_PROMPTS
from ttsx.runtimes.session import SessionWrapper, StageSession

from .probes import PeakRss, read_bandwidth_gbs, step_weight_bytes

Run = Callable[[], tuple[dict, float, dict]]  # -> (seconds per stage, audio seconds, steps per stage)


@dataclass(frozen=True)
class Workload:
    """What every runtime is asked to do."""

    tokens: int = 256  # first-stage tokens per sequence, EOS suppressed
    batches: tuple[int, ...] = (1,)  # sequences run together; every runtime runs each size
    repeats: int = 3  # timed runs after one warm-up run

    def texts(self, batch: int, family=None) -> list[str]:
        """The batch's prompts: the family's bench prompts (Family.bench_prompts; BENCH_PROMPTS) cycled."""
        prompts = family.bench_prompts() if family is not None else BENCH_PROMPTS
        return [prompts[i % len(prompts)] for i in range(batch)]


@dataclass
class BenchResult:
    """One runtime's medians over the timed runs."""

    runtime: str
    batch: int  # sequences run together
    stage_s: dict[str, float]  # wall seconds per stage, in pipeline order
    total_s: float
    audio_s: float  # seconds of audio made, all sequences
    steps: dict[str, int]  # generated tokens per sequence, per autoregressive stage
    warmup_s: float  # load (or build) plus the untimed first run
    peak_rss_mb: float  # process RSS peak during this runtime's runs
    speedup: float | None = None  # the eager reference's total / this total
    notes: list[str] = field(default_factory=list)
    decode_weight_mb: float | None = None  # weight bytes all decode steps of one run read (onnxruntime runs)
    decode_cache_mb: float | None = None  # filled-cache bytes all decode steps of one run read (onnxruntime runs)
    phases: dict[str, dict] | None = None  # cached graph -> {prefill|steps: {"calls", "s"}} per run (onnxruntime)
    read_gbs: float | None = None  # the machine's measured read bandwidth

    @property
    def rtf(self) -> float:
        """Real-time factor: wall seconds per second of audio."""
        return self.total_s / self.audio_s

    @property
    def throughput(self) -> float:
        """Audio seconds made per wall second (all sequences of the batch)."""
        return self.audio_s / self.total_s

    @property
    def latency_s(self) -> float:
        """A request's wall time: the batch's (every request of a batch finishes with it)."""
        return self.total_s


@quiet_third_party
def run_bench(artifacts: list[str | Path], backends: tuple[str, ...] = ("onnxruntime",),
              workload: Workload = Workload(), baseline: bool = True,
              progress: Progress = silent) -> list[BenchResult]:
    """The eager reference (on the first artifact's reference weights), then each artifact on each backend."""
    loaded = [load_artifact(a) for a in artifacts]
    families = {a.recipe.family for a in loaded}
    if len(families) > 1:
        from ttsx.base.errors import TtsxError

        raise TtsxError(f"bench compares one model family at a time; got artifacts of {sorted(families)}")
    torch_backends = sum(b.startswith("torch") for b in backends)
    bandwidth = read_bandwidth_gbs()
    results, runtimes = [], int(baseline) + len(loaded) * (len(backends) - torch_backends) + torch_backends
    with counter(progress, "runtimes x batches timed", runtimes * len(workload.batches)) as advance:
        for batch in workload.batches:
            results += _bench_batch(loaded, backends, workload, baseline, batch, progress, advance)
    for result in results:
        result.read_gbs = bandwidth
    return results


class _PhaseClock(SessionWrapper):
    """Counts and times a cached graph's calls by phase: prefills (several positions) and decode steps (one)."""

    def __init__(self, inner: StageSession):
        super().__init__(inner)
        self.reset()
        self._per_position = sum(int(np.prod([d for d in t.shape if isinstance(d, int)])) * np.dtype(t.dtype).itemsize
                                 for t in inner.spec.inputs if any(t.name == pair.past for pair in inner.spec.cache))

    def reset(self) -> None:
        """Forget what was counted (the warm-up run's calls)."""
        self.calls = {"prefill": 0, "steps": 0}
        self.seconds = {"prefill": 0.0, "steps": 0.0}
        self.cache_bytes = 0  # the filled positions (every cache tensor) the steps read

    def _run(self, feed: dict, host) -> dict:
        phase = "steps" if self.describe(feed[self.spec.positions_input])[0][1] == 1 else "prefill"
        if phase == "steps":
            self.cache_bytes += int(np.sum(feed[self.spec.lengths.cached]) + len(feed[self.spec.lengths.cached])) \
                * self._per_position
        start = time.perf_counter()
        try:
            return super()._run(feed, host)
        finally:
            self.calls[phase] += 1
            self.seconds[phase] += time.perf_counter() - start


def _bench_batch(loaded: list, backends, workload: Workload, baseline: bool, batch: int, progress, advance) -> list:
    """The eager reference and each artifact on each backend at one batch size; speedups against the first."""
    group = []
    if baseline:
        progress(f"batch {batch}: eager {loaded[0].recipe.family} fp32: warm-up and timed runs")
        group += _eager(loaded[0], workload, batch, progress)
        advance()
    for i, artifact in enumerate(loaded):
        for backend in backends:
            if backend.startswith("torch") and i:  # the torch backends run the reference weights: once
                continue
            progress(f"batch {batch}: ttsx {backend} {artifact.precision} ({artifact.root}): warm-up and timed runs")
            result = _ttsx(artifact, backend, workload, batch)
            if not backend.startswith("torch") and sum(a.precision == artifact.precision for a in loaded) > 1:
                result.runtime += f" ({artifact.root})"  # two artifacts of one precision: say which
            group.append(result)
            advance()
    if baseline:
        for result in group:
            result.speedup = group[0].total_s / result.total_s
    return group


def _timed(load: Callable[[], Run], repeats: int, warmed: Callable[[], None] = lambda: None
           ) -> tuple[dict, float, dict, float, float]:
    """Load, one warm-up run, `warmed()`, `repeats` timed runs: (median stage seconds, audio s, steps, warm-up s,
    peak RSS)."""
    with PeakRss() as rss:
        start = time.perf_counter()
        run = load()
        run()
        warmup = time.perf_counter() - start
        warmed()
        runs = [run() for _ in range(repeats)]
    stages = {s: statistics.median(r[0][s] for r in runs) for s in runs[0][0]}
    return stages, runs[0][1], runs[0][2], warmup, rss.peak


def _ttsx(artifact: Artifact, backend: str, workload: Workload, batch: int) -> BenchResult:
    from ttsx.runtimes.factory import open_pipeline
    from ttsx.runtimes.pipeline import SynthesisOptions

    options = SynthesisOptions(greedy=True, max_tokens=workload.tokens, stop_at_eos=False, batch_size=batch)
    texts = workload.texts(batch, get_family(artifact.recipe.family))
    pipelines, counted = [], {}

    def count(session: StageSession) -> StageSession:
        if backend != "onnxruntime" or session.spec.lengths is None:
            return session
        counted[session.spec.name] = _PhaseClock(session)
        return counted[session.spec.name]

    compiles = _CompileCount(backend)

    def load() -> Run:
        reference = None
        if backend.startswith("torch"):
            from ttsx.runtimes.reference import reference_model

            reference = reference_model(artifact)
        pipelines.append(open_pipeline(artifact, backend, reference, wrap=count))

        def run():
            compiles.mark()
            speech = pipelines[0](texts, options=options)
            return speech.seconds, sum(len(a) for a in speech.audio) / speech.sample_rate, speech.steps

        return run

    try:
        stages, audio, steps, warmup, peak = _timed(load, workload.repeats,
                                                    warmed=lambda: [c.reset() for c in counted.values()])
    finally:
        for pipeline in pipelines:
            pipeline.close()
    compiles.check()
    precision = "fp32" if backend.startswith("torch") else artifact.precision
    runs = workload.repeats  # the clocks count the timed runs (reset after the warm-up)
    weights = sum(c.calls["steps"] / runs * step_weight_bytes(artifact.graph_path(name)) for name, c in counted.items())
    phases = {name: {phase: {"calls": c.calls[phase] / runs, "s": c.seconds[phase] / runs} for phase in c.calls}
              for name, c in counted.items()}
    cache = sum(c.cache_bytes / runs for c in counted.values())
    return BenchResult(f"ttsx {backend} {precision}", batch, stages, sum(stages.values()), audio, steps,
                       warmup, peak, notes=compiles.notes(), decode_weight_mb=weights / 1e6 if counted else None,
                       decode_cache_mb=cache / 1e6 if counted else None, phases=phases or None)


class _CompileCount:
    """torch.compile's graph count at each run: a graph compiled after the warm-up run fails the benchmark."""

    def __init__(self, backend: str):
        self.counts: list[int] = [] if backend == "torch-compiled" else None

    def mark(self) -> None:
        """Record the count before a run."""
        if self.counts is not None:
            from ttsx.runtimes.torch_compiled_backend import compiled_graphs

            self.counts.append(compiled_graphs())

    def check(self) -> None:
        """Raise if any timed run compiled (the first mark is before the warm-up run)."""
        if self.counts is None:
            return
        self.mark()
        timed = self.counts[-1] - self.counts[1]
        if timed:
            from ttsx.base.errors import TtsxError

            raise TtsxError(f"torch.compile compiled {timed} graph(s) during the timed runs (after the warm-up); "
                            "the shape buckets miss a shape: this benchmark is void")

    def notes(self) -> list[str]:
        """The graphs compiled in the warm-up."""
        if self.counts is None:
            return []
        return [f"torch.compile: {self.counts[1] - self.counts[0]} graph(s) compiled in the warm-up, 0 after"]


def _eager(artifact: Artifact, workload: Workload, batch: int, progress: Progress = silent) -> list[BenchResult]:
    """The family's eager baseline, then each of its other baselines (Family.other_baselines), each timed alone."""
    from ttsx.runtimes.reference import reference_model

    family = get_family(artifact.recipe.family)
    texts = workload.texts(batch, family)

    def load() -> Run:
        return family.eager_baseline(reference_model(artifact), artifact, texts, workload.tokens)

    stages, audio, steps, warmup, peak = _timed(load, workload.repeats)
    results = [BenchResult(f"eager {family.name} fp32", batch, stages, sum(stages.values()), audio, steps, warmup,
                           peak, notes=[f"the reference's own stage calls ({family.name}), greedy, EOS suppressed"])]
    for label, make in family.other_baselines(reference_model(artifact), artifact, texts, workload.tokens).items():
        progress(f"batch {batch}: {label}: warm-up and timed runs")
        stages, audio, steps, warmup, peak = _timed(make, workload.repeats)
        results.append(BenchResult(label, batch, stages, sum(stages.values()), audio, steps, warmup, peak,
                                   notes=[f"the reference's own {label} ({family.name}), greedy, EOS suppressed"]))
    return results

"""`ttsx bench`'s report: the plain-text tables, the JSON and the picture (matplotlib, ttsx[bench])."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .bench import BenchResult, Workload
from .probes import machine


def format_results(results: list[BenchResult], workload: Workload) -> str:
    """Plain-text tables: per-stage time (ms/token for generated stages), total, RTF, speedup, warm-up, RSS;
    with several batch sizes, also throughput and latency per runtime and batch."""
    stages = list(results[0].stage_s)
    per_token = [s for s in stages if results[0].steps.get(s)]
    header = (("batch", "runtime") + tuple(f"{s} ms/tok" if s in per_token else f"{s} s" for s in stages)
              + ("total s", "audio s", "RTF", "speedup", "warm-up s", "peak RSS MB"))
    lines = []
    for r in results:
        cells = [f"{r.stage_s.get(s, 0.0) * 1e3 / max(1, r.steps.get(s, 1)):.2f}" if s in per_token
                 else f"{r.stage_s.get(s, 0.0):.2f}" for s in stages]
        lines.append((str(r.batch), r.runtime, *cells, f"{r.total_s:.2f}", f"{r.audio_s:.2f}", f"{r.rtf:.3f}",
                      "-" if r.speedup is None else f"{r.speedup:.2f}x", f"{r.warmup_s:.1f}", f"{r.peak_rss_mb:.0f}"))
    tables = [_table(header, lines)]
    if len(workload.batches) > 1:
        first = {r.runtime: r for r in results if r.batch == workload.batches[0]}
        rows = []
        for r in sorted(results, key=lambda r: r.runtime):
            ceiling = batching_ceiling(first[r.runtime], r.batch)
            rows.append((r.runtime, str(r.batch), f"{r.throughput:.3f}",
                         f"{r.throughput / first[r.runtime].throughput:.2f}x", f"{r.latency_s:.2f}", f"{r.rtf:.3f}",
                         "-" if ceiling is None else f"{ceiling:.3f}",
                         "-" if ceiling is None else f"{r.throughput / ceiling:.0%}"))
        tables.append(_table(("runtime", "batch", "audio s per wall s", f"vs batch {workload.batches[0]}",
                              "latency s", "RTF", "ceiling", "of ceiling"), rows))
        tables.append("ceiling: audio s per wall s batch B can reach if its decode steps cost what batch 1's did but for "
                      "each row's cache reads, and everything else grows with B (from batch 1's run: (S - C) + B x "
                      "(T - S + C) seconds, S its decode steps' time, C their cache bytes / the read bandwidth); "
                      "- where not timed")
    phased = [r for r in results if r.phases]
    if phased:
        lines = []
        for r in phased:
            inside = sum(p["s"] for graph in r.phases.values() for p in graph.values())
            cells = [f"{p['s']:.2f} ({p['calls']:.0f})" for graph in r.phases.values() for p in graph.values()]
            gbs = r.read_gbs or float("nan")
            lines.append((str(r.batch), r.runtime, *cells, f"{r.decode_weight_mb / gbs / 1e3:.2f}",
                          f"{r.decode_cache_mb / gbs / 1e3:.2f}", f"{r.total_s - inside:.2f}", f"{r.total_s:.2f}"))
        header = ("batch", "runtime", *(f"{g} {phase} s (calls)" for g, graph in phased[0].phases.items()
                                        for phase in graph), "steps' weights s", "steps' caches s", "rest s", "total s")
        tables.append(_table(header, lines) + "\n(cached graphs' calls timed by phase, averaged over the runs; steps' "
                      "weights / caches: the bytes the decode steps read / the read bandwidth measured at the start, "
                      "the floor of those reads; rest: every other graph and the host's work)")
    return "\n\n".join(tables)


def batching_ceiling(single: BenchResult, batch: int) -> float | None:
    """The throughput batch `batch` can at best reach from `single`'s run (the module docstring), or None."""
    if not single.phases or single.batch != 1 or not single.read_gbs:
        return None
    steps = sum(graph["steps"]["s"] for graph in single.phases.values())
    shared = min(max(steps - single.decode_cache_mb * 1e6 / (single.read_gbs * 1e9), 0.0), single.total_s)
    return batch * single.audio_s / (shared + batch * (single.total_s - shared))


def _table(header: tuple, lines: list[tuple]) -> str:
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    fmt = "  ".join(f"{{:>{w}}}" if i != 1 else f"{{:<{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def time_segments(result: BenchResult) -> dict[str, float]:
    """Where one run's wall time goes, seconds: each cached graph's prefills and decode steps where they were
    timed by phase, then the rest (other graphs, the host); else each stage."""
    if not result.phases:
        return dict(result.stage_s)
    segments = {f"{graph} {'decode steps' if phase == 'steps' else phase}": timing["s"]
                for graph, phases in result.phases.items() for phase, timing in phases.items()}
    segments["rest"] = max(result.total_s - sum(segments.values()), 0.0)
    return segments


def write_plot(results: list[BenchResult], workload: Workload, path: Path, machine: str) -> None:
    """A PNG: per runtime a stacked bar of where the time goes at the first batch size (stages, or prefill vs
    decode steps vs the rest where timed by phase) with its speedup written on it; with several batch sizes,
    also throughput against the batch size per runtime."""
    try:
        import matplotlib
    except ImportError:
        from ttsx.base.errors import TtsxError

        raise TtsxError("the bench plot needs matplotlib: pip install 'ttsx[bench]' (or drop --json)") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    batch = workload.batches[0]
    first = [r for r in results if r.batch == batch]
    curves = len(workload.batches) > 1
    figure, axes = plt.subplots(1, 2 if curves else 1, figsize=(13 if curves else 9, 2.6 + 0.45 * len(first)),
                                squeeze=False, gridspec_kw={"width_ratios": [2, 1]} if curves else None)
    bars = axes[0][0]
    labels = list(dict.fromkeys(label for r in first for label in time_segments(r)))
    colours = {label: plt.cm.tab20(i % 20) for i, label in enumerate(labels)}
    rows = list(reversed(first))  # the first runtime (the eager reference) on top
    for y, r in enumerate(rows):
        left = 0.0
        for label, seconds in time_segments(r).items():
            bars.barh(y, seconds, left=left, color=colours[label], edgecolor="white", linewidth=0.5,
                      label=label if y == 0 or label not in time_segments(rows[0]) else None)
            left += seconds
        note = f" {r.total_s:.3g} s" + ("" if r.speedup is None else f", {r.speedup:.2f}x")
        bars.text(left, y, note, va="center", fontsize=8)
    bars.set_yticks(range(len(rows)), [r.runtime for r in rows], fontsize=8)
    bars.set_xlabel(f"wall seconds at batch {batch} (median of {workload.repeats}), and the speedup over the eager "
                    "reference")
    bars.set_xlim(0, max(r.total_s for r in first) * 1.3)
    handles, names = bars.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    bars.legend(unique.values(), unique.keys(), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3),
                ncol=min(len(unique), 4), frameon=False)
    bars.grid(axis="x", alpha=0.3)
    if curves:
        right = axes[0][1]
        for runtime in dict.fromkeys(r.runtime for r in results):
            mine = sorted((r for r in results if r.runtime == runtime), key=lambda r: r.batch)
            right.plot([r.batch for r in mine], [r.throughput for r in mine], marker="o", label=runtime)
        right.set(xlabel="batch size", ylabel="audio seconds per wall second", title="throughput (higher is better)")
        right.set_xticks(list(workload.batches))
        right.grid(alpha=0.3)
        right.legend(fontsize=7)
    figure.suptitle(f"ttsx bench: {workload.tokens} first-stage tokens per sequence, greedy, EOS suppressed\n{machine}",
                    fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)


def to_json(results: list[BenchResult], workload: Workload) -> dict:
    """Machine, versions, workload and results, for --json."""
    from ttsx.base.versions import library_versions

    return {"machine": machine(), "versions": library_versions(), "workload": asdict(workload),
            "results": [{**asdict(r), "rtf": r.rtf, "throughput": r.throughput, "latency_s": r.latency_s}
                        for r in results]}

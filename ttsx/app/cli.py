"""The `ttsx` command line: each command parses options, finds the recipe, calls one library function.

Heavy imports (torch, transformers, onnxruntime) happen inside commands so `ttsx --help` is instant.
"""
from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import click

from ttsx import __version__
from ttsx.base.errors import TtsxError
from ttsx.base.progress import ConsoleProgress
from ttsx.recipes.precision import ENGINE_PRECISIONS, PRECISIONS
from ttsx.recipes.spec import KV_CACHES
from ttsx.runtimes import BACKENDS

ENGINES_HELP = "TensorRT engine directory for --backend tensorrt (default: ARTIFACT/engines)."


_progress = ConsoleProgress()  # lines on stderr; bars for counted work on a terminal


def _friendly_errors(command):
    """Turn TtsxError into a one-line message and exit status 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TtsxError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="ttsx")
def main() -> None:
    """Export multi-stage TTS models to ONNX/TensorRT and run them, checked against PyTorch."""


@main.command("recipes")
def recipes_command() -> None:
    """List the registered recipes."""
    from ttsx.recipes import get_recipe, recipe_names

    for name in recipe_names():
        recipe = get_recipe(name)
        click.echo(f"{name:12s} {recipe.family:8s} {recipe.description}")


@main.command("info")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--verify", is_flag=True, help="Also hash every file against the manifest (reads every byte).")
@_friendly_errors
def info_command(artifact, verify) -> None:
    """What ARTIFACT is: recipe, precision, graphs with sizes and I/O, voices, tokenizer, source, readiness."""
    from ttsx.app.info import describe

    click.echo(describe(artifact, verify))


@main.command("export")
@click.option("--recipe", "recipe_name", required=True, help="Recipe name (see `ttsx recipes`).")
@click.option("--model", "model", default=None, help="Checkpoint directory (save_pretrained snapshot) or hub id.")
@click.option("--random-weights", is_flag=True, help="Use the recipe's architecture with seeded random weights.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --random-weights.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Artifact directory.")
@click.option("--force", is_flag=True, help="Replace an existing artifact at --output.")
@click.option("--kv-cache", type=click.Choice(list(KV_CACHES)), default="onnxruntime", show_default=True,
              help="How causal graphs update their fixed-capacity KV cache in place: onnxruntime's "
                   "GroupQueryAttention, or TensorScatter (opset 24) for TensorRT (also runs on onnxruntime).")
@_friendly_errors
def export_command(recipe_name, model, random_weights, seed, output, force, kv_cache) -> None:
    """Export every graph of a recipe to OUTPUT (ONNX + manifest.json)."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes import get_family, get_recipe
    from ttsx.recipes.source import ModelSource

    recipe = get_recipe(recipe_name)  # fail on a bad name before loading anything heavy
    source = ModelSource.parse(model, random_weights, seed, get_family(recipe.family).source_hint())
    out = export_artifact(ExportOptions(recipe_name, source, output, force, kv_cache=kv_cache), progress=_progress)
    click.echo(f"exported {recipe_name} to {out}")


@main.command("quantize")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--precision", type=click.Choice([p for p in PRECISIONS if p != "fp32"]), required=True,
              help="fp16 and int8-qdq are shaped for TensorRT; int8 and int4 (int4 decode steps, int8 prefills) for "
                   "onnxruntime on the CPU.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="New artifact directory.")
@click.option("--force", is_flag=True, help="Replace an existing artifact at --output.")
@click.option("--calibration-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="UTF-8 prompts, one per line, for int8-qdq calibration (default: built-in prompts).")
@click.option("--keep-fp32", "keep_fp32", multiple=True, metavar="GRAPH[:REGEX]",
              help="Leave this graph fp32 (repeatable): a per-graph mix, for int8, int8-qdq and int4. "
                   "GRAPH:REGEX (int8): only GRAPH's weight MatMuls whose node name matches REGEX, e.g. "
                   "'decoder:heads_module'.")
@_friendly_errors
def quantize_command(source, precision, output, force, calibration_file, keep_fp32) -> None:
    """Make a reduced-precision artifact from the fp32 artifact SOURCE (check it with `ttsx parity`)."""
    from ttsx.app.quantize import quantize_artifact
    from ttsx.exporter.quantize import QuantizeOptions

    prompts = tuple(_read_texts(None, calibration_file)) if calibration_file else None
    options = QuantizeOptions(source, precision, output, force, prompts, keep_fp32=tuple(keep_fp32))
    out = quantize_artifact(options, progress=_progress)
    click.echo(f"wrote {precision} artifact {out}")


@main.command("build-engine")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--precision", type=click.Choice([p for p in ENGINE_PRECISIONS if p != "int8-qdq"]), default=None,
              help="Engine precision (default: the artifact's). From an fp32 artifact, fp16 and int8 graphs are "
                   "made on the way (int8: explicit Q/DQ, calibrated like `ttsx quantize --precision int8-qdq`).")
@click.option("--max-batch", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Largest batch the engines accept.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Engine directory (default: ARTIFACT/engines).")
@click.option("--timing-cache", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Timing cache file shared across builds (read if present, then updated; TensorRT 11 only: "
                   "TensorRT for RTX has none).")
@click.option("--workspace-mib", type=click.IntRange(min=1), default=None, help="Builder workspace limit, MiB.")
@click.option("--builder", type=click.Choice(["auto", "tensorrt", "tensorrt-rtx"]), default="auto", show_default=True,
              help="tensorrt: TensorRT 11, builds on and for this machine's GPU. tensorrt-rtx: TensorRT for RTX, "
                   "builds without a GPU. auto: TensorRT 11 where it and a GPU are usable, else TensorRT for RTX.")
@click.option("--compute-capability", "compute_capabilities", multiple=True, metavar="CC",
              help="TensorRT for RTX only: a GPU compute capability to build for (repeatable: 7.5, 8.0, 8.6, 8.9, "
                   "12.0, 12.1). Default: its own, 8.0, 8.6, 8.9 and 12.x.")
@click.option("--force", is_flag=True, help="Replace an existing engine directory.")
@_friendly_errors
def build_engine_command(artifact, precision, max_batch, output, timing_cache, workspace_mib, builder,
                         compute_capabilities, force) -> None:
    """Build one TensorRT engine per graph of ARTIFACT, with TensorRT 11 (needs an NVIDIA GPU; its engines run
    on that GPU model) or TensorRT for RTX (needs no GPU to build; its engines run on RTX-class GPUs of
    compute capability 8.0, 8.6, 8.9 and 12.x, 7.5 when asked for; not on Hopper, H100/H200).

    Graphs that fail the TensorRT-readiness check are refused before anything is built.
    Export for TensorRT with `ttsx export --recipe NAME --kv-cache tensorrt`.
    """
    from ttsx.exporter.tensorrt_build import BuildOptions, build_engines
    from ttsx.runtimes.recording import capture_feeds  # int8 from an fp32 artifact calibrates on the pipeline

    options = BuildOptions(artifact, output, precision, max_batch, timing_cache, workspace_mib, force,
                           None if builder == "auto" else builder, tuple(compute_capabilities))
    out = build_engines(options, progress=_progress, capture=capture_feeds)
    click.echo(f"wrote TensorRT engines to {out}")


@main.command("parity")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(BACKENDS), default="onnxruntime", show_default=True)
@click.option("--engines", type=click.Path(path_type=Path), default=None, help=ENGINES_HELP)
@click.option("--model", "model_dir", default=None, help="Checkpoint the artifact was exported from, if moved.")
@click.option("--graph", "graphs", multiple=True, help="Only these graphs (repeatable).")
@click.option("--end-to-end/--no-end-to-end", default=True, show_default=True,
              help="Also compare the whole pipeline's greedy tokens with the fp32 PyTorch pipeline's "
                   "(fp32: identical; fp16/int8: teacher-forced next-token choices against the budget).")
@_friendly_errors
def parity_command(artifact, backend, engines, model_dir, graphs, end_to_end) -> None:
    """Compare ARTIFACT with the fp32 PyTorch reference, per graph and end to end; exit 1 on any failure.

    fp32 artifacts are held to element-wise tolerances, fp16/int8 artifacts to the recipe's budget;
    rows marked "info" (free-running agreement of a reduced precision) are reported, not judged.
    """
    from ttsx.checks.parity import failures, format_table, run_parity

    rows = run_parity(artifact, backend, model_dir, tuple(graphs), progress=_progress, end_to_end=end_to_end,
                      **_engine_options(backend, engines))
    click.echo(format_table(rows))
    failed, reported = failures(rows), sum(r.passed is None for r in rows)
    click.echo(f"{len(rows) - len(failed) - reported} passed, {len(failed)} failed"
               + (f" ({reported} rows reported, not judged)" if reported else ""))
    if failed:
        sys.exit(1)


class _BatchList(click.Command):
    """`--batch 1 4 8` means `--batch 1 --batch 4 --batch 8`."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, expand_batches(args))


def expand_batches(args: list[str]) -> list[str]:
    """Plain integers right after `--batch N` are more batch sizes, each given its own --batch."""
    expanded, state = [], None  # state: "value" (next arg is --batch's), "more" (digits are more sizes)
    for arg in args:
        if state == "value":
            expanded.append(arg)
            state = "more"
        elif state == "more" and arg.isdigit():
            expanded += ["--batch", arg]
        else:
            expanded.append(arg)
            state = "value" if arg == "--batch" else "more" if arg.startswith("--batch=") else None
    return expanded


@main.command("bench", cls=_BatchList)
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--backend", "backends", multiple=True, type=click.Choice([b for b in BACKENDS if b != "torch"]),  # eager torch is the baseline row
              default=("onnxruntime",), show_default=True,
              help="ttsx backends to run (repeatable); torch-compiled runs the reference weights, once.")
@click.option("--tokens", type=click.IntRange(min=1), default=256, show_default=True,
              help="First-stage tokens per sequence; EOS is suppressed so every run makes exactly "
                   "this many.")
@click.option("--batch", "batches", type=click.IntRange(1, 64), multiple=True, default=(1,), show_default=True,
              help="Batch sizes, e.g. --batch 1 4 8: every runtime runs each; prints throughput (audio seconds per "
                   "wall second) and per-request latency, and with --json writes a PNG plot beside it.")
@click.option("--repeats", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Timed runs per runtime, after one untimed warm-up run; medians are shown.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run the family's eager PyTorch reference (fp32) on the first artifact's weights.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write machine, versions, workload and results as JSON.")
@_friendly_errors
def bench_command(artifacts, backends, tokens, batches, repeats, baseline, json_path) -> None:
    """Time a fixed workload through the eager reference and each ARTIFACT (greedy, EOS suppressed)."""
    import json

    from ttsx.app.bench import Workload, run_bench
    from ttsx.app.bench_report import format_results, to_json, write_plot
    from ttsx.app.probes import machine

    from ttsx.base.files import check_output, write_atomic

    workload = Workload(tokens, tuple(sorted(set(batches))), repeats)
    for path in (json_path, json_path.with_suffix(".png")) if json_path else ():
        check_output(path, "--json")
    results = run_bench(list(artifacts), tuple(backends), workload, baseline, progress=_progress)
    info = machine()
    flags = " ".join(info["flags"]) or "no AVX2/AVX-512/VNNI"
    click.echo(f"machine: {info['processor']}, {info['cpus']} CPUs, flags {flags}; workload: {tokens} first-stage tokens per "
               f"sequence x batch {', '.join(map(str, workload.batches))}, greedy, EOS suppressed; median of "
               f"{repeats} runs after 1 warm-up")
    click.echo(format_results(results, workload))
    if json_path:
        text = json.dumps(to_json(results, workload), indent=2) + "\n"
        write_atomic(json_path, lambda tmp: tmp.write_text(text, encoding="utf-8"), "--json")
        plot = json_path.with_suffix(".png")
        write_atomic(plot, lambda tmp: write_plot(results, workload, tmp, f"{info['processor']}, {info['cpus']} CPUs"),
                     "plot")
        click.echo(f"wrote {json_path} and {plot}")


def _engine_options(backend: str, engines: Path | None) -> dict:
    if engines is not None and backend != "tensorrt":
        raise click.UsageError("--engines is for --backend tensorrt")
    return {"engines": engines} if backend == "tensorrt" else {}


def _read_texts(text: str | None, batch_file: Path | None) -> list[str]:
    if (text is None) == (batch_file is None):
        raise click.UsageError("give either TEXT or --batch-file (one text per line), not both or neither")
    if batch_file is None:
        return [text]
    from ttsx.base.files import MAX_TEXT_FILE_BYTES, read_regular

    try:
        lines = read_regular(batch_file, MAX_TEXT_FILE_BYTES, "--batch-file").decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{batch_file} is not valid UTF-8 ({exc}); save it as UTF-8",
                                 param_hint="--batch-file") from None
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise click.BadParameter(f"{batch_file} holds no text", param_hint="--batch-file")
    return texts


SYNTHESIS_FLAGS = (  # each becomes the SynthesisOptions field of its name
    click.option("--instructions", default=None,
                 help="How to speak, in words (a description of the voice), for models whose voices are descriptions."),
    click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
                 help="Seed for sampling (reproducible output)."),
    click.option("--greedy", is_flag=True, help="Argmax decoding (the reference's deterministic setting)."),
    click.option("--temperature", type=float, default=None, help="Sampling temperature (default: the model's own)."),
    click.option("--top-k", type=click.IntRange(min=1), default=None),
    click.option("--top-p", type=float, default=None, help="Nucleus sampling mass in (0, 1]."),
    click.option("--max-tokens", type=click.IntRange(min=1), default=None,
                 help="First-stage tokens per text piece; default and limit: the recipe's."),
)


def _synthesis_options(command):
    """The SYNTHESIS_FLAGS, handed to `command` as one `options` (ttsx.SynthesisOptions)."""
    names = ("instructions", "seed", "greedy", "temperature", "top_k", "top_p", "max_tokens")

    @functools.wraps(command)
    def run(*args, **kwargs):
        from ttsx.runtimes.pipeline import SynthesisOptions

        return command(*args, options=SynthesisOptions(**{n: kwargs.pop(n) for n in names}), **kwargs)

    for flag in reversed(SYNTHESIS_FLAGS):
        run = flag(run)
    return run


@main.command("synthesize")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.argument("text", required=False)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="WAV file.")
@click.option("--batch-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="UTF-8 file, one text per line: synthesized as one batch into OUTPUT-001.wav, ...")
@click.option("--voice", default=None, help="Voice preset name from the artifact, or a path to a voice file.")
@click.option("--backend", type=click.Choice(BACKENDS), default="onnxruntime", show_default=True)
@click.option("--engines", type=click.Path(path_type=Path), default=None, help=ENGINES_HELP)
@click.option("--stream", is_flag=True,
              help="Write the audio as it is made: OUTPUT.partial grows chunk by chunk (a valid WAV throughout) and "
                   "becomes OUTPUT at the end; with -o - raw 16-bit mono PCM goes to stdout instead.")
@click.option("--chunk", type=click.IntRange(min=1), default=None,
              help="--stream: decoder steps per chunk (default: the family's reference streamer's).")
@click.option("--skip", type=click.IntRange(min=0), default=None,
              help="--stream: chunks decoded but not sent first (where the family's streamer has it).")
@click.option("--max-samples", type=click.IntRange(min=1), default=None,
              help="--stream: samples one chunk sends at most (where the family's streamer has it).")
@click.option("--overlap", type=click.IntRange(min=0), default=None,
              help="--stream: samples held back at a chunk's end (where the family's streamer has it).")
@_friendly_errors
@_synthesis_options
def synthesize_command(artifact, text, output, batch_file, voice, backend, engines, stream, chunk, skip, max_samples,
                       overlap, options) -> None:
    """Synthesize TEXT (or --batch-file) with ARTIFACT into WAV at the model's sample rate."""
    import ttsx
    from ttsx.runtimes.pipeline import StreamOptions

    streaming = StreamOptions(chunk=chunk, skip=skip, max_samples=max_samples, overlap=overlap)
    if stream:
        if batch_file is not None or text is None:
            raise click.BadParameter("--stream takes one TEXT (not --batch-file)", param_hint="--stream")
        return _stream_to(output, artifact, text, voice, backend, engines, options, streaming)
    if streaming.given():
        raise click.BadParameter(f"{', '.join('--' + n.replace('_', '-') for n in streaming.given())} "
                                 "only apply with --stream", param_hint="--stream")
    texts = _read_texts(text, batch_file)
    from ttsx.base.audio import output_paths, write_wav
    from ttsx.base.files import check_output

    for path in output_paths(output, len(texts)):
        check_output(path, "-o")

    with ttsx.load(artifact, backend=backend, **_engine_options(backend, engines)) as pipeline:
        if pipeline.random_weights:
            _progress("random-weights artifact: the audio is noise, not speech")
        speech = pipeline(texts, voice=voice, options=options, progress=_progress)
    for path, audio in zip(output_paths(output, len(texts)), speech.audio):
        write_wav(path, audio, speech.sample_rate)
        click.echo(f"wrote {path} ({len(audio) / speech.sample_rate:.2f} s)")


def _stream_to(output: Path, artifact, text: str, voice, backend, engines, options, streaming) -> None:
    """`synthesize --stream`: chunks into OUTPUT.partial (then OUTPUT), or raw PCM to stdout for -o -."""
    import time

    import ttsx
    from ttsx.base.audio import WavStream, pcm16
    from ttsx.base.files import check_output

    to_stdout = str(output) == "-"
    if not to_stdout:
        check_output(output, "-o")
    with ttsx.load(artifact, backend=backend, **_engine_options(backend, engines)) as pipeline:
        if pipeline.random_weights:
            _progress("random-weights artifact: the audio is noise, not speech")
        start, first, samples = time.perf_counter(), None, 0
        chunks = pipeline.stream(text, voice=voice, options=options, streaming=streaming, progress=_progress)
        sink = None if to_stdout else WavStream(output, pipeline.sample_rate)
        with sink or contextlib.nullcontext():
            for audio in chunks:
                if first is None and len(audio):
                    first = time.perf_counter() - start
                samples += len(audio)
                if sink is None:
                    sys.stdout.buffer.write(pcm16(audio))
                    sys.stdout.buffer.flush()
                else:
                    sink.write(audio)
        rate, total = pipeline.sample_rate, time.perf_counter() - start
    where = "stdout (raw 16-bit mono PCM)" if to_stdout else str(output)
    click.echo(f"wrote {where} ({samples / rate:.2f} s at {rate} Hz); first audio after "
               f"{'-' if first is None else f'{first:.2f}'} s, all after {total:.2f} s", err=to_stdout)


@main.command("voice")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("--text", "transcript", required=True, help="What the clip says (its transcript), as the model reads it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Voice file (.npz) to write; pass it as --voice to `ttsx synthesize`.")
@click.option("--preset", default=None, help="Also add it to ARTIFACT as this preset (`ttsx serve` requests name it).")
@click.option("--force", is_flag=True, help="Replace a preset of that name.")
@click.option("--backend", type=click.Choice(BACKENDS), default="onnxruntime", show_default=True)
@_friendly_errors
def voice_command(artifact, clip, transcript, output, preset, force, backend) -> None:
    """Make a voice for ARTIFACT from CLIP (a 3-10 s WAV/FLAC of the voice to clone) and its transcript."""
    import tempfile

    import ttsx
    from ttsx.base.files import check_output
    from ttsx.exporter.assets import add_voice_preset

    if output is None and preset is None:
        raise click.UsageError("give -o FILE.npz, --preset NAME, or both")
    if output is not None:
        if output.suffix != ".npz":
            raise click.BadParameter(f"{output}: a voice file ends in .npz", param_hint="-o")
        check_output(output, "-o")
    with tempfile.TemporaryDirectory() as scratch, ttsx.load(artifact, backend=backend) as pipeline:
        path = pipeline.make_voice(clip, transcript, output or Path(scratch) / "voice.npz")
        if preset is not None:
            relative = add_voice_preset(Path(artifact), preset, path, force)
            click.echo(f"added voice preset {preset!r} to {artifact} ({relative}): --voice {preset}")
    if output is not None:
        click.echo(f"wrote {path}: pass it as --voice {path}")


@main.command("serve")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs an API key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--backend", type=click.Choice(BACKENDS), default="onnxruntime", show_default=True)
@click.option("--engines", type=click.Path(path_type=Path), default=None, help=ENGINES_HELP)
@click.option("--api-key", default=None, help="Clients must send 'Authorization: Bearer KEY' (or set TTSX_API_KEY).")
@click.option("--batch-window-ms", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="How long a batch's first text piece waits for others.")
@click.option("--max-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Text pieces per batch; 1 turns request batching off.")
@click.option("--max-queue", type=click.IntRange(min=1), default=64, show_default=True,
              help="Text pieces waiting at most; past it requests get 429 with Retry-After.")
@click.option("--join/--no-join", default=True, show_default=True,
              help="Streamed requests join a running batch at a decode step and leave it when done (continuous "
                   "batching, where the family has it: GPT-SoVITS); --no-join: streams take turns chunk by chunk.")
@click.option("--ray", is_flag=True, help="Deploy on Ray Serve (a local instance unless RAY_ADDRESS is set).")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --ray: replicas per artifact.")
@_friendly_errors
def serve_command(artifacts, host, port, backend, engines, api_key, batch_window_ms, max_batch, max_queue, join, ray,
                  replicas) -> None:
    """Serve ARTIFACT... ([NAME=]DIR; the name is the request's `model`) at POST /v1/audio/speech (OpenAI's API)."""
    from ttsx.app.serving.server import Batching, serve

    batching = Batching(batch_window_ms, max_batch, max_queue, join)
    options = _engine_options(backend, engines)
    if ray:
        from ttsx.app.serving.ray_app import serve_on_ray

        serve_on_ray(list(artifacts), host, port, backend, batching, api_key, options, replicas, log=_progress)
    else:
        serve(list(artifacts), host, port, backend, batching, api_key, options, log=_progress)

"""Load generator for `ttsx serve`: N concurrent clients for a fixed time, streamed requests, one table.

    python scripts/load_serve.py --serve artifacts/bark-small-int8 --max-batch 1 8 --concurrency 1 4 8 --duration 90
    python scripts/load_serve.py --url http://127.0.0.1:8000 --model bark-small-int8 --concurrency 8
    python scripts/load_serve.py --serve ART_GSV --texts family --voice seed-0 --max-batch 8 --concurrency 1 4 8

With --serve it starts `ttsx serve` once per --max-batch value (1 = batching off), warms it up, runs
every concurrency level against it and stops it, so all rows come from one run on one machine. Each
client sends streamed pcm requests back to back (request i: text i mod 8, seed i, --max-tokens; with
--texts family the model's family's `ttsx bench` prompts instead, e.g. phonemes for GPT-SoVITS);
requests started before the deadline are finished and counted. Per row: requests/s, audio seconds
per second, p50/p95 time to first audio and total latency, errors, and the server's RSS (its
/metrics) before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Please leave the package at the front door.",
    "Our meeting has moved to three in the afternoon.",
    "The weather will be sunny with a light breeze.",
    "Turn left at the next corner and walk two blocks.",
    "Thank you for calling, how can I help you today?",
    "The train to the airport leaves every ten minutes.",
    "Remember to water the plants before you go.",
]


def rss_mib(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith("process_resident_memory_bytes "):
            return float(line.split()[1]) / 2**20
    return float("nan")


async def client_loop(http: httpx.AsyncClient, url: str, model: str, index: int, clients: int, deadline: float,
                      max_tokens: int, served: dict, results: list) -> None:
    i, texts, rate = index, served["texts"], served["sample_rate"]
    while time.perf_counter() < deadline:
        body = {"model": model, "input": texts[i % len(texts)], "seed": i, "max_tokens": max_tokens,
                "response_format": "pcm", "stream_format": "audio", **served["extra"]}
        start, first, size, status = time.perf_counter(), None, 0, 0
        try:
            async with http.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
                status = response.status_code
                async for chunk in response.aiter_raw():
                    if first is None and chunk:
                        first = time.perf_counter() - start
                    size += len(chunk)
        except httpx.HTTPError as exc:
            status = f"{type(exc).__name__}"
        results.append({"status": status, "ttfa": first, "total": time.perf_counter() - start,
                        "audio_s": size / 2 / rate, "end": time.perf_counter()})
        i += clients


async def run_level(url: str, model: str, clients: int, duration: float, max_tokens: int, served: dict) -> dict:
    results: list = []
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600), limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(http, url, model, c, clients, start + duration, max_tokens, served, results)
                               for c in range(clients)))
        wall = time.perf_counter() - start
    ok = [r for r in results if r["status"] == 200]
    ttfa = [r["ttfa"] for r in ok if r["ttfa"] is not None]
    total = [r["total"] for r in ok]
    return {"clients": clients, "wall_s": wall, "requests": len(ok), "errors": len(results) - len(ok),
            "requests_per_s": len(ok) / wall, "audio_s_per_s": sum(r["audio_s"] for r in ok) / wall,
            "ttfa_p50": float(np.percentile(ttfa, 50)) if ttfa else None,
            "ttfa_p95": float(np.percentile(ttfa, 95)) if ttfa else None,
            "total_p50": float(np.percentile(total, 50)) if total else None,
            "total_p95": float(np.percentile(total, 95)) if total else None}


def served_settings(url: str, model: str, args) -> dict:
    """The texts, voice and sample rate the clients use: --texts family asks /v1/models for the model's family."""
    listed = {m["id"]: m for m in httpx.get(f"{url}/v1/models", timeout=30).json()["data"]}
    if model not in listed:
        raise SystemExit(f"the server has no model {model!r} (it has {sorted(listed)}); pass --model")
    texts = TEXTS
    if args.texts == "family":
        from ttsx.recipes import get_family

        texts = list(get_family(listed[model]["family"]).bench_prompts())
    return {"texts": texts, "sample_rate": args.sample_rate or listed[model]["sample_rate"],
            "extra": {"voice": args.voice} if args.voice else {}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(artifact: str, max_batch: int, window_ms: float, log: Path, join: bool = True
                 ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "ttsx", "serve", artifact, "--port", str(port), "--max-batch",
                                str(max_batch), "--batch-window-ms", str(window_ms), "--max-queue", "256",
                                "--join" if join else "--no-join"],
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ttsx serve exited ({process.returncode}); see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("ttsx serve did not come up in 300 s")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", help="artifact to serve (starts ttsx serve per --max-batch)")
    parser.add_argument("--url", help="an already running server instead of --serve")
    parser.add_argument("--model", help="model name (default: the artifact directory's name)")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 8], help="with --serve; 1 = batching off")
    parser.add_argument("--batch-window-ms", type=float, default=20.0)
    parser.add_argument("--join", choices=("on", "off"), nargs="+", default=["on"],
                        help="with --serve: streamed requests joining a running batch (ttsx serve --join/--no-join), "
                             "one server per value")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--duration", type=float, default=90.0, help="seconds per row")
    parser.add_argument("--max-tokens", type=int, default=64, help="first-stage tokens per request, at most")
    parser.add_argument("--sample-rate", type=int, default=None, help="default: the model's, from /v1/models")
    parser.add_argument("--texts", choices=("english", "family"), default="english",
                        help="english: 8 short sentences; family: the model's family's `ttsx bench` prompts")
    parser.add_argument("--voice", help="a voice the model lists (default: the model's default)")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args()
    if bool(args.serve) == bool(args.url):
        parser.error("give --serve ARTIFACT or --url URL")
    model = args.model or Path(args.serve or "").resolve().name
    rows = []
    runs = [(b, j) for j in args.join for b in args.max_batch] if args.serve else [(None, None)]
    for max_batch, join in runs:
        process, url = (None, args.url)
        if args.serve:
            process, url = start_server(args.serve, max_batch, args.batch_window_ms,
                                        Path(f"/tmp/load_serve_{max_batch}_{join}.log"), join == "on")
        try:
            served = served_settings(url, model, args)
            asyncio.run(run_level(url, model, 1, 0.0, args.max_tokens, served))  # warm-up: one request
            for clients in args.concurrency:
                before = rss_mib(url)
                row = asyncio.run(run_level(url, model, clients, args.duration, args.max_tokens, served))
                row.update(max_batch=max_batch, join=join, rss_before_mib=before, rss_after_mib=rss_mib(url))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(300)
    print(f"\nttsx serve load: {model}, {args.max_tokens} tokens per request, {args.texts} texts, "
          f"voice {args.voice or 'default'}, {args.duration:g} s per row, "
          f"window {args.batch_window_ms:g} ms; {cpu_name()}, {os.cpu_count()} CPUs")
    print("| max batch | join | clients | requests | req/s | audio s/s | TTFA p50 | TTFA p95 | total p50 | total p95 "
          "| errors | RSS before -> after (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['max_batch'] or '-'} | {r['join'] or '-'} | {r['clients']} | {r['requests']} | {r['requests_per_s']:.3f} | "
              f"{r['audio_s_per_s']:.3f} | {fmt(r['ttfa_p50'])} | {fmt(r['ttfa_p95'])} | {fmt(r['total_p50'])} | "
              f"{fmt(r['total_p95'])} | {r['errors']} | {r['rss_before_mib']:.0f} -> {r['rss_after_mib']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()

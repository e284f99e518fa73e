"""Bark's four stages over stage sessions, reproducing transformers' BarkModel.generate.

Each function mirrors one transformers method (named in its docstring); the sessions may be any
backend. Per token the host sees only the logits row it samples from and the chosen ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.forcing import observe
from ttsx.runtimes.sampling import NEG_INF, RowRandom, SamplingOptions, choose, sample, softmax
from ttsx.runtimes.session import StageSession

from .recipe import MIN_CODEC_FRAMES, SAMPLES_PER_FRAME, BarkConstants

NO_HISTORY = -1  # history_ids value that adds nothing to a token's embedding


@dataclass(frozen=True)
class SemanticOptions:
    """Semantic stage settings (transformers' BarkSemanticGenerationConfig + kwargs)."""

    sampling: SamplingOptions = SamplingOptions()
    max_new_tokens: int = 768  # semantic tokens (49.9 per second of audio)
    min_eos_p: float | None = None  # force EOS once its probability exceeds this
    allow_eos: bool = True  # False: EOS is suppressed, every row runs to max_new_tokens (benchmarks)


def semantic_tokens(runner: CausalRunner, text_ids: np.ndarray, history: np.ndarray, c: BarkConstants,
                    options: SemanticOptions, rng: RowRandom) -> list[np.ndarray]:
    """BarkSemanticModel.generate: per-sequence tokens before EOS. text_ids [B,256], history [256]."""
    batch = len(text_ids)
    ids = np.hstack([text_ids, np.full((batch, 1), c.semantic_infer, np.int64)])  # + the infer token
    histories = np.hstack([np.repeat(history[None], batch, 0), np.full((batch, 1), NO_HISTORY, np.int64)])
    logits = runner.start({"input_ids": ids, "history_ids": histories}, [ids.shape[1]] * batch,
                          options.max_new_tokens)["logits"]
    step_history = np.full((batch, 1), NO_HISTORY, np.int64)
    lengths = np.full(batch, options.max_new_tokens)
    tokens = np.full((batch, options.max_new_tokens), c.semantic_pad, np.int64)
    done = np.zeros(batch, bool)
    for step in range(options.max_new_tokens):
        # ids semantic_vocab..pad-1 and > pad are suppressed; the pad (EOS) too when allow_eos is off. The
        # pad is the last semantic id, so a slice (no copy) is the allowed range.
        scores = logits[:, : c.semantic_pad + 1 if options.allow_eos else c.semantic_vocab]
        if options.min_eos_p:
            scores = _prioritize_eos(scores, c.semantic_pad, options.min_eos_p)
        token = np.where(done, c.semantic_pad, choose(scores, options.sampling, rng))
        tokens[:, step] = token
        finished = (token == c.semantic_pad) & ~done
        lengths[finished], done = step, done | finished
        if done.all() or step == options.max_new_tokens - 1:
            break
        logits = runner.step({"input_ids": token.reshape(-1, 1).astype(np.int64), "history_ids": step_history})["logits"]
    return [tokens[b, : lengths[b]] for b in range(batch)]


def _prioritize_eos(scores: np.ndarray, eos: int, min_eos_p: float) -> np.ndarray:
    """BarkEosPrioritizerLogitsProcessor: rows whose EOS probability > min_eos_p may only pick EOS."""
    force = softmax(scores.astype(np.float64))[:, eos] > min_eos_p
    only_eos = np.full_like(scores, NEG_INF)
    only_eos[:, eos] = scores[:, eos]
    return np.where(force[:, None], only_eos, scores)


def coarse_ratio(c: BarkConstants) -> float:
    """Interleaved coarse tokens per semantic token (75 Hz * 2 codebooks / 49.9 Hz)."""
    return c.coarse_rate_hz / c.semantic_rate_hz * c.n_coarse_codebooks


def coarse_histories(voice: dict | None, c: BarkConstants) -> tuple[np.ndarray, np.ndarray]:
    """BarkCoarseModel.preprocess_histories for one voice: (semantic history, interleaved coarse history)."""
    if voice is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ratio = coarse_ratio(c)
    semantic = voice["semantic_prompt"].astype(np.int64)
    coarse = voice["coarse_prompt"].astype(np.int64).copy()
    coarse += (np.arange(coarse.shape[0]) * c.codebook_size)[:, None]
    coarse = coarse.T.reshape(-1) + c.semantic_vocab
    n_semantic = min(math.floor(c.max_coarse_history / ratio), len(semantic) - len(semantic) % 2,
                     math.floor(len(coarse) / ratio))
    n_coarse = int(round(n_semantic * ratio))
    return semantic[-n_semantic:], coarse[-n_coarse:][:-2]  # [-0:] keeps all, as in transformers


def coarse_tokens(runner: CausalRunner, semantic: list[np.ndarray], voice: dict | None, c: BarkConstants,
                  sampling: SamplingOptions, rng: RowRandom) -> list[np.ndarray]:
    """BarkCoarseModel.generate: sliding windows of coarse tokens; per sequence, interleaved [2*frames]."""
    ratio, batch = coarse_ratio(c), len(semantic)
    lengths = [int(round(math.floor(len(s) * ratio / c.n_coarse_codebooks) * c.n_coarse_codebooks)) for s in semantic]
    semantic_history, coarse_history = coarse_histories(voice, c)
    padded = np.full((batch, max(len(s) for s in semantic)), c.coarse_semantic_pad, np.int64)
    for b, s in enumerate(semantic):
        padded[b, : len(s)] = s
    padded = np.hstack([np.repeat(semantic_history[None], batch, 0), padded])
    coarse = np.repeat(coarse_history[None], batch, 0)
    max_semantic_history = math.floor(c.max_coarse_history / ratio)
    total, max_len = 0, max(lengths)
    for _ in range(math.ceil(max_len / c.coarse_window)):
        start = len(semantic_history) + int(round(total / ratio))
        window = padded[:, max(0, start - max_semantic_history):][:, : c.max_coarse_input]
        window = np.pad(window, ((0, 0), (0, c.max_coarse_input - window.shape[1])), constant_values=c.coarse_semantic_pad)
        prompt = np.hstack([window, np.full((batch, 1), c.coarse_infer), coarse[:, -c.max_coarse_history:]])
        new = _coarse_window(runner, prompt, min(c.coarse_window, max_len - total), c, sampling, rng)
        coarse = np.hstack([coarse, new])
        total = coarse.shape[1] - len(coarse_history)
    return [coarse[b, len(coarse_history): len(coarse_history) + lengths[b]] for b in range(batch)]


def _coarse_window(runner, prompt, n, c: BarkConstants, sampling, rng) -> np.ndarray:
    """One window: AlternatingCodebooksLogitsProcessor keeps codebook 0 ids on even steps, 1 on odd.

    As in transformers (unlike suno's original), odd steps also allow every id above codebook 1
    (12048..12095); fine_codes folds any such id back with a modulo, as transformers does.
    """
    logits = runner.start({"input_ids": prompt.astype(np.int64)}, [prompt.shape[1]] * len(prompt), n)["logits"]
    out = np.zeros((len(prompt), n), np.int64)
    for i in range(n):
        lo = c.semantic_vocab + (i % 2) * c.codebook_size
        hi = lo + c.codebook_size if i % 2 == 0 else logits.shape[-1]
        out[:, i] = lo + choose(logits[:, lo:hi], sampling, rng)  # a slice: no copy of the logits row
        if i < n - 1:
            logits = runner.step({"input_ids": out[:, i: i + 1]})["logits"]
    return out


def fine_codes(session: StageSession, coarse: np.ndarray, voice: dict | None, c: BarkConstants,
               temperature: float | None, rng: RowRandom) -> np.ndarray:
    """BarkFineModel.generate: coarse [B, 2*T] (equal lengths) -> codes [B, 8, T]."""
    batch = len(coarse)
    x = np.remainder(coarse.reshape(batch, -1, c.n_coarse_codebooks) - c.semantic_vocab, c.codebook_size)
    n_frames = x.shape[1]
    fine = np.pad(x, ((0, 0), (0, 0), (0, c.n_fine_codebooks - c.n_coarse_codebooks)), constant_values=c.codebook_size)
    n_history = 0
    if voice is not None:
        history = voice["fine_prompt"].astype(np.int64).T[-c.fine_history:]
        fine, n_history = np.concatenate([np.repeat(history[None], batch, 0), fine], 1), len(history)
    n_remove = max(0, c.fine_window - fine.shape[1])
    fine = np.pad(fine, ((0, 0), (0, n_remove), (0, 0)), constant_values=c.codebook_size)
    n_loops = max(0, math.ceil((n_frames - (c.fine_window - n_history)) / c.fine_history)) + 1
    for n_outer in range(n_loops):
        start = min(n_outer * c.fine_history, fine.shape[1] - c.fine_window)
        fill = min(n_history + n_outer * c.fine_history, fine.shape[1] - c.fine_history)
        buffer = fine[:, start: start + c.fine_window]  # a view: writes land in `fine`
        real = np.arange(fill, start + c.fine_window) < n_history + n_frames  # the window's padding is cut later
        for k in range(c.n_coarse_codebooks, c.n_fine_codebooks):
            logits = session.run({"input_ids": np.ascontiguousarray(buffer), "codebook_idx": np.array(k, np.int64)})
            buffer[:, fill - start:, k] = _fine_choice(logits["logits"][:, :, : c.codebook_size], fill - start,
                                                       temperature, rng, real)
    fine = fine.transpose(0, 2, 1)[:, :, n_history:]
    return fine[:, :, : fine.shape[2] - n_remove]


def _fine_choice(logits: np.ndarray, rel: int, temperature: float | None, rng, real: np.ndarray) -> np.ndarray:
    """transformers' fine rule: argmax when temperature is None or 1.0, else sample. real [positions]: kept frames."""
    if temperature is None or temperature == 1.0:
        return observe(np.argmax(logits[:, rel:], -1), real)
    return observe(sample(softmax(logits[:, rel:] / temperature), rng), real)


def decode_audio(session: StageSession, codes: np.ndarray) -> np.ndarray:
    """BarkModel.codec_decode for codes [B, 8, T] of one length -> waveform [B, T*320] float32."""
    n_frames = codes.shape[2]
    if n_frames == 0:
        return np.zeros((len(codes), 0), np.float32)
    padded = np.pad(codes, ((0, 0), (0, 0), (0, max(0, MIN_CODEC_FRAMES - n_frames))))  # < 93 ms: pad, then cut
    waveform = session.run({"codes": padded.astype(np.int64)})["waveform"][:, 0]
    return waveform[:, : n_frames * SAMPLES_PER_FRAME]

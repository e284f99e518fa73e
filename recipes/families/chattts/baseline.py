"""ChatTTS's eager baseline for `ttsx bench`: `Chat.infer` itself, its stages timed from inside."""
from __future__ import annotations

import time

GREEDY_TEMPERATURE = 1e-8  # ChatTTS has no greedy flag; at this temperature every draw is the argmax


def eager_infer(chat, texts: list[str], tokens: int):
    """A callable running Chat.infer (code pass only, EOS barred for `tokens` steps, decoder path), timed.

    It returns (seconds per stage, seconds of audio before ChatTTS's near-zero-sample stripping, steps).
    """
    from .reference import import_chattts

    Chat = import_chattts().Chat
    seconds: dict[str, float] = {}
    samples: list[int] = []
    _time_generate(chat, seconds)
    _time_call(chat.decoder, "forward", "decoder", seconds)
    _time_call(chat, "_vocos_decode", "vocos", seconds, samples)
    params = Chat.InferCodeParams(temperature=GREEDY_TEMPERATURE, max_new_token=tokens, min_new_token=tokens,
                                  manual_seed=0, show_tqdm=False)

    def run():
        seconds.clear()
        samples.clear()
        chat.infer(list(texts), skip_refine_text=True, split_text=False, params_infer_code=params)
        return dict(seconds), sum(samples) / chat.config.vocos.feature_extractor.init_args.sample_rate, {"code": tokens}

    return run


def _time_generate(chat, seconds: dict) -> None:
    generate = chat.gpt.generate

    def timed(*args, **kwargs):
        start = time.perf_counter()
        results = list(generate(*args, **kwargs))
        seconds["code"] = seconds.get("code", 0.0) + time.perf_counter() - start
        yield from results

    chat.gpt.generate = timed


def _time_call(owner, name: str, stage: str, seconds: dict, samples: list | None = None) -> None:
    call = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = call(*args, **kwargs)
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start
        if samples is not None:
            samples.append(out.shape[0] * out.shape[-1])
        return out

    setattr(owner, name, timed)

"""GPT-SoVITS streaming inside a piece, chunk for chunk against upstream's own streaming (gpt-sovits-tiny).

Upstream's pieces are called as TTS.run(streaming_mode=True) calls them: infer_panel_naive(streaming_mode=True,
chunk_length, mute_emb_sim_matrix, chunk_split_thershold=0.0) for the chunks, SynthesizerTrn.decode_streaming
(with the noise ttsx fed its vits_stream graph) for their audio, TTS.sola_algorithm and TTS.audio_postprocess
read from the checkout's TTS.py (it imports torchaudio, so the module itself can't be imported here). The loop
joining them is TTS.run's streaming branch, transcribed below with its line's meaning.
"""
import ast
import math
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ttsx
from ttsx.base.errors import OptionError
from ttsx.recipes.families.gpt_sovits.kinds import given_noise
from ttsx.recipes.families.gpt_sovits.streaming import MUTE_ID, SIMILARITY_FILE
from ttsx.runtimes.pipeline import StreamOptions, SynthesisOptions

TEXT = ("DH IH1 S IH1 Z AH0 L AO1 NG ER0 S EH1 N T AH0 N S , HH IY1 R . "
        "W IY1 W IH1 L S IY1 HH AW1 IH1 T G OW1 Z .")
GREEDY = SynthesisOptions(greedy=True, seed=0)


def tts_methods(home: Path) -> types.SimpleNamespace:
    """TTS.sola_algorithm and TTS.audio_postprocess, compiled from the checkout's TTS.py source."""
    source = (home / "GPT_SoVITS" / "TTS_infer_pack" / "TTS.py").read_text(encoding="utf-8")
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "TTS")
    namespace = {"torch": torch, "F": F, "np": np, "List": list, "Tuple": tuple}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("sola_algorithm", "audio_postprocess"):
            exec(textwrap.dedent(ast.get_source_segment(source, node)), namespace)
    return types.SimpleNamespace(sola=namespace["sola_algorithm"], postprocess=namespace["audio_postprocess"])


class Spy:
    """Records every vits_stream call's noise."""

    def __init__(self, pipeline):
        self.noise, session = [], pipeline.sessions["vits_stream"]
        run = session.run

        def spy(feed, *args, **kwargs):
            self.noise.append(np.array(feed["noise"]))
            return run(feed, *args, **kwargs)

        session.run = spy


def upstream_stream(reference, home, pipeline, voice, noise: list, chunk_length: int) -> list[np.ndarray]:
    """TTS.run's streaming branch (v2, no vocoder, speed 1) over upstream's own calls: its int16 chunks."""
    tts = tts_methods(home)
    stub = types.SimpleNamespace(configs=types.SimpleNamespace(sampling_rate=32000), precision=torch.float32)
    codebook = reference.t2s.ar_audio_embedding.weight.clone()  # TTS.init_t2s_weights
    sim = F.cosine_similarity(codebook[MUTE_ID].unsqueeze(0).float(), codebook.float(), dim=-1)
    phones = torch.from_numpy(np.asarray(pipeline.phonemizer.encode(TEXT), np.int64))[None]
    all_ids = torch.cat([torch.from_numpy(voice.prompt_phonemes)[None], phones], 1)
    refer = torch.from_numpy(voice.refer)[None]
    upsample_rate = math.prod(reference.vits.upsample_rates) * 2  # 25 Hz ids
    overlap_length = 2
    overlap_size = math.ceil(overlap_length * upsample_rate)
    chunks, draws = [], iter(noise)
    with torch.no_grad():
        generator = reference.t2s.infer_panel_naive(
            all_ids, torch.tensor([all_ids.shape[1]]), torch.from_numpy(voice.prompt_ids)[None],
            torch.zeros(1, 1024, all_ids.shape[1]), top_k=1, streaming_mode=True, chunk_length=chunk_length,
            mute_emb_sim_matrix=sim, chunk_split_thershold=0.0)
        is_first_chunk, last_audio_chunk, last_latent, previous_tokens = True, None, None, []
        for semantic_tokens, is_final in generator:
            if semantic_tokens is None and last_audio_chunk is not None:
                chunks.append(tts.postprocess(stub, [[last_audio_chunk[-overlap_size:]]], 32000, None, 1.0, False,
                                              0.0, False)[1])
                break
            previous_tokens.append(semantic_tokens)
            _semantic_tokens = torch.cat(previous_tokens, dim=-1)
            if not is_first_chunk and semantic_tokens.shape[-1] < 10:
                overlap_len = overlap_length + (10 - semantic_tokens.shape[-1])
            else:
                overlap_len = overlap_length
            with given_noise(torch.from_numpy(next(draws))):
                audio_chunk, latent, _ = reference.vits.decode_streaming(
                    _semantic_tokens.unsqueeze(0), phones, refer, speed=1.0, sv_emb=None,
                    result_length=semantic_tokens.shape[-1] + overlap_len if not is_first_chunk else None,
                    overlap_frames=last_latent[:, :, -overlap_len * 2:] if last_latent is not None else None,
                    padding_length=0)
            audio_chunk = audio_chunk.detach()[0, 0, :]
            if overlap_len > overlap_length:
                audio_chunk = audio_chunk[-int((overlap_length + semantic_tokens.shape[-1]) * upsample_rate):]
            audio_chunk_ = audio_chunk
            if is_first_chunk and not is_final:
                is_first_chunk = False
                audio_chunk_ = audio_chunk_[:-overlap_size]
            elif is_first_chunk and is_final:
                is_first_chunk = False
            elif not is_first_chunk and not is_final:
                audio_chunk_ = tts.sola(None, [last_audio_chunk, audio_chunk_], overlap_size)
                audio_chunk_ = audio_chunk_[last_audio_chunk.shape[0] - overlap_size:-overlap_size]
            last_latent, last_audio_chunk = latent, audio_chunk
            chunks.append(tts.postprocess(stub, [[audio_chunk_]], 32000, None, 1.0, False, 0.0, False)[1])
    assert next(draws, None) is None, "ttsx decoded more chunks than upstream"
    return chunks


def int16(chunk: np.ndarray) -> np.ndarray:
    """audio_postprocess's last line, on ttsx's float chunk."""
    return (chunk * 32768).astype(np.int16)


@pytest.mark.parametrize("backend, chunk", [("onnxruntime", None), ("onnxruntime", 4), ("torch", None)],
                         ids=["min_chunk_length 16", "min_chunk_length 4", "torch backend"])
def test_the_chunks_equal_upstream_streaming(gpt_sovits_artifact, gpt_sovits_reference, gpt_sovits_home, backend,
                                             chunk):
    """Same chunk count and lengths; every sample within 2 of upstream's int16 (ttsx's float audio is within 1e-4
    of decode_streaming's; SOLA picks the same offset)."""
    with ttsx.load(gpt_sovits_artifact, backend=backend) as pipeline:
        spy = Spy(pipeline)
        chunks = list(pipeline.stream(TEXT, voice="seed-0", options=GREEDY, streaming=StreamOptions(chunk=chunk)))
        voice = pipeline.load_voice("seed-0")
        reference = upstream_stream(gpt_sovits_reference, gpt_sovits_home, pipeline, voice, spy.noise, chunk or 16)
    assert len(chunks) >= 3
    assert [len(c) for c in chunks] == [len(c) for c in reference]
    for ours, theirs in zip(chunks, reference):
        assert np.abs(int16(ours).astype(np.int32) - theirs).max() <= 2


def test_the_stream_makes_the_call_s_ids_and_starts_before_the_piece_ends(gpt_sovits_artifact):
    """The stream's t2s ids are the call's; its first chunk comes while t2s still runs."""
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        whole = pipeline(TEXT, voice="seed-0", options=GREEDY)
        steps, embed = [], pipeline.sessions["embed_audio"].run  # once per t2s step (and once for the prompt)
        pipeline.sessions["embed_audio"].run = lambda *a, **k: (steps.append(1), embed(*a, **k))[1]
        stream = pipeline.stream(TEXT, voice="seed-0", options=GREEDY)
        first = next(stream)
        at_first = len(steps)
        rest = list(stream)
    ids = len(whole.t2s[0])
    assert rest and len(first) > 0
    assert at_first < ids / 2, f"first chunk after {at_first} of {ids} steps"
    assert sum(len(c) for c in [first, *rest]) > 0.9 * len(whole.audio[0])


def test_the_split_table_is_upstream_s(gpt_sovits_artifact, gpt_sovits_reference):
    """The artifact's likeness-to-silence table is TTS.init_t2s_weights's mute_emb_sim_matrix."""
    codebook = gpt_sovits_reference.t2s.ar_audio_embedding.weight
    theirs = F.cosine_similarity(codebook[MUTE_ID].unsqueeze(0).float(), codebook.float(), dim=-1).detach().numpy()
    ours = np.load(gpt_sovits_artifact / "tokenizer" / SIMILARITY_FILE, allow_pickle=False)
    np.testing.assert_array_equal(ours, theirs)
    assert (ours >= 0).any() and (ours < 0).any()  # splits are possible and not everywhere


@pytest.mark.parametrize("setting", [dict(overlap=100), dict(skip=1), dict(max_samples=4000)])
def test_settings_upstream_lacks_are_refused(gpt_sovits_artifact, setting):
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        with pytest.raises(OptionError, match="min_chunk_length"):
            pipeline.stream(TEXT, voice="seed-0", options=GREEDY, streaming=StreamOptions(**setting))

"""ChatTTS's text side and speakers: ttsx's numpy versions equal ChatTTS's torch ones."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ttsx.base.errors import TtsxError
from ttsx.recipes.families.chattts.tokenizer import ChatTTSTokenizer
from ttsx.recipes.families.chattts.voices import apply_speaker, normalized


def test_batch_encoding_is_chattts_left_padding(chattts_artifact, chattts_reference):
    ours = ChatTTSTokenizer(chattts_artifact / "tokenizer")
    texts = ["[Stts][empty_spk][speed_5]hello world[Ptts]", "你好[uv_break]世界，好。"]
    ids, mask = ours.encode_batch(texts)
    ref_ids, ref_mask, _ = chattts_reference.tokenizer.encode(texts, 4)
    np.testing.assert_array_equal(ids, ref_ids[..., 0].numpy())
    np.testing.assert_array_equal(mask, ref_mask.numpy())
    assert (ours.spk_emb, ours.break_0, ours.eos) == (chattts_reference.tokenizer.spk_emb_ids,
                                                     chattts_reference.tokenizer.break_0_ids,
                                                     chattts_reference.tokenizer.eos_token)


@pytest.mark.parametrize("seed", range(20))
def test_speaker_normalisation_is_torch_float16(seed):
    spk = torch.randn(768, generator=torch.Generator().manual_seed(seed), dtype=torch.float16) * 3
    ref = F.normalize(spk, p=2.0, dim=0, eps=1e-12).float().numpy()
    np.testing.assert_array_equal(normalized(spk.numpy()), ref)


def test_speaker_lands_on_the_spk_emb_positions():
    embeds, ids = np.zeros((2, 5, 4), np.float32), np.array([[1, 9, 2, 3, 4], [9, 1, 1, 1, 1]])
    spk = np.array([3, 0, 4, 0], np.float16)
    out = apply_speaker(embeds, ids, 9, spk)
    np.testing.assert_allclose(out[0, 1], [0.6, 0, 0.8, 0], atol=1e-3)
    assert out[0, 0].sum() == 0 and out[1, 0].sum() != 0


def test_bad_voice_files_are_refused(chattts_artifact, tmp_path):
    import ttsx

    np.savez(tmp_path / "wrong.npz", spk_emb=np.zeros(65, np.float16))
    with ttsx.load(chattts_artifact) as pipeline:
        assert pipeline.load_voice("seed-1").shape == (64,)
        with pytest.raises(TtsxError, match="float16 array of shape"):
            pipeline.load_voice(tmp_path / "wrong.npz")
        with pytest.raises(TtsxError, match="unknown voice"):
            pipeline.load_voice("nobody")

"""ChatTTSFamily: what generic code asks of ChatTTS beyond its graphs (those are kinds.py's GraphKinds)."""
from __future__ import annotations

from pathlib import Path

from ttsx.recipes.family import Family


class ChatTTSFamily(Family):
    """2Noise's ChatTTS through the `chattts` package: a LlamaModel over summed code embeddings, four code
    heads and a text head, a Decoder (or DVAE) to mel, Vocos to audio."""

    name = "chattts"

    def fingerprint(self, chat) -> str:
        """sha256 over the GPT, embeddings, decoder, DVAE and Vocos weights."""
        from ttsx.recipes.source import weights_fingerprint

        from .reference import weight_modules

        return weights_fingerprint(weight_modules(chat))

    def write_assets(self, chat, source, out_dir: Path) -> dict:
        """The tokenizer (the snapshot's, or the stand-in of a random-weights reference) and seeded speakers."""
        from ttsx.exporter.assets import copy_tokenizer

        from .reference import ASSETS
        from .voices import draw_speakers

        if source.directory is not None:
            tokenizer = copy_tokenizer(source.directory / ASSETS["tokenizer_path"], out_dir)
        else:
            (out_dir / "tokenizer").mkdir()
            chat.tokenizer._tokenizer.save_pretrained(str(out_dir / "tokenizer"))
            tokenizer = "tokenizer"
        return {"tokenizer": tokenizer, "voices": draw_speakers(chat, out_dir)}

    def agreement_runs(self, recipe, tokens: int, batch: int) -> list:
        """The refine pass alone, then the code pass on the unrefined text: a refine divergence changes the
        code pass's prompt, so one run would judge the code pass on different inputs."""
        from dataclasses import replace

        from ttsx.recipes.family import AgreementRun
        from ttsx.runtimes.pipeline import SynthesisOptions

        from .pipeline import ChatTTSOptions

        greedy = ChatTTSOptions.from_synthesis(SynthesisOptions(greedy=True, max_tokens=tokens, batch_size=batch), tokens)
        refine = replace(greedy, refine=replace(greedy.refine, max_new_tokens=tokens),
                         code=replace(greedy.code, max_new_tokens=1))
        return [AgreementRun("greedy refine", refine, ("refine",)),
                AgreementRun("greedy codes, refine skipped", replace(greedy, refine=None), ("code",))]

    def eager_baseline(self, chat, artifact, texts: list[str], tokens: int):
        """Chat.infer, code pass only, greedy, EOS barred for `tokens` steps."""
        from .baseline import eager_infer

        return eager_infer(chat, texts, tokens)


FAMILY = ChatTTSFamily()

"""GPT-SoVITS checkpoint files as upstream's training writes them, read without running code from them.

Upstream (RVC-Boss/GPT-SoVITS, `GPT_SoVITS/process_ckpt.py`) writes two files a voice:
- the GPT `.ckpt` (s1_train's epoch callback): `{"weight": {"model.<k>": fp16}, "config": <yaml dict>, "info"}`;
- the SoVITS `.pth` (`savee`): `{"weight": {<k>: fp16, no enc_q.*}, "config": utils.HParams, "info"}`, written
  by `torch.save` (a zip starting "PK") for v1/v2, and by `my_save2` for v2Pro, v2ProPlus and LoRA files, which
  replaces the zip's leading "PK" with a 2-byte version code (`head2version`).

Upstream reads both with `torch.load(weights_only=False)`, which runs any code a file names. ttsx reads them
with torch's weights-only unpickler, admitting one global beyond tensors and containers: `utils.HParams`,
read into `Settings` (its attributes, as a mapping; nothing of upstream's class runs). Any other global is
refused with its name, before anything of it is called.

    file bytes ──(2-byte version code -> "PK")──> torch.load(weights_only, HParams -> Settings) ──> plain dicts
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from ttsx.base.errors import SourceError

ZIP_MAGIC = b"PK"  # torch.save's zip container
HEADERS = {  # process_ckpt.head2version: the code my_save2 writes in place of "PK" -> model version
    b"00": "v1", b"01": "v2", b"02": "v3", b"03": "v3-lora", b"04": "v4-lora", b"05": "v2Pro", b"06": "v2ProPlus",
}
PRETRAINED_MD5 = {  # process_ckpt.hash_pretrained_dict: md5 of a released pretrained file's first 8192 bytes
    "dc3c97e17592963677a4a1681f30c653": "v2",  # s2G488k.pth (v1's pretrained, read as v2 symbols)
    "43797be674a37c1c83ee81081941ed0f": "v3",  # s2Gv3.pth
    "6642b37f3dbb1f76882b69937c95a5f3": "v2",  # s2G2333K.pth
    "4f26b9476d0c5033e04162c486074374": "v4",  # s2Gv4.pth
    "c7e9fce2223f3db685cdfa1e6368728a": "v2Pro",  # s2Gv2Pro.pth
    "66b313e39455b57ab1b0bc0b239c9d0a": "v2ProPlus",  # s2Gv2ProPlus.pth
}
HASHED_BYTES = 8192
HPARAMS_NAMES = ("utils.HParams", "GPT_SoVITS.utils.HParams")  # as s2_train imports it; from the checkout's root
V1_SYMBOLS = 322  # enc_p.text_embedding rows of a v1 SoVITS (v2 has 732)
RECIPE_OF = {"v2": "gpt-sovits-v2", "v2Pro": "gpt-sovits-v2pro", "v2ProPlus": "gpt-sovits-v2proplus"}
TINY_OF = {"v2": "gpt-sovits-tiny", "v2Pro": "gpt-sovits-v2pro-tiny", "v2ProPlus": "gpt-sovits-v2proplus-tiny"}
WHY_NOT = {
    "v1": "v1 (322 phoneme symbols) is not exported; fine-tune on v2 or later",
    "v3": "v3 decodes with a flow-matching model and BigVGAN, which ttsx does not export",
    "v4": "v4 decodes with a flow-matching model and its HiFi-GAN, which ttsx does not export",
    "v3-lora": "a LoRA of v3 needs v3's base model, which ttsx does not export",
    "v4-lora": "a LoRA of v4 needs v4's base model, which ttsx does not export",
}


class Settings:
    """upstream's utils.HParams as read here: its attributes and nothing else (no method of upstream's runs)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise SourceError(f"a pickled HParams holds {type(state).__name__}, not its attributes")
        self.values = state


@dataclass(frozen=True)
class Checkpoint:
    """One file of a pair: its weights, its training config as plain dicts, and the version it says it is."""

    path: Path
    weight: dict  # name -> tensor
    config: dict
    header: bytes  # the first two bytes: b"PK" or a my_save2 version code
    digest: str  # md5 of the first HASHED_BYTES bytes


def read(path: Path) -> Checkpoint:
    """A checkpoint dict with a `weight` entry, read weights-only; a refused global is named in the error."""
    import torch

    raw = Path(path).read_bytes()
    header, digest = raw[:2], hashlib.md5(raw[:HASHED_BYTES]).hexdigest()
    if header != ZIP_MAGIC and header not in HEADERS:
        raise SourceError(f"{path} is not a torch checkpoint (it starts {header!r}, neither a zip nor one of "
                          "GPT-SoVITS's version codes)")
    buffer = io.BytesIO(ZIP_MAGIC + raw[2:])
    try:
        with torch.serialization.safe_globals([(Settings, name) for name in HPARAMS_NAMES]):
            data = torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SourceError(_refusal(path, exc)) from None
    data = _plain(data)
    if not isinstance(data, dict) or not isinstance(data.get("weight"), dict):
        raise SourceError(f"{path} is not a GPT-SoVITS checkpoint (no 'weight' entry)")
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    if "lora_rank" in data:
        raise SourceError(f"{path} is a LoRA checkpoint (lora_rank {data['lora_rank']}): {WHY_NOT['v3-lora']}")
    return Checkpoint(Path(path), data["weight"], config, header, digest)


def _refusal(path: Path, exc: Exception) -> str:
    """The error for a file torch's weights-only reader refused: the global it named, and that none of it ran."""
    text = str(exc)
    marker = "Unsupported global: GLOBAL "
    if marker in text:
        name = text.split(marker, 1)[1].split()[0]
        return (f"{path} names the Python global {name}, which a GPT-SoVITS checkpoint never holds; ttsx refused "
                "it without running anything from the file (it admits tensors, containers and utils.HParams). "
                "Re-save the checkpoint with upstream's own save code, or use one from a source you trust")
    return f"{path} can't be read as a GPT-SoVITS checkpoint ({text.splitlines()[0] if text else type(exc).__name__})"


def _plain(value):
    """Settings (HParams) -> dict, recursively through dicts, lists and tuples."""
    if isinstance(value, Settings):
        return {k: _plain(v) for k, v in getattr(value, "values", {}).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def sovits_version(checkpoint: Checkpoint) -> str:
    """The SoVITS file's model version, decided as upstream's get_sovits_version_from_path_fast and
    change_sovits_weights decide it: a released pretrained file by its hash, a my_save2 file by its code, an
    older torch.save file by its weights (v1 has 322 phoneme symbols; v3/v4 have a flow-matching `cfm`)."""
    found = PRETRAINED_MD5.get(checkpoint.digest) or HEADERS.get(checkpoint.header)
    if found not in (None, "v1", "v2"):  # v2Pro/ProPlus, v3/v4 and LoRA files say so themselves
        return found
    weight = checkpoint.weight
    if any(k.startswith("cfm.") for k in weight):
        return "v3"
    embedding = weight.get("enc_p.text_embedding.weight")  # change_sovits_weights: v1 has 322 phoneme symbols
    return "v1" if embedding is not None and embedding.shape[0] == V1_SYMBOLS else "v2"


def check_version(checkpoint: Checkpoint, recipe_name: str, recipe_version: str) -> None:
    """A SourceError unless the file is of the recipe's version, naming the recipe to use instead."""
    found = sovits_version(checkpoint)
    if found == recipe_version:
        return
    if found in RECIPE_OF:
        same_size = (TINY_OF if recipe_name.endswith("-tiny") else RECIPE_OF)[found]
        raise SourceError(f"{checkpoint.path} is a GPT-SoVITS {found} SoVITS checkpoint and --recipe {recipe_name} "
                          f"is {recipe_version}: use --recipe {same_size}")
    raise SourceError(f"{checkpoint.path} is a GPT-SoVITS {found} SoVITS checkpoint: {WHY_NOT[found]}. ttsx exports "
                      f"{', '.join(RECIPE_OF)} ({', '.join(RECIPE_OF.values())})")

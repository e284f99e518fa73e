"""A stand-in for torchaudio where the installed one can't load, so that imports of it survive.

The registry's torchaudio is a CUDA build; beside the CPU torch its library fails to load
(`libc10_cuda.so: cannot open shared object file`). transformers imports torchaudio
whenever the package is installed, so that failure breaks every transformers model, and some
model packages (a vocoder, a codec) import it at module import for a mel front end ttsx never runs.

`install()` (called when ttsx loads its model families, recipes/registry.py) puts a finder in front of the import system: `import
torchaudio` runs the real package, and only if its library fails to load (OSError) does the module
become the stand-in below, with a warning that names the fix. `stand_in()` builds the same module for
a machine where torchaudio is not installed at all, for code that imports it unconditionally.

The stand-in offers the names those imports touch: `transforms.MelSpectrogram` (with the buffers
torchaudio registers, so checkpoints' state dicts load) and the two mel-scale helpers. Computing a
spectrogram, loading or saving audio raises an error that says to install a working torchaudio.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import math
import sys
import types
import warnings

FIX = ("pip uninstall torchaudio (ttsx does not need it), or install a torchaudio built for your torch "
       "(the registry's is a CUDA build)")


_WARNED: list[bool] = []


class TorchaudioUnavailable(RuntimeError):
    """A torchaudio feature was used but only the stand-in is loaded."""


def install() -> None:
    """Guard `import torchaudio` in this process (idempotent; costs nothing until torchaudio is imported)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "torchaudio":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        try:
            self.real.exec_module(module)
        except OSError as exc:
            for name in [n for n in sys.modules if n.startswith("torchaudio.")]:
                del sys.modules[name]  # half-imported submodules of the broken package
            if not _WARNED:  # once per process, whichever import meets it first
                _WARNED.append(True)
                warnings.warn(f"torchaudio is installed but can't load ({exc}); ttsx uses a stand-in that only "
                              f"satisfies imports. Fix: {FIX}", RuntimeWarning, stacklevel=2)
            _fill(module)


def stand_in() -> types.ModuleType:
    """The stand-in torchaudio module, registered in sys.modules (for machines without torchaudio)."""
    if "torchaudio" in sys.modules:
        return sys.modules["torchaudio"]
    module = types.ModuleType("torchaudio")
    module.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None, is_package=True)
    _fill(module)
    sys.modules["torchaudio"] = module
    return module


def _fill(module: types.ModuleType) -> None:
    """Turn `module` into the stand-in package with its submodules."""
    import torch

    transforms = _submodule("torchaudio.transforms")
    transforms.Spectrogram, transforms.MelScale, transforms.MelSpectrogram = _transforms(torch)
    functional = _submodule("torchaudio.functional")
    functional.functional = _submodule("torchaudio.functional.functional")
    functional.functional._hz_to_mel, functional.functional._mel_to_hz = _hz_to_mel, _mel_to_hz
    module.__path__ = []  # nothing more is imported from the broken package
    module.__version__ = "0+ttsx.stand-in"
    module.transforms, module.functional = transforms, functional
    module.load = module.save = module.info = _unavailable
    module.TTSX_STAND_IN = True


def _submodule(name: str) -> types.ModuleType:
    sub = types.ModuleType(name)
    sub.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = sub
    return sub


def _unavailable(*args, **kwargs):
    raise TorchaudioUnavailable(f"this needs a working torchaudio; only ttsx's import stand-in is loaded. {FIX}")


def _hz_to_mel(freq: float, mel_scale: str = "htk") -> float:
    """HTK mel scale (the only scale the stand-in offers)."""
    if mel_scale != "htk":
        _unavailable()
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def _mel_to_hz(mels, mel_scale: str = "htk"):
    """Inverse of _hz_to_mel (float or tensor)."""
    if mel_scale != "htk":
        _unavailable()
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def _transforms(torch):
    """Spectrogram, MelScale and MelSpectrogram modules with torchaudio's buffer names and shapes."""

    class Spectrogram(torch.nn.Module):
        def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None, **kwargs):
            super().__init__()
            self.n_fft, self.win_length = n_fft, win_length or n_fft
            self.hop_length = hop_length or self.win_length // 2
            self.register_buffer("window", torch.hann_window(self.win_length))

        def forward(self, waveform):
            _unavailable()

    class MelScale(torch.nn.Module):
        def __init__(self, n_mels: int = 128, sample_rate: int = 16000, f_min: float = 0.0, f_max=None,
                     n_stft: int = 201, norm=None, mel_scale: str = "htk"):
            super().__init__()
            self.register_buffer("fb", _triangular_filterbank(torch, n_stft, f_min, f_max or sample_rate / 2, n_mels,
                                                              sample_rate))

        def forward(self, specgram):
            _unavailable()

    class MelSpectrogram(torch.nn.Module):
        def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                     hop_length: int | None = None, f_min: float = 0.0, f_max=None, n_mels: int = 128, **kwargs):
            super().__init__()
            self.spectrogram = Spectrogram(n_fft, win_length, hop_length)
            self.win_length, self.hop_length = self.spectrogram.win_length, self.spectrogram.hop_length
            self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max, n_fft // 2 + 1)

        def forward(self, waveform):
            _unavailable()

    return Spectrogram, MelScale, MelSpectrogram


def _triangular_filterbank(torch, n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int):
    """[n_freqs, n_mels] HTK triangular mel filters without normalisation."""
    freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    mels = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    points = _mel_to_hz(mels)
    width = points[1:] - points[:-1]  # [n_mels + 1]
    slopes = points.unsqueeze(0) - freqs.unsqueeze(1)  # [n_freqs, n_mels + 2]
    down = -slopes[:, :-2] / width[:-1]
    up = slopes[:, 2:] / width[1:]
    return torch.clamp(torch.min(down, up), min=0.0)

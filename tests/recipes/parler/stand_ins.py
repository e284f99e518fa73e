"""Import stand-ins for the reference venv's descript DAC (imported by the scripts that venv runs).

descript-audiotools imports torchaudio at module level (the registry's torchaudio is a CUDA build that can't
load beside the CPU torch) and torch.utils.tensorboard's SummaryWriter for a training decorator (tensorboard
needs a protobuf newer than audiotools' pin). DAC's decode calls neither: empty modules stand in for them.
"""
import importlib.machinery
import sys
import types

MODULES = ("torchaudio", "torchaudio.transforms", "torchaudio.functional", "torch.utils.tensorboard")


def install() -> None:
    """Put the stand-ins in sys.modules (where the real modules are not already imported)."""
    for name in MODULES:
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # transformers' find_spec needs one
            sys.modules[name] = module
    sys.modules["torch.utils.tensorboard"].SummaryWriter = getattr(sys.modules["torch.utils.tensorboard"],
                                                                   "SummaryWriter", object)

"""The TensorRT names ttsx's code uses exist in TensorRT 11 (read from the bindings wheel, no import).

TensorRT can't be installed here, so code written from TensorRT 8/10 examples (BuilderFlag.FP16,
EXPLICIT_BATCH, int8_calibrator, execute_async_v2, binding indices) would otherwise only fail on
a TensorRT machine. tests/data/tensorrt_api_names.json lists every name the tensorrt-cu13-bindings
11.4 extension defines (scripts/tensorrt_api_names.py); every attribute the TensorRT modules
access must be in it, unless it is a name of torch, numpy, the standard library or ttsx itself.
"""
from __future__ import annotations

import ast
import builtins
import datetime
import hashlib
import importlib
import json
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TENSORRT_MODULES = ("exporter/tensorrt_build.py", "runtimes/tensorrt_backend.py", "ttsx/artifact/engines.py")
SOURCE_DIRS = ("ttsx", "exporter", "runtimes", "recipes")
# TensorRT 11 is strongly typed; these BuilderFlag members are gone. The flat name list
# can't say which class a name belongs to (DataType.INT8 still exists), so they are listed here.
# STRONGLY_TYPED is still defined but deprecated and ignored (pyCore.cpp: "always enabled").
REMOVED_MEMBERS = {"BuilderFlag": {"FP16", "INT8", "BF16", "FP8", "INT4"},
                   "NetworkDefinitionCreationFlag": {"STRONGLY_TYPED"}}
TORCH_CUDA_ONLY = {"cuda_stream"}  # torch.cuda.Stream.cuda_stream: absent from CPU builds of torch
# Used only when the builder is TensorRT for RTX (its compute-capability targets); checked against that module below.
RTX_ONLY = {"ComputeCapability", "num_compute_capabilities", "set_compute_capability"}
# TensorRT 11 calls the modules must make (so the check can't pass by excluding everything).
EXPECTED_CALLS = {"execute_async_v3", "set_tensor_address", "set_input_shape", "set_optimization_profile_async",
                  "build_serialized_network", "create_timing_cache", "set_timing_cache", "IProgressMonitor",
                  "deserialize_cuda_engine", "get_aliased_input_tensor", "set_memory_pool_limit", "MemoryPoolType",
                  "progress_monitor", "USER_MANAGED", "set_device_memory", "device_memory_size_v2",
                  "num_optimization_profiles", "create_network"}


@pytest.fixture(scope="module")
def tensorrt_names() -> set[str]:
    record = json.loads((ROOT / "tests/data/tensorrt_api_names.json").read_text())
    assert record["version"].startswith("11.") and len(record["wheel_sha256"]) == 64
    return set(record["names"])


def own_names() -> set[str]:
    """Functions, classes, attributes (self.x = ...) and dataclass fields defined anywhere in ttsx.

    Only stores on `self` count: `config.int8_calibrator = c` must not make its own name known.
    """
    names = set()
    for directory in SOURCE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                        getattr(node.value, "id", "") == "self":
                    names.add(node.attr)
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    names.add(node.target.id)
    return names


def other_names() -> set[str]:
    """Attribute names of the non-TensorRT libraries the modules use."""
    owners = (torch, torch.cuda, torch.cuda.Stream, torch.cuda.CUDAGraph, torch.Tensor, np, np.ndarray, Path, dict,
              list, str, bytes, builtins, json, importlib, resource, resource.getrusage(resource.RUSAGE_SELF), sys,
              time, warnings, tempfile, datetime, datetime.datetime, datetime.timezone, hashlib, hashlib.sha256())
    return {name for owner in owners for name in dir(owner)} | TORCH_CUDA_ONLY


def unknown_attributes(source: str, tensorrt_names: set[str], skip: set[str]) -> list[str]:
    """`file:line name` for every accessed attribute that TensorRT 11 does not define."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
        if node.attr in REMOVED_MEMBERS.get(owner, ()):
            found.append(f"{node.lineno} {owner}.{node.attr}")
        elif node.attr not in tensorrt_names and node.attr not in skip and not node.attr.startswith("_"):
            found.append(f"{node.lineno} {node.attr}")
    return found


@pytest.fixture(scope="module")
def skip_names() -> set[str]:
    return own_names() | other_names()


@pytest.mark.parametrize("module", TENSORRT_MODULES)
def test_every_tensorrt_name_exists_in_tensorrt_11(module, tensorrt_names, skip_names):
    bad = unknown_attributes((ROOT / module).read_text(), tensorrt_names | RTX_ONLY, skip_names)
    assert not bad, f"{module}: not in TensorRT 11.4's Python API: {bad}"


def rtx_names() -> set[str]:
    """Every name the installed tensorrt_rtx module defines: members of the module and of its classes."""
    trt = pytest.importorskip("tensorrt_rtx", reason="NOT CHECKED: TensorRT for RTX names (its extra is not installed)")
    names = set(dir(trt))
    for name in dir(trt):
        member = getattr(trt, name)
        if isinstance(member, type):
            names |= set(dir(member)) | set(getattr(member, "__members__", {}))
            for inner in vars(member).values():  # nested enums (ILogger.Severity)
                if isinstance(inner, type):
                    names |= set(dir(inner)) | set(getattr(inner, "__members__", {}))
    return names


@pytest.mark.parametrize("module", TENSORRT_MODULES)
def test_every_tensorrt_name_exists_in_tensorrt_for_rtx(module, skip_names):
    """The same code runs over TensorRT for RTX: every TensorRT name it uses exists there too."""
    names = rtx_names()
    assert RTX_ONLY <= names
    bad = unknown_attributes((ROOT / module).read_text(), names, skip_names)
    assert not bad, f"{module}: not in TensorRT for RTX's Python API: {bad}"


def test_the_modules_use_the_tensorrt_11_calls(tensorrt_names, skip_names):
    used = {node.attr for m in TENSORRT_MODULES for node in ast.walk(ast.parse((ROOT / m).read_text()))
            if isinstance(node, ast.Attribute)}
    assert EXPECTED_CALLS <= used & tensorrt_names


TENSORRT_10_STYLE = """
config.max_workspace_size = 1 << 30
config.set_flag(trt.BuilderFlag.FP16)
config.int8_calibrator = calibrator
network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
index = engine.get_binding_index("input_ids")
context.execute_async_v2(bindings, stream)
cache = trt.TimingCache()
network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
"""


def test_code_written_from_tensorrt_10_examples_is_caught(tensorrt_names, skip_names):
    bad = {entry.split()[1] for entry in unknown_attributes(TENSORRT_10_STYLE, tensorrt_names, skip_names)}
    assert bad == {"max_workspace_size", "BuilderFlag.FP16", "int8_calibrator", "EXPLICIT_BATCH",
                   "get_binding_index", "execute_async_v2", "TimingCache",
                   "NetworkDefinitionCreationFlag.STRONGLY_TYPED"}

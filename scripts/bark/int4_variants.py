"""How much each weight-only quantization of a Bark semantic graph changes its greedy choices: 40 teacher-forced
decode steps against the fp32 graph.

    python scripts/bark/int4_variants.py FP32_ARTIFACT INT8_ARTIFACT

The fp32 graph prefills 257 random text ids, then drives 40 greedy decode steps; at each step every
variant is fed the same cache and token (so errors do not compound) and its argmax is compared with the
fp32 graph's. Variants are made here with onnxruntime's MatMulNBitsQuantizer from the fp32 graph (int4
symmetric / asymmetric, blocks of 32 / 16, HQQ, the LM head or all but the MLPs left fp32, 8 bits) beside
the INT8 artifact's own graph (ttsx's int8: dynamic, 7-bit per-channel weights). Prints top-1 agreement
and the mean rel L2 of the logits per variant.
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from ttsx.exporter.convert import weight_matmuls

STEPS, PROMPT, CAPACITY = 40, 257, 320


def session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def variant(src: Path, out: Path, exclude=(), **options) -> Path:
    from onnxruntime.quantization.matmul_nbits_quantizer import HQQWeightOnlyQuantConfig, MatMulNBitsQuantizer

    model = onnx.load(str(src))
    if options.pop("hqq", False):
        quantizer = MatMulNBitsQuantizer(model, algo_config=HQQWeightOnlyQuantConfig(block_size=32, bits=4))
    else:
        quantizer = MatMulNBitsQuantizer(model, accuracy_level=4, nodes_to_exclude=list(exclude), **options)
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=True)
    return out


def main() -> None:
    fp32, int8 = Path(sys.argv[1]) / "semantic.onnx", Path(sys.argv[2]) / "semantic.onnx"
    matmuls = weight_matmuls(onnx.load(str(fp32), load_external_data=False))
    head = [n for n in matmuls if "lm_head" in n]
    not_mlp = [n for n in matmuls if "mlp" not in n]
    specs = {"int4 symmetric, blocks of 32 (ttsx's int4)": dict(bits=4, block_size=32, is_symmetric=True),
             "int4 asymmetric, blocks of 32": dict(bits=4, block_size=32, is_symmetric=False),
             "int4 symmetric, blocks of 16": dict(bits=4, block_size=16, is_symmetric=True),
             "int4 asymmetric, blocks of 16": dict(bits=4, block_size=16, is_symmetric=False),
             "int4 HQQ, blocks of 32": dict(hqq=True),
             "int4, LM head fp32": dict(bits=4, block_size=32, is_symmetric=True, exclude=head),
             "int4 MLPs only (the rest fp32)": dict(bits=4, block_size=32, is_symmetric=True, exclude=not_mlp),
             "8 bits symmetric, blocks of 32": dict(bits=8, block_size=32, is_symmetric=True)}
    reference = session(fp32)
    with tempfile.TemporaryDirectory() as tmp:
        logging.disable(logging.WARNING)  # the quantizer's per-node INFO lines
        variants = {"ttsx int8 (dynamic, 7-bit per channel)": session(int8)}
        for i, (name, spec) in enumerate(specs.items()):
            variants[name] = session(variant(fp32, Path(tmp) / f"v{i}.onnx", **spec))
        names = [i.name for i in reference.get_inputs()]
        outputs = [o.name for o in reference.get_outputs()]
        rng = np.random.default_rng(0)
        feed = {"input_ids": rng.integers(0, 10_000, (1, PROMPT)).astype(np.int64),
                "history_ids": np.full((1, PROMPT), -1, np.int64), "cache_lengths": np.zeros(1, np.int32),
                "lengths": np.full(1, PROMPT, np.int32)}
        feed.update({n: np.zeros((1, 12, CAPACITY, 64), np.float32) for n in names if n.startswith("past")})
        ref = dict(zip(outputs, reference.run(None, feed)))
        agree, errors = dict.fromkeys(variants, 0), {name: [] for name in variants}
        for step in range(STEPS):
            token = int(ref["logits"][0].argmax())
            feed = {"input_ids": np.array([[token]], np.int64), "history_ids": np.full((1, 1), -1, np.int64),
                    "cache_lengths": np.array([PROMPT + step], np.int32), "lengths": np.ones(1, np.int32)}
            feed.update({n: ref[n.replace("past_key_values", "present")] for n in names if n.startswith("past")})
            ref = dict(zip(outputs, reference.run(None, feed)))
            for name, s in variants.items():
                logits = s.run(["logits"], feed)[0]
                agree[name] += int(logits[0].argmax() == ref["logits"][0].argmax())
                errors[name].append(np.linalg.norm(logits - ref["logits"]) / np.linalg.norm(ref["logits"]))
    print(f"| variant | top-1 agreement ({STEPS} teacher-forced steps) | logits rel L2 (mean) |\n|---|---:|---:|")
    for name in variants:
        print(f"| {name} | {agree[name] / STEPS:.3f} | {np.mean(errors[name]):.3f} |")


if __name__ == "__main__":
    main()

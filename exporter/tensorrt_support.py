"""Which ONNX operators and data types TensorRT's ONNX parser accepts.

Written from the operator support matrix in onnx-tensorrt's `docs/operators.md` for TensorRT 10.15,
the newest version of that page found; no TensorRT 11 version of the page was available to check.
Each supported operator maps to a short summary of the restrictions that page lists ("" for none);
the summaries are paraphrased, so check the page itself before relying on an edge case.
Used to catch an ONNX graph that TensorRT will reject before spending minutes on an engine build.
"""

PARSER_DOC = "onnx-tensorrt docs/operators.md, TensorRT 10.15"
MIN_OPSET = 9  # oldest opset the parser imports (inclusive)
MAX_OPSET = 24  # newest opset the parser imports (inclusive)

# ONNX TensorProto type names TensorRT accepts. The page also lists DOUBLE, but only with limited
# support: TensorRT casts it down to FLOAT (clamping to +-FLT_MAX), so it is left out here.
# "FP8" on the page is TensorRT's E4M3 format and "FP4" its E2M1 format.
SUPPORTED_DTYPES = frozenset({
    "FLOAT", "FLOAT16", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT4E2M1",
    "INT32", "INT64", "INT8", "INT4", "UINT8", "BOOL",
})
# Reachable only by quantizing a wider float type (explicit Q/DQ nodes), never as plain compute types.
QUANTIZED_DTYPES = frozenset({"INT8", "INT4", "FLOAT8E4M3FN", "FLOAT4E2M1"})
# Allowed only on network inputs and outputs.
IO_ONLY_DTYPES = frozenset({"UINT8"})

_BIDIRECTIONAL = "bidirectional: forward and reverse activations must match"
_REDUCE_AXES = "`axes` must be an initializer"
_SEED_IGNORED = "`seed` is ignored"
_NO_DILATION = "`dilations` empty or all ones"
_CONST_AXES = "`axes` must resolve to a constant"

SUPPORTED_OPS: dict[str, str] = {
    "Abs": "",
    "Acos": "",
    "Acosh": "",
    "Add": "",
    "And": "",
    "ArgMax": "",
    "ArgMin": "",
    "Asin": "",
    "Asinh": "",
    "Atan": "",
    "Atanh": "",
    "Attention": (
        "Q, K, V and attn_mask 4-D; no past_key/past_value/nonpad_kv_seqlen inputs; no present_key/"
        "present_value/qk_matmul_output outputs; no qk_matmul_output_mode or softcap; head counts come "
        "from dim 1 of Q and K/V"
    ),
    "AveragePool": f"2-D or 3-D pooling only; {_NO_DILATION}",
    "BatchNormalization": "",
    "BlackmanWindow": "",
    "Cast": "",
    "CastLike": "",
    "Ceil": "",
    "Celu": "",
    "Clip": "",
    "Concat": "",
    "Constant": "no sparse_value, value_string or value_strings attribute",
    "ConstantOfShape": "",
    "Conv": "",
    "ConvTranspose": "",
    "Cos": "",
    "Cosh": "",
    "CumSum": "`axis` must be a build-time constant",
    "DeformConv": "1-D or 2-D spatial input; begin and end pads equal on each spatial axis",
    "DepthToSpace": "",
    "DequantizeLinear": "`x_zero_point` must be 0",
    "Div": "",
    "Dropout": "`is_training` must be an initializer that is False",
    "Einsum": "",
    "Elu": "",
    "Equal": "",
    "Erf": "",
    "Exp": "",
    "Expand": "",
    "EyeLike": "input dims must be static",
    "Flatten": "",
    "Floor": "",
    "Gather": "",
    "GatherElements": "",
    "GatherND": "",
    "Gelu": "",
    "Gemm": "",
    "GlobalAveragePool": "",
    "GlobalLpPool": "",
    "GlobalMaxPool": "",
    "Greater": "",
    "GreaterOrEqual": "",
    "GridSample": "4-D input only",
    "GroupNormalization": "",
    "GRU": _BIDIRECTIONAL,
    "HammingWindow": "",
    "HannWindow": "",
    "HardSigmoid": "",
    "HardSwish": "",
    "Hardmax": "size of the `axis` dimension must be a build-time constant",
    "Identity": "",
    "If": "both branches' outputs need equal rank and distinct names",
    "ImageScaler": "",
    "InstanceNormalization": "",
    "IsInf": "",
    "IsNaN": "",
    "LayerNormalization": "only the first output (Y)",
    "LeakyRelu": "",
    "Less": "",
    "LessOrEqual": "",
    "Log": "",
    "LogSoftmax": "",
    "Loop": "scan outputs need a static length; loop-carried shapes must not change between iterations",
    "LRN": "",
    "LSTM": f"{_BIDIRECTIONAL}; `input_forget` must be 0; `layout` must be 0",
    "LpNormalization": "",
    "LpPool": _NO_DILATION,
    "MatMul": "",
    "Max": "",
    "MaxPool": f"2-D or 3-D pooling only; no `Indices` output; {_NO_DILATION}",
    "Mean": "",
    "MeanVarianceNormalization": "",
    "Min": "",
    "Mish": "",
    "Mod": "",
    "Mul": "",
    "Neg": "",
    "NonMaxSuppression": "",
    "NonZero": "",
    "Not": "",
    "OneHot": "`depth` must be a build-time constant",
    "Or": "",
    "Pad": "",
    "ParametricSoftplus": "",
    "Pow": "",
    "PRelu": "",
    "QuantizeLinear": "`y_zero_point` must be 0",
    "RandomNormal": _SEED_IGNORED,
    "RandomNormalLike": _SEED_IGNORED,
    "RandomUniform": _SEED_IGNORED,
    "RandomUniformLike": _SEED_IGNORED,
    "Range": "",
    "Reciprocal": "",
    "ReduceL1": _REDUCE_AXES,
    "ReduceL2": _REDUCE_AXES,
    "ReduceLogSum": _REDUCE_AXES,
    "ReduceLogSumExp": _REDUCE_AXES,
    "ReduceMax": _REDUCE_AXES,
    "ReduceMean": _REDUCE_AXES,
    "ReduceMin": _REDUCE_AXES,
    "ReduceProd": _REDUCE_AXES,
    "ReduceSum": _REDUCE_AXES,
    "ReduceSumSquare": _REDUCE_AXES,
    "Relu": "",
    "Reshape": "",
    "Resize": (
        "coordinate modes half_pixel, pytorch_half_pixel, tf_half_pixel_for_nn, asymmetric, align_corners; "
        "modes nearest, linear; nearest modes floor, ceil, round_prefer_floor, round_prefer_ceil; aspect "
        "ratio policy stretch; tensor `scales` need `axes` = 0..rank-1; no antialias"
    ),
    "ReverseSequence": "",
    "RMSNormalization": "",
    "RNN": _BIDIRECTIONAL,
    "RoiAlign": "",
    "RotaryEmbedding": "`position_ids` must be INT64",
    "Round": "",
    "STFT": "`frame_step` and `window` must be initializers; real-valued input only",
    "ScaledTanh": "",
    "Scan": "",
    "Scatter": "",
    "ScatterElements": "",
    "ScatterND": "`reduction` must be none",
    "Selu": "",
    "Shape": "",
    "Shrink": "",
    "Sigmoid": "",
    "Sign": "",
    "Sin": "",
    "Sinh": "",
    "Size": "",
    "Slice": "",
    "Softmax": "",
    "Softplus": "",
    "Softsign": "",
    "SpaceToDepth": "",
    "Split": "",
    "Sqrt": "",
    "Squeeze": _CONST_AXES,
    "Sub": "",
    "Sum": "",
    "Tan": "",
    "Tanh": "",
    "TensorScatter": "`past_cache` and `update` 4-D; `axis` must be -2; FP32/FP16/BF16/INT32 only",
    "ThresholdedRelu": "",
    "Tile": "",
    "TopK": "`sorted` must be 1; K below 3840",
    "Transpose": "",
    "Trilu": "",
    "Unsqueeze": _CONST_AXES,
    "Upsample": "",
    "Where": "",
    "Xor": "",
}

# Parsed, but a real builder fails on them: op -> what happens and what to export instead.
BUILD_FAILURES: dict[str, str] = {
    "Elu": "TensorRT for RTX 1.7's Myelin fails its shape inference (elu(x, alpha): 'There are 2 inputs. "
           "Expected 1'); export it as where(x > 0, x, alpha * (exp(min(x, 0)) - 1)) (`ttsx export` does: "
           "exporter/graph_passes.py)",
}

# Marked unsupported. DynamicQuantizeLinear has a documented workaround: compose TensorRT's dynamic
# quantization from other ONNX operators inside a model-local function.
UNSUPPORTED_OPS = frozenset({
    "AffineGrid", "Bernoulli", "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor",
    "CenterCropPad", "Col2Im", "Compress", "ConcatFromSequence", "ConvInteger", "DFT", "Det",
    "DynamicQuantizeLinear", "ImageDecoder", "MatMulInteger", "MaxRoiPool", "MaxUnpool", "MelWeightMatrix",
    "Multinomial", "NegativeLogLikelihoodLoss", "Optional", "OptionalGetElement", "OptionalHasElement",
    "QLinearConv", "QLinearMatMul", "RegexFullMatch", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
    "SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap", "SoftmaxCrossEntropyLoss",
    "SplitToSequence", "StringConcat", "StringNormalizer", "StringSplit", "TfIdfVectorizer", "Unique",
})

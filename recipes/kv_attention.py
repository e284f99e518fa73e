"""Attention over a fixed-capacity KV cache updated in place: one op for export wrappers, two ONNX flavours.

Per row b of a call with S new positions (right-padded; row b's real tokens are its first
lengths[b]): the tokens go to cache positions cache_lengths[b] .. cache_lengths[b] + lengths[b] - 1,
and query s attends keys 0 .. cache_lengths[b] + s. Outputs at pad positions are garbage.

    q [B,S,h*D], k/v [B,S,kv*D], past [B,kv,C,D] ─┬─ "onnxruntime": com.microsoft::GroupQueryAttention
                                                  │     share-buffer mode: present IS past (bind one OrtValue
                                                  │     as both); reads only each row's valid prefix
                                                  └─ "tensorrt": TensorScatter (opset 24) writes k/v at
                                                        cache_lengths, then masked attention over C;
                                                        TensorRT maps it to its in-place KV cache update

With `rotary` (cos, sin tables [positions, D/2], row p = position p: the first half of LLaMA's
duplicated tables, GroupQueryAttention's cache layout), q and k are rotated half-split (rotate-half)
by their positions (cache_lengths[b] + s) before the cache write: inside
GroupQueryAttention (`do_rotary`, its cos/sin caches: one graph node instead of a chain of slices,
negations and products per layer), explicitly in the tensorrt flavour and in eager PyTorch.

With `prefix_lengths` (int32 [B], prefix-LM: a model whose text prefix attends to itself both ways),
positions below prefix_lengths[b] attend every prefix position and nothing after it;
later positions are causal as above (they see the whole prefix). A call must hold a row's whole prefix
(the prefill, from an empty cache). GroupQueryAttention is causal only, so the onnxruntime flavour takes
its output for positions past the prefix and, for prefix positions, attention over the call's own keys
masked to the prefix: one com.microsoft::MultiHeadAttention node per layer, its additive mask computed
once per forward (in a decode step one key). Prefix-LM with grouped or rotated heads is not supported.

The calls a pipeline makes: a prefill from an empty cache (cache_lengths 0, S = max(lengths)) and
steps of one token per row (S = 1). onnxruntime's GroupQueryAttention takes no other pattern with
batch > 1 (a chunk after a non-empty cache is batch-1 only).

In eager PyTorch (the torch backend, and while tracing) the op computes the same math and writes
into the cache tensors it was given. `finish_export` turns the tensorrt flavour's placeholder
nodes into opset-24 TensorScatter.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ttsx.recipes.spec import KV_CACHES

FLAVOURS = tuple(KV_CACHES)
PLACEHOLDER = "ttsx.placeholder"  # domain of export-time stand-ins rewritten by finish_export
TENSORSCATTER_OPSET = 24


def custom_domains(spec, kv_cache: str) -> dict[str, int]:
    """The custom opset domains an export of `spec` writes (declaring an unused one makes torch warn)."""
    if not spec.cache:
        return {}
    return {"com.microsoft": 1} if kv_cache == "onnxruntime" else {PLACEHOLDER: 1}


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def cache_attention(q, k, v, past_key, past_value, cache_lengths, lengths, heads: int, kv_heads: int,
                    flavour: str = "onnxruntime", rotary=None, prefix_lengths=None):
    """(attention output [B,S,h*D], present_key, present_value); present is past, written in place.
    `rotary`: (cos, sin) tables [positions, D/2] to rotate q and k by their positions first, or None.
    `prefix_lengths`: int [B], each row's prefix attended both ways (prefix-LM), or None (causal)."""
    cos, sin = rotary if rotary is not None else (None, None)
    if flavour == "onnxruntime":
        if prefix_lengths is not None and not _tracing():  # eager: the masked math directly
            return _GroupQueryAttention.apply(q, k, v, past_key, past_value, cache_lengths, lengths, heads, kv_heads,
                                              cos, sin, prefix_lengths)
        out, present_key, present_value = _GroupQueryAttention.apply(q, k, v, past_key, past_value, cache_lengths,
                                                                     lengths, heads, kv_heads, cos, sin)
        if prefix_lengths is not None:
            out = _prefix_within_call(out, q, k, v, cache_lengths, prefix_lengths, heads, kv_heads, cos)
        return out, present_key, present_value
    if flavour == "tensorrt":
        b, s = q.shape[:2]
        d = past_key.shape[-1]
        q4 = q.view(b, s, heads, d).transpose(1, 2)
        k4, v4 = (t.view(b, s, kv_heads, d).transpose(1, 2) for t in (k, v))
        write = cache_lengths.to(torch.int64)
        if rotary is not None:
            q4, k4 = _rotate(q4, k4, cos, sin, write)
        present_key, present_value = _scatter(past_key, k4, write), _scatter(past_value, v4, write)
        out = _attend_capacity(q4, present_key, present_value, write, prefix_lengths)
        return out.transpose(1, 2).reshape(b, s, heads * d), present_key, present_value
    raise ValueError(f"unknown KV-cache flavour {flavour!r}; choose one of {FLAVOURS}")


def _rotate(q4, k4, cos, sin, start):
    """q4 [B,h,S,D] and k4 [B,kv,S,D] rotated half-split by positions start[b] + s (tables [positions, D/2])."""
    positions = start[:, None] + torch.arange(q4.shape[2], device=q4.device)[None, :]  # [B, S]
    c, s_ = cos[positions].unsqueeze(1).to(q4.dtype), sin[positions].unsqueeze(1).to(q4.dtype)  # [B, 1, S, D/2]

    def turn(x):  # (x1, x2) -> (x1 c - x2 s, x2 c + x1 s): LLaMA's x * cos + rotate_half(x) * sin
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((x1 * c - x2 * s_, x2 * c + x1 * s_), dim=-1)

    return turn(q4), turn(k4)


def _attend_capacity(q4, keys, values, write, prefix=None):
    """Attention of q4 [B,h,S,D] over the whole capacity, masked to each row's valid prefix (trace-friendly);
    with `prefix` [B], positions below it see every position below it (prefix-LM)."""
    s, capacity = q4.shape[2], keys.shape[2]
    groups = q4.shape[1] // keys.shape[1]
    if groups > 1:
        keys, values = keys.repeat_interleave(groups, 1), values.repeat_interleave(groups, 1)
    query_pos = write[:, None] + torch.arange(s, device=q4.device)[None, :]  # [B, S]
    key_pos = torch.arange(capacity, device=q4.device)[None, None, :]
    mask = key_pos <= query_pos[:, :, None]  # [B, S, C]
    if prefix is not None:
        limit = prefix.to(torch.int64)[:, None, None]
        mask = mask | ((query_pos[:, :, None] < limit) & (key_pos < limit))
    return F.scaled_dot_product_attention(q4, keys, values, attn_mask=mask.unsqueeze(1))


def _prefix_within_call(out, q, k, v, cache_lengths, prefix_lengths, heads: int, kv_heads: int, cos):
    """GroupQueryAttention's causal output [B,S,h*D] with each prefix position's replaced by its attention over
    the call's own keys below the prefix (the call holds the whole prefix: the prefill): one
    com.microsoft::MultiHeadAttention node per layer, the mask computed once per forward (_prefix_mask)."""
    if heads != kv_heads or cos is not None:
        raise NotImplementedError("prefix-LM attention takes ungrouped heads without rotary tables")
    in_prefix, bias = _prefix_mask(cache_lengths, prefix_lengths, q.shape[1], q.dtype)
    return torch.where(in_prefix, _MultiHeadAttention.apply(q, k, v, bias, heads), out)


class _MultiHeadAttention(torch.autograd.Function):
    """q, k, v [B,S,h*D] and an additive bias [B,1,S,S] -> [B,S,h*D]. ONNX: com.microsoft::MultiHeadAttention."""

    @staticmethod
    def forward(ctx, q, k, v, bias, heads: int):
        b, s, width = q.shape
        q4, k4, v4 = (t.view(b, s, heads, width // heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q4, k4, v4, attn_mask=bias)
        return out.transpose(1, 2).reshape(b, s, width)

    @staticmethod
    def symbolic(g, q, k, v, bias, heads):
        none = g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor())
        out = g.op("com.microsoft::MultiHeadAttention", q, k, v, none, none, bias, num_heads_i=heads)
        out.setType(q.type())
        return out


_PREFIX_MEMO: list = []  # (cache_lengths, prefix_lengths, positions, dtype, result) of the last call: one per forward


def _prefix_mask(cache_lengths, prefix_lengths, s: int, dtype):
    """(in_prefix [B,S,1] bool, additive bias [B,1,S,S]: 0 for a key below the prefix, -inf above; 0 for every key
    of a query past the prefix, whose row is not used). Every layer of one forward gets the same tensors, so a
    trace computes them once."""
    if _PREFIX_MEMO and _PREFIX_MEMO[0][0] is cache_lengths and _PREFIX_MEMO[0][1] is prefix_lengths \
            and _PREFIX_MEMO[0][2] == s and _PREFIX_MEMO[0][3] == dtype:
        return _PREFIX_MEMO[0][4]
    positions = cache_lengths.to(torch.int64)[:, None] + torch.arange(s, device=cache_lengths.device)[None, :]
    in_prefix = positions < prefix_lengths.to(torch.int64)[:, None]  # [B, S]
    visible = in_prefix[:, None, :] | ~in_prefix[:, :, None]  # [B, S, S]: query row, key column
    bias = torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(~visible, float("-inf"))
    result = in_prefix[:, :, None], bias[:, None]
    _PREFIX_MEMO[:] = [(cache_lengths, prefix_lengths, s, dtype, result)]
    return result


def _eager(q, k, v, past_key, past_value, cache_lengths, lengths, heads: int, kv_heads: int, cos=None, sin=None,
           prefix=None):
    """The op's math on torch tensors: writes into past_key/past_value; reads only the valid prefixes."""
    b, s = q.shape[:2]
    d = past_key.shape[-1]
    q4 = q.view(b, s, heads, d).transpose(1, 2)
    k4, v4 = (t.view(b, s, kv_heads, d).transpose(1, 2) for t in (k, v))
    start, count = cache_lengths.to(torch.int64), lengths.to(torch.int64)
    if cos is not None:
        q4, k4 = _rotate(q4, k4, cos, sin, start)
    valid = torch.arange(s, device=q.device)[None, :] < count[:, None]  # [B, S]
    rows, cols = valid.nonzero(as_tuple=True)
    where = start[rows] + cols
    past_key[rows, :, where] = k4[rows, :, cols]
    past_value[rows, :, where] = v4[rows, :, cols]
    n = int((start + count).max())
    out = _attend_capacity(q4, past_key[:, :, :n], past_value[:, :, :n], start, prefix)
    return out.transpose(1, 2).reshape(b, s, heads * d), past_key, past_value


class _GroupQueryAttention(torch.autograd.Function):
    """Eager: _eager. ONNX: com.microsoft::GroupQueryAttention in share-buffer mode."""

    @staticmethod
    def forward(ctx, q, k, v, past_key, past_value, cache_lengths, lengths, heads: int, kv_heads: int, cos=None,
                sin=None, prefix=None):
        if _tracing():  # in-place writes on graph inputs break the tracer; the node comes from symbolic()
            past_key, past_value = past_key.clone(), past_value.clone()
        else:
            ctx.mark_dirty(past_key, past_value)
        return _eager(q, k, v, past_key, past_value, cache_lengths, lengths, heads, kv_heads, cos, sin, prefix)

    @staticmethod
    def symbolic(g, q, k, v, past_key, past_value, cache_lengths, lengths, heads, kv_heads, cos=None, sin=None,
                 prefix=None):  # prefix is never traced here: cache_attention adds _prefix_within_call
        ends = g.op("Add", cache_lengths, lengths)  # int32 [B]: positions filled after the call
        seqlens_k = g.op("Sub", ends, g.op("Constant", value_t=torch.tensor(1, dtype=torch.int32)))
        # total: the longest row's end, and at least the call's positions (a prefill whose rows are all
        # shorter than the padded call still takes GroupQueryAttention's first-prompt path)
        positions = g.op("Cast", g.op("Gather", g.op("Shape", q), g.op("Constant", value_t=torch.tensor(1)), axis_i=0),
                         to_i=6)  # int32
        total = g.op("Max", g.op("ReduceMax", ends, keepdims_i=0), positions)  # int32 scalar
        rotary, attributes = (), {}
        if not _is_none(cos):  # the tables are GroupQueryAttention's cos/sin caches as they are
            rotary, attributes = (cos, sin), {"do_rotary_i": 1, "rotary_interleaved_i": 0}
        out, present_key, present_value = g.op("com.microsoft::GroupQueryAttention", q, k, v, past_key, past_value,
                                               seqlens_k, total, *rotary, outputs=3, num_heads_i=heads,
                                               kv_num_heads_i=kv_heads, **attributes)
        d = past_key.type().varyingSizes()[-1]
        out.setType(q.type().with_sizes([None, None, heads * d]))
        present_key.setType(past_key.type())
        present_value.setType(past_value.type())
        return out, present_key, present_value


def _is_none(value) -> bool:
    """A symbolic argument that is an absent optional (torch passes a None constant node)."""
    return value is None or (hasattr(value, "node") and value.node().mustBeNone())


def _scatter(cache, update, write):
    """present = cache with update written at write[b] (in place). Under torch.compile the plain in-place
    scatter (Dynamo traces no ctx.mark_dirty); elsewhere the Function whose ONNX form is TensorScatter."""
    if torch.compiler.is_compiling():
        return _scatter_into(cache, update, write)
    return _TensorScatter.apply(cache, update, write)


def _scatter_into(cache, update, write):
    """Write update [B,h,S,D] into cache [B,h,C,D] at [b, :, write[b]:write[b]+S], in place.

    An index_put_ (not scatter_): Inductor keeps index_put on a graph input in place, whereas a
    scatter_ becomes a copy of the whole cache plus a copy back, every step (docs/BENCHMARKS.md,
    torch-compiled profile).
    """
    b, s = update.shape[0], update.shape[2]
    positions = (write[:, None] + torch.arange(s, device=cache.device)[None, :]).clamp(max=cache.shape[2] - 1)
    rows = torch.arange(b, device=cache.device)[:, None].expand(b, s)
    cache[rows, :, positions] = update.transpose(1, 2)  # [B, S] indices around a slice: values [B, S, h, D]
    return cache


class _TensorScatter(torch.autograd.Function):
    """Eager: writes update [B,h,S,D] into cache at [b, :, write[b]:write[b]+S]. ONNX: a placeholder for TensorScatter."""

    @staticmethod
    def forward(ctx, cache, update, write):
        if _tracing():
            cache = cache.clone()
        else:
            ctx.mark_dirty(cache)
        return _scatter_into(cache, update, write)

    @staticmethod
    def symbolic(g, cache, update, write):
        out = g.op(f"{PLACEHOLDER}::TensorScatter", cache, update, write, axis_i=-2, mode_s="linear")
        out.setType(cache.type())
        return out


def finish_export(model) -> None:
    """Rewrite placeholder nodes to standard ONNX ops in place (TensorScatter raises the opset to 24)."""
    import onnx

    placeholders = [n for n in model.graph.node if n.domain == PLACEHOLDER]
    if not placeholders:
        return
    for node in placeholders:
        node.domain = ""
    imports = [o for o in model.opset_import if o.domain not in ("", "ai.onnx", PLACEHOLDER)]
    del model.opset_import[:]
    model.opset_import.extend([onnx.helper.make_opsetid("", TENSORSCATTER_OPSET), *imports])
    model.ir_version = max(model.ir_version, 12)  # opset 24 needs IR 12; onnxruntime 1.31 reads up to 13


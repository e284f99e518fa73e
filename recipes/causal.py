"""What every graph with an in-place KV cache shares: its parity feed, its per-row reference, the HF cache glue.

A reference model runs each row alone on its real tokens (no padding, its own past); the feed and
the expected outputs put the rows into the batched, fixed-capacity layout the graph takes:

    row b: past [heads, P_b, D] --pack--> cache [B, heads, C, D]  (positions >= P_b: finite garbage the
                                                                    graph must not read)
    row b: present [heads, P_b + L_b, D] --pack--> expected [B, heads, C, D]  (NaN beyond: not compared)

A family's causal kind (a CausalKind) says only how its model takes one row: `random_inputs` (the
step inputs of a row of random tokens), `decode_inputs` (one token per row) and `run_row` (the
reference on one row, from its past). Self-attention caches are `past_key_values.{i}.key|value`
(`.decoder.` in an encoder-decoder's names, as optimum writes them); cross-attention inputs, bound
once per utterance, are `past_key_values.{i}.encoder.key|value` (recipes.spec.cross_attention_inputs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kinds import Case, GraphKind
from .spec import CacheLengths, Conversion, GraphSpec, TensorSpec, in_place_cache


@dataclass(frozen=True)
class CacheShape:
    """A causal graph's self-attention cache: per layer a key and a value [batch, heads, capacity, head_dim]."""

    layers: int
    heads: int  # key/value heads
    head_dim: int
    seq2seq: bool = False  # a decoder that also cross-attends (optimum's `.decoder.` names)


def row_lengths(batch: int, longest: int, ragged: bool) -> list[int]:
    """Per-row lengths: all `longest`, or ragged (the first row longest, later rows shorter, all >= 1)."""
    if not ragged:
        return [longest] * batch
    return [max(1, longest - (longest * b) // (batch + 1)) for b in range(batch)]


def pack(rows: list, capacity: int, fill: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Rows [heads, n_b, D] (numpy or torch) -> [B, heads, capacity, D]; the rest is NaN or random garbage."""
    rows = [np.asarray(r, np.float32) for r in rows]
    heads, dim = rows[0].shape[0], rows[0].shape[-1]
    shape = (len(rows), heads, capacity, dim)
    out = np.full(shape, np.nan, np.float32) if fill == "nan" else rng.standard_normal(shape).astype(np.float32)
    for b, row in enumerate(rows):
        out[b, :, : row.shape[1]] = row
    return out


def lengths_feed(spec: GraphSpec, cached: list[int], new: list[int]) -> dict[str, np.ndarray]:
    """The graph's two length inputs (int32)."""
    return {spec.lengths.cached: np.asarray(cached, np.int32), spec.lengths.new: np.asarray(new, np.int32)}


def flatten_cache(cache) -> list:
    """[k0, v0, k1, v1, ...] of a transformers Cache's self-attention layers, each [B, H, S, D]."""
    cache = getattr(cache, "self_attention_cache", cache)  # an EncoderDecoderCache's decoder part
    return [t for layer in cache.layers for t in (layer.keys, layer.values)]


def flatten_cross(cache) -> list:
    """[k0, v0, ...] of an EncoderDecoderCache's cross-attention layers (the encoder's keys and values)."""
    return flatten_cache(cache.cross_attention_cache)


def build_cache(past: tuple, config=None, cross: tuple | None = None):
    """A DynamicCache holding flat [k0, v0, k1, v1, ...] tensors (empty when `past` is), or with `cross`
    (the encoder's flat keys and values) an EncoderDecoderCache of both."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    def dynamic(flat):
        pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        return DynamicCache(ddp_cache_data=pairs, config=config) if pairs else DynamicCache(config=config)

    if cross is None:
        return dynamic(past)
    return EncoderDecoderCache(dynamic(past), dynamic(cross))


def row_inputs(spec: GraphSpec, feed: dict, row: int, new: int) -> dict:
    """Row `row`'s step inputs: those along the call's positions cut to its `new` real tokens, other batched
    inputs (an encoder's keys and values, say) to the row, unbatched ones whole; the length inputs left out."""
    positions = next(t for t in spec.inputs if t.name == spec.positions_input).shape[1]
    inputs = {}
    for t in spec.inputs:
        if t.name not in spec.step_inputs or t.name in (spec.lengths.cached, spec.lengths.new):
            continue
        value = np.asarray(feed[t.name])
        if len(t.shape) > 1 and t.shape[0] == "batch" and t.shape[1] == positions:
            value = value[row: row + 1, :new]
        elif t.shape and t.shape[0] == "batch":
            value = value[row: row + 1]
        inputs[t.name] = value
    return inputs


def prefill_case(batch: int, longest: int, ragged: bool = False, note: str = "") -> Case:
    """A prefill parity case, labelled with its rows' real lengths (row_lengths)."""
    lengths = ",".join(map(str, row_lengths(batch, longest, ragged))) if ragged else longest
    return Case(f"prefill batch={batch} T={lengths}" + (f" ({note})" if note else ""), batch, longest, ragged=ragged)


def decode_case(batch: int, past: int, ragged: bool = False, note: str = "") -> Case:
    """A one-token decode parity case after each row's past, labelled with the pasts (row_lengths)."""
    pasts = ",".join(map(str, row_lengths(batch, past, ragged))) if ragged else past
    return Case(f"decode batch={batch} past{'s' if ragged else ''}={pasts}" + (f" ({note})" if note else ""),
                batch, past, ragged=ragged, decode=True)


class CausalKind(GraphKind):
    """A causal graph over an in-place cache: step inputs, `past.*`, the two length inputs -> outputs, `present.*`.

    The feed and the reference are shared: a prefill of right-padded rows, or one token per row after
    each row's own past (computed by the reference); the reference runs each row alone and its caches
    are NaN past each row's end. Subclasses give the three row hooks, `spec`, `module`, `cases` and
    `axis_ranges`. (A decode row's past is made by `run_row` on `random_inputs(1, past)`: a graph whose
    rows also read per-row inputs beyond the positions, such as an encoder's, gives them there too.)
    """

    def causal_spec(self, name: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                    cache: CacheShape, convert: Conversion, notes: str, bound: tuple[TensorSpec, ...] = (),
                    choices: tuple[str, ...] = ()) -> GraphSpec:
        """The spec of graph `name` (its stage too): inputs + past.* + `bound` (inputs attached with the caches,
        e.g. cross-attention keys) + the length inputs -> outputs + present.*, at the recipe's tolerance."""
        past, present, pairs, lengths = in_place_cache(cache.layers, cache.heads, cache.head_dim, seq2seq=cache.seq2seq)
        return GraphSpec(name, name, inputs=inputs + past + bound + lengths, outputs=outputs + present,
                         tolerance=self.recipe.tolerance, cache=pairs, lengths=CacheLengths(), convert=convert,
                         choices=choices, notes=notes)


    def standard_cases(self, prefills: tuple[int, ...] = (37, 300), pasts: tuple[int, ...] = (9, 600),
                       limit_batch: int = 1) -> list[Case]:
        """The cases every decoder checks: ragged prefills of three rows at prefills[0] and two rows at the rest,
        a one-token prefill, decodes after one position, three ragged pasts at pasts[0] and two at the rest, and
        `limit_batch` rows at the cache's last position."""
        limit = self.recipe.kv_capacity - 1
        return ([prefill_case(3, prefills[0], ragged=True), prefill_case(1, 1)]
                + [prefill_case(2, n, ragged=True) for n in prefills[1:]]
                + [decode_case(1, 1), decode_case(3, pasts[0], ragged=True)]
                + [decode_case(2, n, ragged=True) for n in pasts[1:]]
                + [decode_case(limit_batch, limit, note="limit")])
    def example_case(self) -> Case:
        """A ragged prefill of batch 2 (lengths 5 and 3)."""
        return Case("export", batch=2, length=5, ragged=True)

    def random_inputs(self, model, spec: GraphSpec, batch: int, length: int, rng) -> dict:
        """Step inputs of `batch` rows of `length` random valid tokens (a prefill, or a row's past)."""
        raise NotImplementedError

    def prefill_inputs(self, model, spec: GraphSpec, case: Case, rng) -> tuple[dict, list[int]]:
        """The step inputs of a prefill case and each row's real token count (default: random, row_lengths)."""
        new = row_lengths(case.batch, case.length, case.ragged)
        return self.random_inputs(model, spec, case.batch, max(new), rng), new

    def decode_inputs(self, model, spec: GraphSpec, batch: int, rng) -> dict:
        """The step inputs of one new token per row (default: random)."""
        return self.random_inputs(model, spec, batch, 1, rng)

    def run_row(self, model, spec: GraphSpec, inputs: dict, past: tuple, cached: int) -> tuple[dict, list]:
        """The reference on one row: `inputs` [1, n, ...] after `past` (flat [1, heads, cached, D] tensors, empty
        when cached is 0) -> (its non-cache outputs for the row's last token, unbatched arrays; its flat cache)."""
        raise NotImplementedError

    def feed(self, model, spec: GraphSpec, case: Case, rng) -> dict:
        """Right-padded new tokens, caches holding each row's past (garbage beyond it), the length inputs."""
        import torch

        with torch.no_grad():
            if case.decode:
                pasts, new = row_lengths(case.batch, case.length, case.ragged), [1] * case.batch
                rows = [self.run_row(model, spec, self.random_inputs(model, spec, 1, p, rng), (), 0)[1] for p in pasts]
                feed = self.decode_inputs(model, spec, case.batch, rng)
            else:
                (feed, new), pasts, rows = self.prefill_inputs(model, spec, case, rng), [0] * case.batch, []
        capacity = spec.capacity_for(max(p + n for p, n in zip(pasts, new)))
        for i, pair in enumerate(spec.cache):  # garbage past each row's valid prefix: the graph must not read it
            if rows:
                feed[pair.past] = pack([row[i][0] for row in rows], capacity, "random", rng)
            else:
                shape = next(t for t in spec.inputs if t.name == pair.past).shape
                feed[pair.past] = rng.standard_normal((case.batch, shape[1], capacity, shape[3])).astype(np.float32)
        return {**feed, **lengths_feed(spec, pasts, new)}

    def reference(self, model, spec: GraphSpec, feed: dict) -> dict:
        """Each row alone through the reference (its own past, its real tokens); caches NaN past each row's end."""
        import torch

        cached, new = feed[spec.lengths.cached], feed[spec.lengths.new]
        outputs, presents = [], []
        with torch.no_grad():
            for b in range(len(cached)):
                p, n = int(cached[b]), int(new[b])
                inputs = row_inputs(spec, feed, b, n)
                past = tuple(torch.from_numpy(feed[pair.past][b: b + 1, :, :p].copy()) for pair in spec.cache) if p else ()
                out, flat = self.run_row(model, spec, inputs, past, p)
                outputs.append(out)
                presents.append([t[0] for t in flat])
        capacity = feed[spec.cache[0].past].shape[2]
        result = {name: np.stack([np.asarray(o[name]) for o in outputs]) for name in outputs[0]}
        for i, pair in enumerate(spec.cache):
            result[pair.present] = pack([row[i] for row in presents], capacity, "nan")
        return result

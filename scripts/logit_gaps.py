"""How near-tied a graph's choices are: the fp32 reference's top-2 logit gaps over the rows `ttsx parity` pools for
its top-1 row (the graph's plain cases, first draw).

    python scripts/logit_gaps.py ARTIFACT GRAPH

A reduced precision flips a row's argmax when its logit error exceeds the row's gap, so top-1 agreement on weights
whose logits are near-tied (random weights: flat distributions) judges ties more than accuracy. Prints the rows'
count, the gap's median and 10th / 90th percentiles, the median logit standard deviation, and the median gap / std.
"""
from __future__ import annotations

import argparse

import numpy as np

from ttsx.artifact.manifest import load_artifact
from ttsx.checks.parity import CASE_SEED, reference_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("graph")
    args = parser.parse_args()
    artifact = load_artifact(args.artifact)
    recipe = artifact.recipe
    spec = next((s for s in recipe.graphs(artifact.precision, artifact.kv_cache) if s.name == args.graph), None)
    if spec is None or not spec.choices:
        raise SystemExit(f"{args.graph} is not a graph of {artifact.root} whose outputs are choices (logits)")
    model, kind = reference_model(artifact, None), recipe.graph_kind(args.graph)
    gaps, stds = [], []
    for i, case in enumerate(kind.cases()):
        ref = kind.reference(model, spec, kind.feed(model, spec, case, np.random.default_rng(CASE_SEED + i)))
        for name in spec.choices:
            logits = np.asarray(ref[name], np.float64)
            logits = logits.reshape(-1, logits.shape[-1])
            top = np.sort(logits, -1)[:, -2:]
            gaps += list(top[:, 1] - top[:, 0])
            stds += list(logits.std(-1))
    gaps, stds = np.asarray(gaps), np.asarray(stds)
    print(f"{artifact.root.name} {args.graph}: {gaps.size} rows; top-2 gap median {np.median(gaps):.3f}, "
          f"p10 {np.percentile(gaps, 10):.3f}, p90 {np.percentile(gaps, 90):.3f}; logit std median "
          f"{np.median(stds):.3f}; gap / std median {np.median(gaps / stds):.3f}")


if __name__ == "__main__":
    main()

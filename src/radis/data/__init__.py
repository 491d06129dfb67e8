"""Data sources for the workflow: readers that turn each source into one normalised record shape."""

from __future__ import annotations

import random


def seeded_rng(seed: int, *keys: object) -> random.Random:
    """The one seeded random source of every sample the workflow draws: ``random.Random(seed)``, or
    with keys (a direction, a category) ``random.Random("{seed}:{key}:...")``, so each key draws on
    its own and adding a direction or category leaves the others' draws unchanged."""
    return random.Random(":".join(map(str, (seed, *keys)))) if keys else random.Random(seed)


def sample_indices(n: int, limit: int | None, seed: int, *keys: object) -> list[int]:
    """Indices of a seeded subset of ``limit`` out of ``n`` in their original order (all if no limit);
    ``keys`` as in :func:`seeded_rng`."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return sorted(seeded_rng(seed, *keys).sample(range(n), limit))


def subset(records: list, limit: int | None, seed: int) -> list:
    """A deterministic subset: the same (records, limit, seed) always picks the same items, in order."""
    return [records[i] for i in sample_indices(len(records), limit, seed)]

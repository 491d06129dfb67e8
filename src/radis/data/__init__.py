"""Data sources for the workflow: readers that turn each source into one normalised record shape."""

from __future__ import annotations

import random


def sample_indices(n: int, limit: int | None, seed: int) -> list[int]:
    """Indices of a seeded subset of ``limit`` out of ``n`` in their original order (all if no limit)."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return sorted(random.Random(seed).sample(range(n), limit))


def subset(records: list, limit: int | None, seed: int) -> list:
    """A deterministic subset: the same (records, limit, seed) always picks the same items, in order."""
    return [records[i] for i in sample_indices(len(records), limit, seed)]

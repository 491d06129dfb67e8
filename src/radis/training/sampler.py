"""Which examples each optimizer step and each micro-batch get.

Speed without changing what is learned (benchmarks/run.py measures it against a plain Trainer):
each optimizer step gets the very examples that transformers' own shuffled loader gives it with
the same seed (the same permutation, cut into the same windows), but inside the window the
examples are sorted by length and split into micro-batches so that little padding is computed;
the loss is normalised by the window's target tokens, so the gradient is the same whatever the split.
"""

from __future__ import annotations

import math

from radis.io import InputError


def gradient_accumulation(batch_size: int, micro_batch_size: int, world_size: int) -> int:
    """Steps to accumulate so that micro × devices × steps equals the effective batch exactly."""
    per_step = micro_batch_size * world_size
    if batch_size % per_step:
        raise InputError(
            f"training.batch_size {batch_size} is not a multiple of micro_batch_size {micro_batch_size} "
            f"× {world_size} device(s)"
        )
    return batch_size // per_step


def micro_batch_split(lengths: list[int], n_parts: int) -> list[int]:
    """Sizes of ``n_parts`` consecutive micro-batches of length-sorted examples (longest first)
    with the fewest padded tokens: each micro-batch pads to its first (longest) example.

    No micro-batch holds more padded tokens than ``ceil(len/n_parts)`` copies of the longest
    example, the most a fixed-size split could need, so memory never grows.
    """
    n = len(lengths)
    if not 1 <= n_parts <= n:
        raise ValueError(f"cannot split {n} examples into {n_parts} micro-batches")
    cap = math.ceil(n / n_parts) * lengths[0]
    inf = float("inf")
    # cost[k][i]: fewest padded tokens for the first i examples in k micro-batches
    cost = [[inf] * (n + 1) for _ in range(n_parts + 1)]
    cut = [[0] * (n + 1) for _ in range(n_parts + 1)]
    cost[0][0] = 0
    for k in range(1, n_parts + 1):
        for i in range(k, n - (n_parts - k) + 1):
            for j in range(k - 1, i):  # the k-th micro-batch is examples j..i-1, padded to lengths[j]
                tokens = (i - j) * lengths[j]
                if tokens <= cap and cost[k - 1][j] + tokens < cost[k][i]:
                    cost[k][i], cut[k][i] = cost[k - 1][j] + tokens, j
    sizes, i = [], n
    for k in range(n_parts, 0, -1):
        sizes.append(i - cut[k][i])
        i = cut[k][i]
    return sizes[::-1]


class WindowSortedBatchSampler:
    """Micro-batches whose optimizer steps see the same examples as a shuffled loader would.

    Per epoch the permutation of the Trainer's own seeded sampler (``randperm`` seeded with
    ``data_seed + epoch``) is cut into windows of ``micro_batch_size × accumulation × world_size``
    examples (one optimizer step each, over all processes); within a window the examples are sorted
    by length and split by :func:`micro_batch_split`. The number of micro-batches per window, and so
    the step count, equals that of a plain loader (``ceil(window / micro_batch_size)``).

    With several processes (DDP on the paper's 4 GPUs) every process builds the same sequence and
    accelerate's ``BatchSamplerShard`` deals micro-batch ``i`` to process ``i % world_size``, so each
    optimizer step still sees exactly one window, length-sorted, on every GPU; the loss is
    normalised by the window's target tokens across processes, so the gradient does not depend on
    the split.
    """

    def __init__(self, lengths: list[int], micro_batch_size: int, accumulation: int, seed: int,
                 world_size: int = 1):
        self.lengths, self.micro, self.seed = lengths, micro_batch_size, seed
        self.window = micro_batch_size * accumulation * world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.micro)

    def __iter__(self):
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        for start in range(0, len(order), self.window):
            window = sorted(order[start:start + self.window], key=lambda i: -self.lengths[i])
            sizes = micro_batch_split([self.lengths[i] for i in window], math.ceil(len(window) / self.micro))
            for size in sizes:
                yield window[:size]
                window = window[size:]

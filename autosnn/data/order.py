"""The order in which a loader visits a split, and its torchrun shards.

:func:`shuffled_order` is exactly the permutation a ``DataLoader(shuffle=True,
generator=torch.Generator().manual_seed(seed))`` visits: each iterator the loader opens draws
a base seed from the generator, then the first one to yield draws the permutation. The
training loop used to open two (``tqdm.auto``'s bar calls ``iter()`` on what it wraps, then
iterates it), so :meth:`~autosnn.data.splits.DataSplits.epoch_loader` skips two draws: the
embedded datasets keep the batches, and so the results, they had before the loaders were
rewritten.

:func:`shard` splits one global order among ``world_size`` ranks as ``DistributedSampler``
does with ``drop_last``: the order is cut to a multiple of ``world_size`` and rank ``r``
takes positions ``r, r + world_size, ...``. With a per-rank batch size ``B``, batch ``k`` of
all ranks together is positions ``[k * B * world_size, (k + 1) * B * world_size)`` of the
order: the same samples whatever the number of ranks, and no sample on two ranks.
"""

from __future__ import annotations

import torch

__all__ = ["shuffled_order", "shard"]


def shuffled_order(n: int, seed: int, base_draws: int = 1) -> torch.Tensor:
    """The permutation of ``range(n)`` a shuffling ``DataLoader`` seeded with ``seed`` visits
    after ``base_draws`` iterators were opened on it."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(base_draws):   # each iterator's base seed, drawn before the permutation
        torch.empty((), dtype=torch.int64).random_(generator=g)
    return torch.randperm(n, generator=g)


def shard(order: torch.Tensor, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """Rank ``rank``'s positions of ``order`` among ``world_size`` ranks (see the module docstring)."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    if world_size == 1:
        return order
    usable = len(order) - len(order) % world_size
    return order[rank:usable:world_size]

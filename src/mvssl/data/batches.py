"""Index batches: the training loader for in-memory datasets. Views are made from the
indices on the training device, so the loader only shuffles integers."""
from __future__ import annotations

import torch
import torch.distributed as dist


class IndexBatches:
    """Shuffled index batches, a fresh permutation every epoch from (seed, epoch). Under DDP each rank
    takes a disjoint slice of every global batch. ``start``: the batches already trained (a resumed run
    continues the same order). ``blocks`` (a partition of the items, e.g. each shard's samples) makes
    the order sequential within shuffled blocks, so consecutive indices are neighbours on disk.

    There is deliberately no ``state_dict``: Lightning snapshots a stateful loader after its fetcher
    has drawn the *next* batch; the trainer counts the batches that reached ``training_step`` instead."""

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, drop_last: bool = True, start: int = 0,
                 blocks: list[torch.Tensor] | None = None):
        if blocks is not None and sum(len(b) for b in blocks) != num_items:
            raise ValueError(f"blocks hold {sum(len(b) for b in blocks)} items, not {num_items}")
        self.blocks = blocks
        if batch_size > num_items:
            raise ValueError(f"batch size {batch_size} is larger than the dataset ({num_items} items)")
        self.num_items, self.batch_size, self.seed, self.drop_last = num_items, batch_size, seed, drop_last
        self.epoch, self.served = divmod(start, len(self))

    def __len__(self) -> int:
        full, rest = divmod(self.num_items, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def _rank_world(self) -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def __iter__(self):
        rank, world = self._rank_world()
        if self.batch_size % world:
            raise ValueError(f"batch size {self.batch_size} must be divisible by the {world} processes")
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        if self.blocks is None:
            order = torch.randperm(self.num_items, generator=g)
        else:
            order = torch.cat([self.blocks[i] for i in torch.randperm(len(self.blocks), generator=g).tolist()])
        for b in range(self.served, len(self)):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            per_rank = len(batch) // world
            # advance the state before handing the batch out: a loop that stops after the
            # last batch (as Lightning does) must still find the next epoch on its next iter()
            last = b == len(self) - 1
            self.epoch, self.served = (self.epoch + 1, 0) if last else (self.epoch, b + 1)
            yield batch[rank * per_rank:(rank + 1) * per_rank]

    @property
    def position(self) -> int:
        """Batches handed out so far, over all epochs (the ``start`` that continues from here)."""
        return self.epoch * len(self) + self.served


def endless(batches):
    while True:  # one epoch after another, as Lightning iterates the loader
        yield from batches

import torch
from lightning.fabric.utilities.types import _Stateful

from mvssl.data.batches import IndexBatches


def test_each_epoch_is_a_fresh_permutation_and_stopping_after_the_last_batch_moves_on():
    loader = IndexBatches(20, 5, seed=0)
    first = list(loader)
    assert len(first) == 4 and sorted(torch.cat(first).tolist()) == list(range(20))
    it = iter(loader)  # a consumer that stops right after the last batch, like Lightning
    second = [next(it) for _ in range(4)]
    assert (loader.epoch, loader.served, loader.position) == (2, 0, 8)
    assert sorted(torch.cat(second).tolist()) == list(range(20))
    assert not all(torch.equal(a, b) for a, b in zip(first, second))


def test_start_continues_the_same_order_across_epochs():
    a = IndexBatches(30, 4, seed=3)
    whole = list(a) + list(a)  # two epochs of 7 batches
    for start in (0, 3, 7, 9):
        b = IndexBatches(30, 4, seed=3, start=start)
        rest = list(b) + (list(b) if start < 7 else [])
        assert len(rest) == len(whole) - start
        assert all(torch.equal(x, y) for x, y in zip(whole[start:], rest))


def test_lightning_does_not_treat_it_as_a_stateful_loader():
    # Lightning would snapshot it one prefetched batch ahead of the weights
    assert not isinstance(IndexBatches(10, 2), _Stateful)

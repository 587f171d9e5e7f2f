import torch

from mvssl.data.batches import IndexBatches


def test_each_epoch_is_a_fresh_permutation_and_stopping_after_the_last_batch_moves_on():
    loader = IndexBatches(20, 5, seed=0)
    first = list(loader)
    assert len(first) == 4 and sorted(torch.cat(first).tolist()) == list(range(20))
    it = iter(loader)  # a consumer that stops right after the last batch, like Lightning
    second = [next(it) for _ in range(4)]
    assert loader.state_dict() == {"epoch": 2, "served": 0}
    assert sorted(torch.cat(second).tolist()) == list(range(20))
    assert not all(torch.equal(a, b) for a, b in zip(first, second))


def test_state_dict_resumes_the_same_order():
    a = IndexBatches(30, 4, seed=3)
    it = iter(a)
    seen = [next(it) for _ in range(3)]
    b = IndexBatches(30, 4, seed=3)
    b.load_state_dict(a.state_dict())
    rest_b = list(b)
    rest_a = list(it)
    assert len(seen) + len(rest_a) == len(a) == 7
    assert all(torch.equal(x, y) for x, y in zip(rest_a, rest_b))

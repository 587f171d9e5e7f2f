import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mvssl.nn import MemoryBank, NegativesQueue, ema_update, frozen_copy, gather_from_all_ranks


def _rows(start, n, dim=3):
    """Distinguishable unit keys: row r is normalise([r, 1, 0])."""
    r = torch.arange(start, start + n, dtype=torch.float32)
    v = torch.stack([r, torch.ones(n), torch.zeros(n)], 1)
    return v / v.norm(dim=1, keepdim=True)


def test_queue_starts_with_unit_vectors():
    q = NegativesQueue(7, 5)
    assert q.keys.shape == (7, 5) and int(q.pointer) == 0
    torch.testing.assert_close(q.keys.norm(dim=1), torch.ones(7))


def test_queue_is_fifo_and_wraps_around():
    q = NegativesQueue(5, 3)
    q.enqueue(_rows(0, 2))
    q.enqueue(_rows(2, 2))
    torch.testing.assert_close(q.keys[:4], _rows(0, 4))
    assert int(q.pointer) == 4
    q.enqueue(_rows(4, 3))  # fills slot 4, then overwrites the two oldest (slots 0, 1)
    torch.testing.assert_close(q.keys, torch.cat([_rows(5, 2), _rows(2, 2), _rows(4, 1)]))
    assert int(q.pointer) == 2
    q.enqueue(_rows(10, 12))  # more keys than slots: only the newest five stay, in ring order
    newest = _rows(17, 5)
    assert int(q.pointer) == (2 + 5) % 5
    torch.testing.assert_close(q.keys[[2, 3, 4, 0, 1]], newest)


def test_queue_normalises_and_detaches_keys():
    q = NegativesQueue(4, 2)
    k = torch.tensor([[3.0, 4.0]], requires_grad=True)
    q.enqueue(k * 2)
    torch.testing.assert_close(q.keys[0], torch.tensor([0.6, 0.8]))
    assert not q.keys.requires_grad


def test_ema_update_formula():
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for t, b, o in zip(target.parameters(), before, online.parameters()):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * o)
    ema_update(target, online, 0.0)
    for t, o in zip(target.parameters(), online.parameters()):
        torch.testing.assert_close(t, o)
    with pytest.raises(ValueError):
        ema_update(target, online, 1.5)


def test_ema_update_of_tuples_pairs_modules_in_order():
    online, target = (nn.Linear(3, 2), nn.Linear(2, 4)), (nn.Linear(3, 2), nn.Linear(2, 4))
    before = [p.clone() for m in target for p in m.parameters()]
    ema_update(target, online, 0.75)
    after = [p for m in target for p in m.parameters()]
    for t, b, o in zip(after, before, [p for m in online for p in m.parameters()], strict=True):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o)
    with pytest.raises(ValueError, match="same shapes"):
        ema_update(target, online[::-1], 0.5)


def test_ema_leaves_buffers_and_frozen_copy_is_untrainable():
    online = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    target = frozen_copy(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    online[1].running_mean.fill_(5.0)
    ema_update(target, online, 0.5)
    assert torch.equal(target[1].running_mean, torch.zeros(2))


def test_memory_bank_momentum_update():
    bank = MemoryBank(6, 3)
    old = bank.memory.clone()
    idx = torch.tensor([4, 1])
    z = torch.randn(2, 3)
    bank.update(idx, z, momentum=0.5)
    expected = 0.5 * old[idx] + 0.5 * z / z.norm(dim=1, keepdim=True)
    torch.testing.assert_close(bank[idx], expected / expected.norm(dim=1, keepdim=True))
    untouched = torch.tensor([0, 2, 3, 5])
    torch.testing.assert_close(bank[untouched], old[untouched])


def test_memory_bank_sampling_follows_the_generator():
    bank = MemoryBank(10, 2)
    a = bank.sample(7, torch.Generator().manual_seed(1))
    b = bank.sample(7, torch.Generator().manual_seed(1))
    assert a.shape == (7,) and torch.equal(a, b) and a.min() >= 0 and a.max() < 10


def test_gather_is_identity_without_a_process_group():
    x = torch.randn(3, 2)
    assert gather_from_all_ranks(x) is x


def _ddp_worker(rank, world, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)  # the same initial queue on every rank, as after DDP's broadcast
        q = NegativesQueue(8, 3)
        q.enqueue(_rows(10 * rank, 2))  # each rank has its own keys
        bank = MemoryBank(4, 3)
        bank.update(torch.tensor([rank]), _rows(10 * rank, 1), momentum=0.0)
        results[rank] = (q.keys.clone(), int(q.pointer), bank.memory.clone())
    finally:
        dist.destroy_process_group()


def test_queue_and_bank_gather_keys_from_every_rank():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("fork")  # fork: the workers skip re-importing torch
    results = ctx.Manager().dict()
    workers = [ctx.Process(target=_ddp_worker, args=(rank, 2, port, results)) for rank in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    (keys0, ptr0, bank0), (keys1, ptr1, bank1) = results[0], results[1]
    assert ptr0 == ptr1 == 4
    torch.testing.assert_close(keys0, keys1)
    torch.testing.assert_close(keys0[:4], torch.cat([_rows(0, 2), _rows(10, 2)]))
    torch.testing.assert_close(bank0, bank1)
    torch.testing.assert_close(bank0[:2], torch.cat([_rows(0, 1), _rows(10, 1)]))

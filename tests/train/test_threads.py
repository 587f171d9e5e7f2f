"""The thread rule of train/threads.py: its logic (not timings), the user's override, and
--jobs workers taking the usable cores in turn."""
import multiprocessing
import os

import pytest
import torch

from mvssl.train import threads


@pytest.mark.parametrize("usable, busy, processes, expected", [
    (2, 0.0, 1, 2),    # quiet 2-core machine: both cores
    (2, 0.4, 1, 2),    # a little noise rounds away
    (2, 0.5, 1, 1),    # half a core busy rounds to one
    (2, 3.0, 1, 1),    # overloaded: one thread, never zero
    (2, 9.0, 1, 1),
    (16, 4.0, 1, 12),  # a bigger machine keeps what the others leave
    (16, 3.5, 1, 12),
    (16, 0.0, 4, 4),   # DDP on the CPU: the free cores shared by the processes
    (2, 0.0, 4, 1),    # more processes than cores: one each
    (1, 0.0, 1, 1),
    (8, -1.0, 1, 8),   # a negative count (a race in /proc) counts as none
])
def test_threads_for_follows_the_documented_rule(usable, busy, processes, expected):
    assert threads.threads_for(usable, busy, processes) == expected


def _tasks(folder, states):
    """A fake /proc/self/task: one thread per state letter (names with spaces and parentheses)."""
    for i, state in enumerate(states):
        (folder / str(i)).mkdir(parents=True)
        (folder / str(i) / "stat").write_text(f"{100 + i} (pt main (x)) {state} 1 2 3\n")
    return str(folder)


def test_own_running_counts_this_processs_runnable_threads(tmp_path):
    assert threads.own_running(_tasks(tmp_path / "a", "RRS")) == 2
    assert threads.own_running(_tasks(tmp_path / "b", "SS")) == 1  # this thread is reading: at least 1
    assert threads.own_running(str(tmp_path / "missing")) == 1


def test_busy_cores_is_the_mean_of_procs_running_less_this_processs_running_threads(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 4\nprocs_blocked 0\n")
    one = _tasks(tmp_path / "one", "RS")
    assert threads.busy_cores(samples=3, every=0, stat=str(stat), tasks=one) == 3.0
    spinning = _tasks(tmp_path / "two", "RR")  # its own OpenMP threads spinning are not other load
    assert threads.busy_cores(samples=3, every=0, stat=str(stat), tasks=spinning) == 2.0
    stat.write_text("procs_running 1\n")
    assert threads.busy_cores(samples=2, every=0, stat=str(stat), tasks=spinning) == 0.0


def test_busy_cores_falls_back_to_the_load_average_without_proc_stat(tmp_path):
    assert threads.busy_cores(samples=2, every=0, stat=str(tmp_path / "missing")) == os.getloadavg()[0]


def test_the_users_thread_count_wins_over_the_rule(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1, 2])
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 3)
    monkeypatch.setattr(threads, "_RULE_SET", None)
    try:
        torch.set_num_threads(1)
        said = threads.apply_thread_rule(environ={"OMP_NUM_THREADS": "1"})
        assert torch.get_num_threads() == 1 and "OMP_NUM_THREADS=1" in said
        said = threads.apply_thread_rule(environ={})  # no choice in the environment: the rule, 3 free cores
        assert torch.get_num_threads() == 3 and "3 usable" in said
        monkeypatch.setattr(threads, "busy_cores", lambda: 2.2)
        threads.apply_thread_rule(environ={})
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_workers_take_the_usable_cores_in_turn():
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    assert [threads.worker_core(counter, [3, 5]) for _ in range(5)] == [3, 5, 3, 5, 3]


def _affinity_after_pinning(counter, cores, queue):
    threads.pin_worker(counter, cores)
    queue.put(sorted(os.sched_getaffinity(0)))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_a_pinned_worker_runs_on_one_core():
    context = multiprocessing.get_context("spawn")
    counter, queue, core = context.Value("i", 0), context.Queue(), threads.usable_cores()[-1]
    process = context.Process(target=_affinity_after_pinning, args=(counter, [core], queue))
    process.start()
    assert queue.get(timeout=60) == [core]
    process.join(60)
    assert sorted(os.sched_getaffinity(0)) == threads.usable_cores()  # this process is left alone


def test_never_more_threads_than_torchs_own_default(monkeypatch):
    """On a machine with SMT the affinity mask lists twice the physical cores: the rule keeps
    torch's default (one per physical core) as its ceiling, so nothing runs more threads than before."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: list(range(8)))
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 4)
    monkeypatch.setattr(threads, "_RULE_SET", None)
    try:
        assert "4 usable" in threads.apply_thread_rule(environ={}) and torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


def test_a_running_training_takes_fewer_threads_when_others_start_and_takes_them_back(monkeypatch):
    from mvssl.train.progress import ThreadWatch

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1])
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 2)
    monkeypatch.setattr(threads, "_RULE_SET", None)
    busy = [0.0]
    monkeypatch.setattr(threads, "busy_cores", lambda samples=20: busy[0])
    lines = []
    watch = ThreadWatch(every=0.0, echo=lines.append)
    trainer = type("T", (), {"global_rank": 0, "global_step": 7})()
    try:
        torch.set_num_threads(2)
        watch.on_train_batch_end(trainer, None, None, None, 0)
        assert torch.get_num_threads() == 2 and lines == []  # quiet: unchanged, nothing said
        busy[0] = 3.0
        watch.on_train_batch_end(trainer, None, None, None, 0)
        assert torch.get_num_threads() == 1 and lines == ["threads 2 -> 1 at step 7 (other processes on the cores)"]
        busy[0] = 0.0
        watch.on_train_batch_end(trainer, None, None, None, 0)
        assert torch.get_num_threads() == 2 and len(lines) == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice is never changed
        busy[0] = 3.0
        watch.on_train_batch_end(trainer, None, None, None, 0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_count_the_caller_set_after_the_rule_wins_over_it(monkeypatch):
    """A Python caller's torch.set_num_threads after the rule's choice is kept, at the start of a
    run and during it (studies train one-thread twins in-process to compare with their workers)."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "busy_cores", lambda samples=20: 0.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1])
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 2)
    monkeypatch.setattr(threads, "_RULE_SET", None)
    try:
        threads.apply_thread_rule(environ={})
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)  # the caller's choice
        said = threads.apply_thread_rule(environ={})
        assert torch.get_num_threads() == 1 and "set by the caller" in said
        assert threads.recheck_threads() is None and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

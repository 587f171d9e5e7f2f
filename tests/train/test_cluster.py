"""Which process writes the run folder under SLURM and by hand, and the requeue a SIGUSR1
asks SLURM for (``scontrol`` replaced by a script that records its arguments)."""
import os

import pytest

from mvssl.train.cluster import joins_another_process
from mvssl.train.preemption import requeue_slurm_job

SLURM = ("SLURM_NTASKS", "SLURM_PROCID", "NODE_RANK", "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID")


@pytest.fixture
def clean_env(monkeypatch):
    for key in SLURM:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.parametrize("env, joins", [
    ({}, False), ({"NODE_RANK": "0"}, False), ({"NODE_RANK": "1"}, True),
    ({"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, False), ({"SLURM_NTASKS": "8", "SLURM_PROCID": "5"}, True),
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, False),
])
def test_the_first_process_writes_the_folder_and_the_others_join_it(clean_env, env, joins):
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert joins_another_process() is joins


def fake_scontrol(tmp_path, monkeypatch, code=0):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "scontrol"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'calls'}\nexit {code}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "calls"


def test_a_slurm_job_is_requeued_by_its_id_and_an_array_task_by_both(clean_env, tmp_path):
    calls = fake_scontrol(tmp_path, clean_env)
    assert requeue_slurm_job() is None and not calls.exists()  # not a SLURM job: nothing to requeue
    clean_env.setenv("SLURM_JOB_ID", "4242")
    assert requeue_slurm_job() == "requeued SLURM job 4242"
    clean_env.setenv("SLURM_ARRAY_JOB_ID", "77")
    clean_env.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert requeue_slurm_job() == "requeued SLURM job 77_3"
    assert calls.read_text().splitlines() == ["requeue 4242", "requeue 77_3"]


def test_a_failed_requeue_is_said_not_raised(clean_env, tmp_path):
    fake_scontrol(tmp_path, clean_env, code=1)
    clean_env.setenv("SLURM_JOB_ID", "9")
    assert requeue_slurm_job() == "scontrol requeue 9 failed (exit 1)"

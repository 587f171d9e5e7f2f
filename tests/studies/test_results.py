"""The shared experiment machinery: intervals, the results writer and
``mvssl experiment report``."""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import pytest

from mvssl.cli import main
from mvssl.studies import stats
from mvssl.studies.report import END, START, replace_between_markers
from mvssl.studies.results import Experiment, add_common_arguments


def test_t_interval_matches_textbook_values():
    # [1, 2, 3]: sd 1, t(0.975, 2) = 4.302653 -> half-width 4.302653 / sqrt(3)
    assert stats.t_halfwidth([1.0, 2.0, 3.0]) == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    # 5 values, t(0.975, 4) = 2.776445
    v = [10.0, 12.0, 11.0, 13.0, 9.0]
    sd = math.sqrt(sum((x - 11.0) ** 2 for x in v) / 4)
    assert stats.t_halfwidth(v) == pytest.approx(2.776445 * sd / math.sqrt(5), rel=1e-5)
    assert math.isinf(stats.t_halfwidth([3.0]))


def _args(tmp_path, **kw):
    p = argparse.ArgumentParser()
    add_common_arguments(p)
    args = p.parse_args(["--out", str(tmp_path / "exp")])
    for k, v in kw.items():
        setattr(args, k, v)
    return args


def test_experiment_writes_results_json_and_md(tmp_path):
    lines = []
    exp = Experiment("demo", _args(tmp_path), total_runs=2, echo=lines.append)
    exp.progress("run a", "acc 50%")
    assert lines[-1].startswith("[1/2] run a: acc 50%") and "ETA" in lines[-1]
    point = {"arm": "a", "value": 1.0, "metrics": {"acc": stats.summarize([50.0])}, "runs": []}
    claim = {"id": "demo.claim", "prediction": "a > b", "verdict": "inconclusive", "effect": 1.0,
             "ci95": math.inf, "unit": "", "evidence": "one seed"}  # one seed: no interval
    exp.write([point], [claim], "| t |\n|---|", "Demo")
    data = json.loads((tmp_path / "exp" / "results.json").read_text())  # strict JSON: no Infinity
    assert data["experiment"] == "demo" and data["claims"][0]["verdict"] == "inconclusive"
    assert data["points"][0]["metrics"]["acc"]["ci95"] is None
    assert "machine" in data and data["wall_seconds"] >= 0 and data["quick"] is False
    md = (tmp_path / "exp" / "results.md").read_text()
    assert "# Demo" in md and "| t |" in md and "Command:" in md
    with pytest.raises(FileExistsError, match="already holds results.json"):
        Experiment("demo", _args(tmp_path), total_runs=1)
    resumed = Experiment("demo", _args(tmp_path, resume=True), total_runs=1)  # --resume may reuse it
    resumed.write([point], [claim], "| t |\n|---|", "Demo")
    again = json.loads((tmp_path / "exp" / "results.json").read_text())
    first = data["wall_seconds"]
    assert again["wall_seconds_attempts"][0] == pytest.approx(first) and len(again["wall_seconds_attempts"]) == 2
    assert again["wall_seconds"] == pytest.approx(sum(again["wall_seconds_attempts"]))
    assert "over 2 attempts" in (tmp_path / "exp" / "results.md").read_text()


def test_an_attempt_killed_before_it_wrote_results_still_counts_in_the_wall_time(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    first = Experiment("demo", _args(tmp_path), total_runs=2, echo=lambda *_: None)
    clock[0] += 30.0
    first.progress("run a", "acc 50%")  # then the attempt is killed: no results.json was written
    clock[0] += 1000.0  # time after the last progress line is lost with the kill
    assert not (tmp_path / "exp" / "results.json").exists()
    resumed = Experiment("demo", _args(tmp_path, resume=True), total_runs=1, echo=lambda *_: None)
    clock[0] += 20.0
    point = {"arm": "a", "value": 1.0, "metrics": {"acc": stats.summarize([50.0])}, "runs": []}
    resumed.write([point], [], "| t |\n|---|", "Demo", complete=False)
    data = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert data["wall_seconds_attempts"] == [30.0, 20.0] and data["wall_seconds"] == 50.0


def test_a_complete_write_records_the_hosts_matmul_speed_and_an_incomplete_one_does_not(tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # not 1, so that a measurement left at one thread would show
    exp = Experiment("demo", _args(tmp_path), total_runs=1, echo=lambda *a: None)
    point = {"arm": "a", "value": 1.0, "metrics": {"acc": stats.summarize([50.0])}, "runs": []}
    exp.write([point], [], "| t |\n|---|", "Demo", complete=False)
    assert json.loads((tmp_path / "exp" / "results.json").read_text())["host_fp32_gflops_1thread"] is None
    exp.write([point], [], "| t |\n|---|", "Demo")
    host = json.loads((tmp_path / "exp" / "results.json").read_text())["host_fp32_gflops_1thread"]
    assert 0.1 < host < 1e5 and torch.get_num_threads() == 2  # a measured rate; threads restored
    torch.set_num_threads(threads)
    assert f"fp32 matmul at the end: {host:.0f} GFLOP/s" in (tmp_path / "exp" / "results.md").read_text()


def test_experiment_refuses_bad_options(tmp_path):
    with pytest.raises(ValueError, match="--seeds"):
        Experiment("demo", _args(tmp_path, seeds=0), total_runs=1)
    with pytest.raises(FileNotFoundError, match="--resume"):
        Experiment("demo", _args(tmp_path, resume=True), total_runs=1)


def test_report_gathers_claims_into_the_readme(tmp_path, capsys):
    out = tmp_path / "exp"
    exp = Experiment("demo", _args(tmp_path), total_runs=1, echo=lambda *_: None)
    def claim(cid, says, verdict, effect, ci, unit=""):
        return {"id": cid, "prediction": says, "verdict": verdict, "effect": effect, "ci95": ci, "unit": unit,
                "evidence": "e"}
    exp.write([], [claim("demo.claim/first", "a beats b", "supported", 3.0, 1.0, "points"),
                   claim("demo.claim.second", "c beats d", "inconclusive", 0.5, 2.0, "points"),
                   claim("demo.other", "e beats f", "supported", 4.0, 1.0)], "", "D")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    assert main(["experiment", "report", str(out), "--readme", str(readme), "--docs", "demo=docs/demo.md"]) == 0
    text = readme.read_text()
    assert "old table" not in text and "intro" in text and "outro" in text
    rows = [line for line in text.splitlines() if line.startswith("| `demo.")]
    assert len(rows) == 2  # one line per claim (demo.claim/first and demo.claim.second), its verdicts grouped
    assert rows[0].startswith("| `demo.claim` | **1 supported, 1 inconclusive**")
    assert "first: supported +3.0 ± 1.0 points; second: inconclusive +0.5 ± 2.0 points" in rows[0]
    assert rows[1].startswith("| `demo.other` | **supported**") and "e beats f: supported +4.0 ± 1.0" in rows[1]
    assert "[demo](docs/demo.md)" in text
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("[1, 2]")
    assert main(["experiment", "report", str(tmp_path / "bad")]) == 2
    assert "not written by an mvssl experiment" in capsys.readouterr().err
    with pytest.raises(ValueError, match="markers"):
        replace_between_markers("no markers", "t")


def _tiny_run(seed: int) -> dict:
    return {"method": {"name": "simclr"}, "backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8},
            "optim": {"batch_size": 16, "warmup_steps": 1},
            "trainer": {"max_steps": 3, "seed": seed, "checkpoint_every": 3}, "eval": {"enabled": False}}


def test_jobs_option_is_checked(tmp_path):
    from mvssl.studies.results import parse_jobs

    assert parse_jobs("3") == 3 and parse_jobs("auto") >= 1
    for bad in ("0", "two"):
        with pytest.raises(ValueError, match="--jobs"):
            Experiment("demo", _args(tmp_path, jobs=bad), total_runs=1)


def test_runs_trained_ahead_in_parallel_equal_runs_trained_one_by_one(tmp_path):
    """--jobs 2 trains the runs in two single-threaded processes; the experiment's later train
    calls reuse them, and each encoder equals the one this process trains (one thread)."""
    import torch

    import mvssl

    runs = [(_tiny_run(seed), f"run-seed{seed}") for seed in (0, 1)]
    ahead = Experiment("demo", _args(tmp_path / "ahead", jobs="2"), total_runs=2, echo=lambda *_: None)
    import math

    assert ahead.train_ahead(runs, also=[(math.sqrt, 9.0, "root"), (math.sqrt, 16.0, "root")]) == [3.0, 4.0]
    assert set(ahead.trained) == {"run-seed0", "run-seed1"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one = Experiment("demo", _args(tmp_path / "one", jobs="1"), total_runs=2, echo=lambda *_: None)
        assert one.train_ahead(runs, also=[(math.sqrt, 4.0, "root")]) == [2.0]  # the other work, done here
        assert one.trained == {}  # one job: nothing trained ahead
        for cfg, name in runs:
            path, metrics = ahead.train(cfg, name)  # reused, not trained again
            assert metrics == ahead.trained[name]
            mine, _ = one.train(cfg, name)
            a = mvssl.load(ahead.out / path).backbone.state_dict()
            b = mvssl.load(one.out / mine).backbone.state_dict()
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    finally:
        torch.set_num_threads(threads)
    with pytest.raises(FileExistsError, match="--resume"):  # a second experiment in the folder refuses
        Experiment("demo", _args(tmp_path / "ahead", jobs="2"), total_runs=2).train_ahead(runs)


def test_map_runs_items_in_worker_processes_in_order(tmp_path):
    import math

    lines = []
    exp = Experiment("demo", _args(tmp_path, jobs="2"), total_runs=1, echo=lines.append)
    assert exp.map(math.sqrt, [1.0, 4.0, 9.0, 16.0], what="rooted") == [1.0, 2.0, 3.0, 4.0]
    assert len(lines) == 4 and lines[-1].startswith("[rooted 4/4, 2 at a time]")
    inline = Experiment("demo", _args(tmp_path / "one", jobs="1"), total_runs=1, echo=lines.append)
    assert inline.map(math.sqrt, [4.0, 9.0]) == [2.0, 3.0] and len(lines) == 4  # in this process, quietly
    for runner in (exp, inline):  # each item is handed back as it finishes, with its index
        seen = {}
        before = len(lines)
        assert runner.map(math.sqrt, [1.0, 4.0, 9.0], on_result=seen.__setitem__) == [1.0, 2.0, 3.0]
        assert seen == {0: 1.0, 1: 2.0, 2: 3.0} and len(lines) == before  # the caller prints the progress


def test_resume_refuses_a_run_trained_with_other_settings(tmp_path):
    cfg = _tiny_run(0)
    lines = []
    Experiment("demo", _args(tmp_path, jobs="1"), total_runs=1, echo=lines.append).train(cfg, "run")
    assert len(lines) == 1 and lines[0].startswith("[trained 1/1] run in ")  # a run trained here says so,
    assert "elapsed, training ETA 0:00)" in lines[0]  # with the time left (rule 9)
    again = Experiment("demo", _args(tmp_path, jobs="1", resume=True), total_runs=1, echo=lines.append)
    path, metrics = again.train(cfg, "run")  # the same settings: reused, silently
    assert len(lines) == 1
    assert metrics["steps"] == 3
    longer = {**cfg, "trainer": {**cfg["trainer"], "max_steps": 6}}
    with pytest.raises(ValueError, match="trainer.max_steps = 3, but this experiment asks for 6"):
        again.train(longer, "run")
    with pytest.raises(ValueError, match="--resume"):
        again.train_ahead([(longer, "run")])


_ORPHAN_SCRIPT = '''
import argparse, os, signal, sys, time
from pathlib import Path
from mvssl.studies.results import Experiment, add_common_arguments

def wait(path):
    Path(path).write_text(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    # Ctrl-C as a terminal delivers it: a shell that starts a background job without job control
    # (CI runners, nohup ... &) hands it SIGINT ignored, and Python then keeps ignoring it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    p = argparse.ArgumentParser()
    add_common_arguments(p)
    args = p.parse_args(["--out", sys.argv[1], "--jobs", "2"])
    exp = Experiment("demo", args, total_runs=2, echo=lambda *_: None)
    exp.map(wait, [sys.argv[1] + ".a", sys.argv[1] + ".b"])
'''


def _start_sleeping_workers(tmp_path):
    """An experiment whose two --jobs workers sleep in a row: (its process, the workers' pids)."""
    import subprocess

    script = tmp_path / "orphans.py"
    script.write_text(_ORPHAN_SCRIPT)
    out = tmp_path / "exp"
    parent = subprocess.Popen([sys.executable, str(script), str(out)])
    marks = [Path(f"{out}.a"), Path(f"{out}.b")]
    deadline = time.time() + 60
    while not all(m.exists() and m.read_text() for m in marks) and time.time() < deadline:
        time.sleep(0.2)
    return parent, [int(m.read_text()) for m in marks]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) counts as gone
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _left_after(pids, seconds):
    import signal

    deadline = time.time() + seconds
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.2)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_map_workers_exit_when_the_experiment_is_killed(tmp_path):
    """A killed experiment (SIGKILL: no clean-up runs) leaves no worker training on."""
    import signal

    parent, workers = _start_sleeping_workers(tmp_path)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    left = _left_after(workers, 15)
    assert not left, f"workers {left} outlived the killed experiment"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_interrupted_experiment_stops_its_workers_at_once(tmp_path):
    """Ctrl-C (SIGINT to the experiment's process) stops the rows in progress instead of waiting
    for them (here: two minutes of sleep)."""
    import signal
    import subprocess

    parent, workers = _start_sleeping_workers(tmp_path)
    os.kill(parent.pid, signal.SIGINT)
    try:
        code = parent.wait(timeout=20)
    except subprocess.TimeoutExpired:
        parent.kill()
        code = None
    left = _left_after(workers, 5)
    assert code not in (None, 0), "the interrupted experiment did not stop within 20 s"
    assert not left, f"workers {left} kept running after the interrupt"


def test_the_readme_row_gives_an_absolute_out_folder_as_out():
    from mvssl.studies.report import portable

    assert portable("mvssl experiment er --jobs 1 --out /work/runs/er-v2 --precision 32") == \
        "mvssl experiment er --jobs 1 --out OUT --precision 32"
    assert portable("mvssl experiment er --out=/tmp/x") == "mvssl experiment er --out OUT"
    assert portable("mvssl experiment er --out docs/er_results") == "mvssl experiment er --out docs/er_results"

"""results.json and results.md say which seeds trained as one stacked model (--seeds-in-one-model)
and at how many --jobs: a stacked seed equals its separate run only up to rounding, which grows
over training (docs/performance.md), so two runs of one study differ where this differs."""
import json

from mvssl.cli import main
from tests.train.test_seeds import STUDY  # the same two-arm study (simclr stacks, moco does not)


def _run(tmp_path, name, *flags):
    study = tmp_path / "tiny.yaml"
    study.write_text(STUDY)
    out = tmp_path / name
    assert main(["study", "run", str(study), "--out", str(out), "--jobs", "1", *flags]) == 0
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


def test_results_name_the_seeds_trained_as_one_model_and_the_jobs(tmp_path):
    data, md = _run(tmp_path, "together", "--seeds-in-one-model")
    assert data["seeds_in_one_model"] == {"simclr": [[0, 1]]}  # moco has no stacked form: alone
    assert data["jobs"] == 1
    assert "seeds trained as one model (`--seeds-in-one-model`): simclr [0, 1], every other run alone; " \
           "`--jobs` 1" in md
    data, md = _run(tmp_path, "alone")
    assert data["seeds_in_one_model"] == {}
    assert "every run trained alone; `--jobs` 1" in md


def test_each_model_of_an_arm_is_named_apart():
    from mvssl.studies.writer import training_text
    text = training_text({"jobs": 2, "seeds_in_one_model": {"byol": [[0, 1, 2], [3, 4]], "simclr": [[0, 1]]}})
    assert text == ("; seeds trained as one model (`--seeds-in-one-model`): byol [0, 1, 2], [3, 4]; simclr [0, 1], "
                    "every other run alone; `--jobs` 2")
    assert training_text({"precision": "auto"}) == ""  # results written before the engine recorded it


def test_at_jobs_1_every_run_trains_on_one_thread_whatever_the_load(tmp_path, monkeypatch):
    """--jobs 1 trains in this process: one thread there too, as in a --jobs worker, and the thread rule
    (which would take both cores of a quiet machine) does not decide; restored afterwards."""
    import torch

    from mvssl.train import run as run_mod
    from mvssl.train import threads

    for name in threads.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 2)
    monkeypatch.setattr(threads, "_RULE_SET", None)
    monkeypatch.setattr(threads, "usable_cores", lambda: [0, 1])
    monkeypatch.setattr(threads, "busy_cores", lambda *a, **k: 0.0)  # a quiet 2-core machine: the rule says 2
    seen = []

    def rule(*args, **kwargs):
        said = threads.apply_thread_rule(*args, **kwargs)
        seen.append(torch.get_num_threads())
        return said

    monkeypatch.setattr(run_mod, "apply_thread_rule", rule)
    before = torch.get_num_threads()
    _run(tmp_path, "one-thread")
    assert seen and set(seen) == {1}  # 4 runs, each on one thread
    assert torch.get_num_threads() == before and "OMP_NUM_THREADS" not in __import__("os").environ

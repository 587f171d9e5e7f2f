"""``--precision {auto,32,bf16-mixed}`` of ``mvssl study run`` and ``mvssl experiment``: every
arm's trainer.precision, recorded in results.json and results.md, kept by ``--resume``."""
import json
from pathlib import Path

import pytest
import torch
import yaml

from mvssl.cli import main

STUDY = """
study: precise
base: {trainer: {max_steps: 3}}
arms:
  a: {train: tests.studies.test_precision.stage}
  b: {train: tests.studies.test_precision.stage}
  pinned: {train: tests.studies.test_precision.stage, trainer: {precision: "32"}}
seeds: [0, 1]
measures: {v: {measure: tests.studies.test_precision.value}}
predictions: [{id: p, contrast: "a.v - b.v > 0"}]
"""


def stage(cfg, run_dir: Path) -> dict:
    """A stand-in training: keeps the config it was given and reports the precision it would train in."""
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run_dir / "encoder.pt").write_text("stand-in")
    return {"precision": cfg["trainer"]["precision"]}


def value(run) -> float:
    return 1.0 + run.seed if run.which == "trained" else None


def _run(tmp_path, out, *extra):
    study = tmp_path / "precise.yaml"
    study.write_text(STUDY)
    return main(["study", "run", str(study), "--out", str(tmp_path / out), "--jobs", "1", *extra])


@pytest.mark.parametrize("precision, a, pinned", [("auto", "auto", "32"), ("32", "32", "32"),
                                                  ("bf16-mixed", "bf16-mixed", "bf16-mixed")])
def test_every_arm_trains_in_the_precision_asked_and_the_results_record_it(tmp_path, capsys, precision, a, pinned):
    assert _run(tmp_path, "out", *(["--precision", precision] if precision != "auto" else [])) == 0
    lines = capsys.readouterr().out.splitlines()  # rule 9: a line when it starts, then one per run with an ETA
    assert lines[0] == "precise: 6 runs to train (1 at a time), 6 to measure; a line as each finishes, with the time left"
    trained = [line for line in lines if line.startswith("[trained ")]
    assert [line.split("] ")[0] for line in trained] == [f"[trained {k}/6" for k in range(1, 7)]
    assert all("training ETA" in line for line in trained)
    out = tmp_path / "out"
    seen = {d.name: json.loads((d / "metrics.json").read_text())["precision"] for d in (out / "encoders").iterdir()}
    assert seen == {"a-seed0": a, "a-seed1": a, "b-seed0": a, "b-seed1": a, "pinned-seed0": pinned,
                    "pinned-seed1": pinned}  # auto leaves an arm's own precision; any other overrides it
    data = json.loads((out / "results.json").read_text())
    assert data["precision"] == precision and data["run_precisions"] == sorted({a, pinned})
    assert f"precision: {precision} (`--precision`; the runs reported {', '.join(sorted({a, pinned}))}; stages " \
        in (out / "results.md").read_text()
    assert data["study"]["sha256"] == __import__("hashlib").sha256(STUDY.encode()).hexdigest()  # not in the hash
    machine = data["machine"]  # the machine line does not say "precision auto: bf16-mixed" for a --precision 32 run
    assert ("precision auto: not used (--precision" in machine) == (precision != "auto"), machine
    assert f"--precision {precision}; auto would pick " in machine or precision == "auto", machine


def test_resume_refuses_another_precision_in_one_line(tmp_path, capsys):
    assert _run(tmp_path, "out", "--precision", "32") == 0
    capsys.readouterr()
    assert _run(tmp_path, "out", "--resume", "--precision", "bf16-mixed") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was run with --precision 32, not bf16-mixed" in err[0], err
    assert _run(tmp_path, "out", "--resume") == 2  # auto is another precision too
    assert _run(tmp_path, "out", "--resume", "--precision", "32") == 0
    # cut off before any results were written: each run's own config refuses it
    (tmp_path / "out" / "results.json").unlink()
    capsys.readouterr()
    assert _run(tmp_path, "out", "--resume", "--precision", "bf16-mixed") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trainer.precision = '32', but this experiment asks for 'bf16-mixed'" in err[0], err


def test_a_bad_precision_is_refused_before_anything_is_created(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        _run(tmp_path, "out", "--precision", "16")
    assert err.value.code == 2 and not (tmp_path / "out").exists()
    assert main(["experiment", "view-learning", "--precision", "bf16-mixed", "--out", str(tmp_path / "vl")]) == 2
    assert not (tmp_path / "vl").exists()  # its own fp32 loops: refused, not ignored
    from mvssl.studies.experiment import declaration

    vl_file = str(declaration("view_learning")[0])  # the same file run as a study: refused too
    assert main(["study", "run", vl_file, "--precision", "bf16-mixed", "--out", str(tmp_path / "vl")]) == 2
    assert not (tmp_path / "vl").exists()
    assert "--precision bf16-mixed: study view-learning runs in auto or 32 only" in capsys.readouterr().err
    study = tmp_path / "precise.yaml"
    study.write_text(STUDY + "precisions: [auto, '16-mixed']\n")
    assert main(["study", "check", str(study)]) == 2
    assert "precise.yaml: precisions: ['auto', '16-mixed']: the --precision values its stages honour" in \
        capsys.readouterr().err


def _supervised(precision: str) -> list[torch.Tensor]:
    from mvssl.build import resolve
    from mvssl.config_text import parse_overrides
    from mvssl.experiments.supervised import train_supervised_labels

    cfg = resolve(parse_overrides(["--backbone.width", "4", "--data.image_size", "16", "--trainer.precision",
                                   precision]))
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 16, 16), generator=g, dtype=torch.uint8)
    encoder = train_supervised_labels(cfg, images, torch.arange(32) % 4, steps=3, batch_size=8)
    return [p.detach().clone() for p in encoder.backbone.parameters()]


def test_the_supervised_reference_trains_in_bf16_only_when_asked():
    fp32, auto, bf16 = _supervised("32"), _supervised("auto"), _supervised("bf16-mixed")
    assert all(torch.equal(x, y) for x, y in zip(fp32, auto))  # auto: fp32 as before, bit for bit
    assert not all(torch.equal(x, y) for x, y in zip(fp32, bf16))
    assert all(torch.allclose(x, y, atol=0.05) for x, y in zip(fp32, bf16))  # the same training, rounded


REAL = """
study: real
base: {trainer: {max_steps: 2}, optim: {batch_size: 8, warmup_steps: 1}, backbone: {width: 4},
       data: {image_size: 16, digit_size: 8}, eval: {enabled: false}}
arms: {a: {}, b: {}}
seeds: [0]
measures: {steps: {measure: tests.studies.test_precision.steps}}
predictions: [{id: p, contrast: "a.steps - b.steps > 0"}]
"""


def steps(run) -> float:
    return float(run.metrics["steps"]) if run.which == "trained" else None


def test_mvssl_train_arms_report_the_precision_they_trained_in(tmp_path):
    study = tmp_path / "real.yaml"
    study.write_text(REAL)
    for precision in ("32", "bf16-mixed"):
        out = tmp_path / precision
        assert main(["study", "run", str(study), "--out", str(out), "--jobs", "1", "--precision", precision]) == 0
        data = json.loads((out / "results.json").read_text())
        assert data["precision"] == precision and data["run_precisions"] == [precision]
        assert json.loads((out / "encoders" / "a-seed0" / "metrics.json").read_text())["precision"] == precision

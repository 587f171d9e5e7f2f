"""``mvssl experiment methods``: the table is read from the runs' own metrics.json, and a
run not trained with the recipe's command is refused rather than mislabelled."""
import json

import pytest
import yaml

from mvssl import cli
from mvssl.experiments import methods


def test_every_method_has_a_recipe_and_unknown_names_fail():
    from mvssl.methods import METHODS

    # distill trains a student from a teacher on disk: it has no standalone recipe (docs/domain.md)
    assert set(methods.RECIPES) == {m for m, cls in METHODS.items() if not getattr(cls, "requires_teacher", False)}
    assert methods.recipe_command("byol", 400) == "mvssl train --method byol --trainer.max_steps 400"
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        methods.recipe_args("nope")


def test_quick_run_writes_the_table_from_metrics_and_refuses_other_configs(tmp_path, capsys):
    out = tmp_path / "exp"
    assert cli.main(["experiment", "methods", "--methods", "simclr", "--quick", "--out", str(out)]) == 0
    rows = json.loads((out / "methods.json").read_text())
    run_dir = out / "encoders" / "simclr-seed0"  # a study's run folder (the experiment runs on the engine)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert rows[0]["digit_error_trained"] == metrics["eval"]["trained"]["digit_error_pct"]
    assert rows[0]["digit_error_random"] == metrics["eval"]["random init"]["digit_error_pct"]
    assert rows[0]["steps"] == methods.QUICK_STEPS and "--backbone.width 4" in rows[0]["command"]
    assert (out / "methods.png").stat().st_size > 0 and "| `simclr` | contrastive |" in (out / "methods.md").read_text()
    # the study's own output: the run's digit probe and its random-init twin, a design check per method
    study = json.loads((out / "results.json").read_text())
    point = study["points"][0]
    assert point["metrics"]["acc"]["per_seed"] == [100 - rows[0]["digit_error_trained"]]
    assert point["random_init"]["acc"]["per_seed"] == [100 - rows[0]["digit_error_random"]]
    assert [(c["id"], c["kind"], c["verdict"]) for c in study["claims"]] == [("simclr-learns", "design",
                                                                               "not testable")]  # one seed
    # a run folder whose config is not the recipe's is refused
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["method"]["temperature"] = 0.1
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="method section differs from the recipe"):
        methods.table_row("simclr", run_dir, quick=True)
    # --from-runs tabulates folders already trained with the recipe's (full) command: a quick run is refused
    import shutil

    shutil.copytree(run_dir, tmp_path / "runs" / "simclr")
    assert cli.main(["experiment", "methods", "--methods", "simclr", "--from-runs", str(tmp_path / "runs"),
                     "--out", str(tmp_path / "table")]) == 2
    assert "simclr: the run's method section differs from the recipe" in capsys.readouterr().err
    assert cli.main(["experiment", "methods", "--methods", "nope", "--from-runs", str(tmp_path / "runs")]) == 2
    assert "--methods: unknown nope" in capsys.readouterr().err

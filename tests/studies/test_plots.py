"""The one plot set: bars per arm and measure always, lines along a knob when the arms have
numeric values, accuracy against I_NCE when the study measures I_NCE."""
from mvssl.studies.plots import plot_set
from mvssl.studies.spec import loads

KNOB = """
study: plotted
base: {trainer: {max_steps: 10}}
knob: {key: optim.batch_size, values: [16, 32, 64]}
seeds: 2
measures: {acc: {measure: digit_acc}, nce: {measure: i_nce}}
references: {paper: {batch_size=32.acc: 50.0}}
predictions: [{id: p, monotone: acc}]
"""


def _points(arms, with_nce=True):
    def summary(mean):
        return {"mean": mean, "ci95": 1.0, "per_seed": [mean - 1, mean + 1], "seeds": [0, 1]}
    return [{"arm": a, "value": x, "metrics": {"acc": summary(40.0 + i), **({"nce": summary(1.0 + i)}
                                                                          if with_nce else {})},
             "random_init": {"acc": summary(20.0)}, "runs": []} for i, (a, x) in enumerate(arms)]


def test_every_plot_of_the_set_is_drawn_where_it_applies(tmp_path):
    study = loads(KNOB, "plotted.yaml")
    points = _points([(a, study.arms[a].x) for a in study.arms])
    assert plot_set(study, points, {"acc": 10.0}, tmp_path) == ["arms.png", "knob.png", "accuracy_vs_nce.png"]
    assert all((tmp_path / n).stat().st_size > 1000 for n in ("arms.png", "knob.png", "accuracy_vs_nce.png"))
    named = tmp_path / "named"
    named.mkdir()
    points = _points([(a, None) for a in study.arms], with_nce=False)  # no knob values, no I_NCE: bars only
    assert plot_set(study, points, {}, named) == ["arms.png"] and sorted(p.name for p in named.iterdir()) == [
        "arms.png"]


def test_accuracy_against_a_measure_named_i_nce_of_a_study_s_own_kind(tmp_path):
    own = KNOB.replace("nce: {measure: i_nce}", "i_nce: {measure: mvssl.experiments.infomin_augmentation.i_nce}")
    study = loads(own, "own.yaml")
    points = [{**p, "metrics": {"acc": p["metrics"]["acc"], "i_nce": p["metrics"]["nce"]}}
              for p in _points([(a, study.arms[a].x) for a in study.arms])]
    assert "accuracy_vs_nce.png" in plot_set(study, points, {"acc": 10.0}, tmp_path)

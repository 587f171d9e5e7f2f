"""Study files that declare an experiment: options with default and quick values, templates,
checks, include; and that nothing outside the expression's names is reachable."""
import pytest

from mvssl.studies.declared import TemplateError, evaluate, rendered
from mvssl.studies.spec import StudyError, loads

STUDY = """
study: knobbed
experiment:
  help: a test
  options:
    steps: {type: int, default: 30, quick: 5, min: 2, help: steps}
    widths: {type: ints, default: [4, 8], choices: [4, 8, 16], help: widths}
  let: {warmup: "${max(1, steps // 10)}"}
  require: [["len(widths) > 1", "--widths: at least two, got ${widths}"]]
description: "${steps} steps, widths ${', '.join(str(w) for w in widths)}"
base: {trainer: {max_steps: "${steps}"}, optim: {warmup_steps: "${warmup}"}}
arms: "${ {f'w{w}': {'backbone': {'width': w}, 'x': w} for w in widths} }"
seeds: 2
measures: [linear]
predictions:
  - {id: wider, contrast: "w8.linear - w4.linear > 0", if: "8 in widths and 4 in widths"}
  - {id: w4-learns, learns: w4.linear}
"""


def test_options_render_into_the_study_and_quick_values_apply():
    s = loads(STUDY, "knobbed.yaml")
    assert s.base["trainer"]["max_steps"] == 30 and s.base["optim"]["warmup_steps"] == 3
    assert s.description == "30 steps, widths 4, 8" and list(s.arms) == ["w4", "w8"] and s.arms["w8"].x == 8
    assert [p.id for p in s.predictions] == ["wider", "w4-learns"]
    quick = loads(STUDY, "knobbed.yaml", quick=True)
    assert quick.base["trainer"]["max_steps"] == 5 and quick.base["optim"]["warmup_steps"] == 1
    from mvssl.config_text import parse_yaml

    raw = parse_yaml(STUDY, "knobbed.yaml")
    other = rendered(raw, {"widths": "4,16", "steps": 12})
    assert list(other["arms"]) == ["w4", "w16"] and [p["id"] for p in other["predictions"]] == ["w4-learns"]


@pytest.mark.parametrize("given, message", [
    ({"steps": 1}, "--steps must be at least 2, got 1"), ({"widths": "4,x"}, "--widths: expected comma-separated"),
    ({"widths": "4,5"}, "--widths: unknown 5; choose from 4, 8, 16"), ({"widths": "8"}, "--widths: at least two")])
def test_bad_options_are_one_line_naming_the_option(given, message):
    from mvssl.config_text import parse_yaml

    with pytest.raises(TemplateError, match=message):
        rendered(parse_yaml(STUDY, "k.yaml"), given)


@pytest.mark.parametrize("expr", ["().__class__", "_hidden", "(lambda: 1)()", "open('x')", "__import__('os')",
                                  "'{0.__class__}'.format(1)"])
def test_expressions_reach_nothing_but_their_names(expr):
    with pytest.raises(TemplateError):
        evaluate(expr, {"_hidden": 1})


def test_a_bad_template_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(StudyError, match="^bad.yaml: .*NameError"):
        loads(STUDY.replace("${steps} steps", "${stepz} steps"), "bad.yaml")
    base = tmp_path / "base.yaml"
    base.write_text("experiment: {options: {steps: {type: int, default: 7}}}\nbase: {trainer: {max_steps: '${steps}'}}\n")
    s = loads("study: inc\ninclude: base.yaml\nexperiment: {help: x}\narms: {a: {}, b: {}}\nmeasures: [linear]\n"
              "predictions: [{id: p, contrast: 'a.linear - b.linear > 0'}]\n", str(tmp_path / "inc.yaml"))
    assert s.base["trainer"]["max_steps"] == 7  # the included file's option and base


def test_an_experiment_passes_its_execution_options_to_the_engine(monkeypatch, tmp_path):
    """``mvssl experiment NAME`` takes --seeds-in-one-model and --precision as ``mvssl study run`` does."""
    from mvssl.cli import main
    from mvssl.studies import engine

    seen = {}
    monkeypatch.setattr(engine, "run_study", lambda path, **kw: seen.update(kw))
    assert main(["experiment", "simclr-head", "--quick", "--out", str(tmp_path / "o"), "--seeds-in-one-model",
                 "--precision", "32"]) == 0
    assert seen["seeds_in_one_model"] is True and seen["precision"] == "32" and seen["study"].name == "simclr-head"
    assert main(["experiment", "simclr-head", "--quick", "--out", str(tmp_path / "o")]) == 0
    assert seen["seeds_in_one_model"] is False and seen["precision"] == "auto" and seen["new_version"] is False
    assert main(["experiment", "simclr-head", "--quick", "--out", str(tmp_path / "o"), "--new-version"]) == 0
    assert seen["new_version"] is True


def test_an_experiment_refuses_a_folder_of_another_version_and_names_new_version(tmp_path, capsys):
    from mvssl.cli import main

    out = tmp_path / "o"
    out.mkdir()
    (out / "results.json").write_text('{"study": {"sha256": "' + "0" * 64 + '"}, "claims": []}')
    assert main(["experiment", "simclr-head", "--quick", "--out", str(out)]) == 2
    assert "--new-version" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]  # nothing trained, nothing moved

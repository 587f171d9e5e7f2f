"""Study-file validation lines not covered elsewhere: a stage or measure that cannot be imported,
and an unknown key of an arm read from committed results."""
import pytest

from mvssl.studies.spec import StudyError, loads


def test_unimportable_functions_and_unknown_source_arm_keys_are_one_line_each():
    with pytest.raises(StudyError) as err:
        loads("""
study: s
base: {trainer: {max_steps: 10}}
arms: {a: {train: nope.mod.fn}, b: {}}
measures: {m: {measure: no.such.fn}}
predictions: [{id: p, contrast: "a.m - b.m > 0"}]
""", "s.yaml")
    assert str(err.value).splitlines() == ["s.yaml: arms.a.train: 'nope.mod.fn': cannot import it (No module named 'nope')",
                                           "s.yaml: measures.m.measure: 'no.such.fn': cannot import it (No module named "
                                           "'no')"]
    with pytest.raises(StudyError) as err:
        loads("""
study: s
source: r.json
arms: {a: {point: x, colour: 1}}
measures: {m: {metric: acc}}
predictions: [{id: p, learns: a.m}]
""", "s.yaml")
    assert str(err.value) == "s.yaml: arms.a.colour: unknown key for an arm read from r.json (known: point, random_init, x)"

import ast
from pathlib import Path

import pytest

import mvssl.config
from mvssl.build import resolve
from mvssl.config import DEFAULTS, SCHEMA, VIEW_RECIPES, ConfigError, written_config

DATASETS = SCHEMA["data"]["dataset"].rule
METHOD_FOR = {"looc": "looc", "clip": "clip-simclr", "multicrop": "dino"}  # the recipes only some methods take


def resolved(dataset: str, recipe: str) -> dict | None:
    try:
        return resolve({"data": {"dataset": dataset}, "views": {"name": recipe},
                        "method": METHOD_FOR.get(recipe, "simclr")})
    except ConfigError:  # e.g. factor-shared views off Colorful-Moving-MNIST
        return None


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_resolved_config_resolves_to_itself_as_a_resume_does(dataset):
    """A resume resolves the saved config again (with its overrides): every dataset with
    every recipe it takes must come back unchanged, its dataset's own defaults included
    (stl10 and folder runs default to colour strength 1.0, which crop views do not read)."""
    taken = [recipe for recipe in VIEW_RECIPES if resolved(dataset, recipe) is not None]
    assert "simclr" in taken and ("factor-shared" in taken) == (dataset == "cmnist")
    for recipe in taken:
        cfg = resolved(dataset, recipe)
        assert resolve(cfg) == cfg, recipe
        assert resolve(written_config(cfg)) == cfg, recipe


def test_a_run_folder_records_exactly_its_recipes_keys():
    cfg = resolve({"views": {"name": "multicrop"}, "method": "dino"})
    assert set(written_config(cfg)["views"]) == {"name", "strength", "n_global", "n_local", "global_size",
                                                 "local_size", "global_min_scale", "local_min_scale",
                                                 "local_max_scale"}
    assert set(written_config(resolve({"views": {"name": "byol"}}))["views"]) == {"name"}
    shared = resolve({"views": {"augment": "simclr"}})  # factor-shared views with SimCLR's augmentation on top
    assert set(written_config(shared)["views"]) == {"name", "shared", "augment", "strength", "min_scale"}
    for recipe, keys in VIEW_RECIPES.items():  # a key two recipes read is one key of the section: one default
        assert set(keys) <= set(DEFAULTS["views"]) - {"name"}, recipe


def test_a_recipe_refuses_another_recipes_key_unless_it_is_at_its_default():
    """Each recipe's keys are its own; an old run's config.yaml listed every key at its default."""
    with pytest.raises(ConfigError, match="views.n_global: does nothing with views.name simclr"):
        resolve({"views": {"name": "simclr", "n_global": 4}})
    assert resolve({"views": {"name": "simclr", "n_global": 2}}) == resolve({"views": {"name": "simclr"}})
    with pytest.raises(ConfigError, match="data.classes_file: does nothing with data.dataset cmnist"):
        resolve({"data": {"classes_file": "keep.txt"}})


def test_config_imports_nothing_else_of_mvssl():
    for path in Path(mvssl.config.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1 and not (node.module or "").startswith("mvssl"), (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("mvssl") for a in node.names), path.name


def test_every_key_has_a_type_to_check_values_against():
    """Values are checked against the type of their key's default (``--optim.lr 1`` becomes
    1.0, ``--optim.batch_size big`` fails), or the declared kind of a key whose default is None."""
    for section, keys in SCHEMA.items():
        for name, spec in keys.items():
            assert spec.kind in (("int", "float", "str") if spec.default is None else ("",)), (section, name)
    with pytest.raises(ConfigError, match="data.workers: expected an integer"):
        resolve({"data": {"dataset": "folder", "workers": "many"}})
    with pytest.raises(ConfigError, match="views.global_size: expected an integer"):
        resolve({"views": {"name": "multicrop", "global_size": 2.5}, "method": "dino"})


def test_the_configs_dataset_names_are_the_data_layers():
    """config keeps data.dataset's choices as plain strings (it imports nothing of data):
    they must stay the datasets that ``data.datasets`` loads."""
    from mvssl.data.datasets import DATASETS as LOADED

    assert DATASETS == LOADED

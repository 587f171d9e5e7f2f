import ast
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

import mvssl.config
from mvssl.build import resolve
from mvssl.config import DEFAULTS, VIEW_RECIPES, ConfigError, written_config
from mvssl.config.schema import Data

DATASETS = next(f for f in fields(Data) if f.name == "dataset").metadata["choices"]
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
    for recipe, schema in VIEW_RECIPES.items():  # a key two recipes read has one default
        for f in fields(schema):
            assert DEFAULTS["views"][f.name] == (f.default_factory() if f.default is MISSING else f.default), recipe

def test_config_imports_nothing_else_of_mvssl():
    for path in Path(mvssl.config.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1 and not (node.module or "").startswith("mvssl"), (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("mvssl") for a in node.names), path.name


def test_every_key_is_annotated_with_the_type_its_default_has():
    """Values are checked against the type of their key's default (``--optim.lr 1`` becomes
    1.0, ``--optim.batch_size big`` fails): the annotation must say the same type."""
    from mvssl.config.schema import FIELDS

    for section, keys in FIELDS.items():
        for f in keys:
            default = f.default_factory() if f.default is MISSING else f.default
            named = {t.strip() for t in f.type.split("|")}
            assert type(default).__name__ in named or default is None and "None" in named, (section, f.name)


def test_the_configs_dataset_names_are_the_data_layers():
    """config keeps data.dataset's choices as plain strings (it imports nothing of data):
    they must stay the datasets that ``data.datasets`` loads."""
    from mvssl.data.datasets import DATASETS as LOADED

    assert DATASETS == LOADED

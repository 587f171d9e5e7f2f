"""The layers' promise (shared/DESIGN.md): loading an encoder and the information estimates
(``mvssl info nce``, ``mvssl info er``) build through ``mvssl.build`` and never import the
trainer, so they need no Lightning; ``mvssl.fit`` is the training call; ``mvssl.config`` imports
nothing else of mvssl."""
import json
import os
import subprocess
import sys
from pathlib import Path

import mvssl

PROBE = """
import json, sys
import torch
import mvssl
from mvssl.cli import main

def trainer_modules():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("lightning", "pytorch_lightning")
                  or m.startswith("mvssl.train"))

run, out = sys.argv[1], sys.argv[2]
seen = {"import": trainer_modules()}
mvssl.load(run).embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
seen["load"] = trainer_modules()
assert main(["info", "nce", "--views", "simclr", "--image-size", "16", "--digit-size", "8", "--k", "8",
             "--steps", "2", "--seeds", "1", "--out", out + "/nce"]) == 0
seen["info nce"] = trainer_modules()
assert main(["info", "er", run, "--batches", "1", "--batch-size", "8", "--out", out + "/er"]) == 0
seen["info er"] = trainer_modules()
print(json.dumps(seen))
"""


def test_loading_an_encoder_and_estimating_information_import_no_trainer(tmp_path):
    run_dir, _ = mvssl.fit({"data": {"dataset": "shapes", "image_size": 16}, "views": {"name": "simclr"},
                            "trainer": {"max_steps": 2, "progress": False, "out_dir": str(tmp_path / "runs")},
                            "eval": {"enabled": False}, "backbone": {"width": 4}, "optim": {"batch_size": 8}})
    done = subprocess.run([sys.executable, "-c", PROBE, str(run_dir), str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"import": [], "load": [], "info nce": [], "info er": []}
    assert (tmp_path / "nce" / "nce.json").is_file() and (tmp_path / "er" / "er.json").is_file()


def test_fit_is_the_training_call_and_train_the_package():
    from mvssl.train.run import train

    assert mvssl.fit is train
    assert mvssl.train.__name__ == "mvssl.train" and not callable(mvssl.train)
    assert Path(mvssl.train.__file__).name == "__init__.py"


def test_config_sits_at_the_bottom_and_imports_nothing_else_of_mvssl():
    probe = "import sys, mvssl.config; print(sorted(m for m in sys.modules if m.startswith('mvssl')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["['mvssl',", "'mvssl.config',", "'mvssl.config.schema']"]

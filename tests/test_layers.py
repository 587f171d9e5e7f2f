"""The imports of src/mvssl point down the layers of shared/DESIGN.md (``scripts/layers.py``)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_points_up_a_layer():
    done = subprocess.run([sys.executable, "scripts/layers.py"], cwd=ROOT, capture_output=True, text=True)
    assert "pointing up a layer (mismatches): 0" in done.stdout and "parts in no layer" not in done.stdout, done.stdout
    assert done.returncode == 0


def test_an_import_pointing_up_is_reported(tmp_path):
    """The check can fail: a copy of the package with one upward import (a leaf importing the trainer)."""
    copy = tmp_path / "src" / "mvssl"
    shutil.copytree(ROOT / "src" / "mvssl", copy, ignore=shutil.ignore_patterns("__pycache__"))
    colour = copy / "colour.py"
    colour.write_text(colour.read_text() + "\nfrom .train import run  # noqa\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "layers.py").write_text((ROOT / "scripts" / "layers.py").read_text())
    done = subprocess.run([sys.executable, "scripts/layers.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "colour -> train: mvssl.colour -> mvssl.train.run" in done.stdout

"""Dump the fully resolved study of every ``mvssl experiment`` for a set of command lines, as
canonical JSON (one file per command line), so that a refactoring of how experiments declare
their studies can be checked to change nothing: run it before and after, then ``diff -r``.

    PYTHONPATH=src python scripts/dump_studies.py OUT_DIR

Each command line is parsed by the real CLI and runs until the engine is asked to run the
study (``mvssl.studies.engine.run_study``), which is intercepted: nothing trains and no output
folder is made. The dump holds every arm's resolved ``mvssl train`` config per seed (as the
engine trains it), its stage and options, the measures, references, gates and predictions,
the correction and the description."""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

CASES = {
    "simclr-head": [], "simclr-augmentations": [], "simclr-scale": [], "cmc-views": [],
    "infomin-augmentation": [], "infomin-factors": [], "reverse-u": [], "methods": [], "er": [], "looc": [],
    "view-learning": [],
    "simclr-head@opts": ["--width", "4", "--batch-size", "32", "--steps", "25", "--seeds", "2"],
    "simclr-augmentations@opts": ["--augmentations", "crop,color,blur", "--branches", "both"],
    "simclr-scale@opts": ["--batch-sizes", "16,64", "--epochs", "1,3", "--lr-scaling", "linear"],
    "cmc-views@opts": ["--steps", "40", "--width", "4"],
    "infomin-augmentation@opts": ["--nce-steps", "50", "--k", "32", "--train-steps", "20", "--nce-seeds", "5"],
    "infomin-factors@sequence": ["--sequence", "--frames", "3", "--image-size", "20"],
    "reverse-u@opts": ["--knobs", "patch-distance", "--image-size", "24", "--patch-distance-values", "0,0.3,0.6,1"],
    "methods@opts": ["--methods", "simclr,byol,ijepa", "--steps", "50", "--seeds", "2"],
    "er@opts": ["--batch", "32", "--small-batch", "8", "--low-momentum", "0.3", "--steps", "40"],
    "looc@opts": ["--augmentations", "rotate,color", "--batch-size", "32"],
    "view-learning@opts": ["--spaces", "rgb", "--views", "raw", "unsupervised", "--gen-steps", "7"],
}


class Captured(Exception):
    pass


def resolved(study) -> dict:
    from mvssl.build import resolve
    from mvssl.config import deep_update
    from mvssl.studies import spec

    arms = {}
    for name, arm in study.arms.items():
        a = asdict(arm)
        a["configs"] = {str(s): resolve(deep_update(spec.arm_config(study, arm, s), {"eval": {"random_baseline": True}}))
                        for s in arm.seeds}
        arms[name] = a
    preds = []
    for p in study.predictions:
        d = asdict(p)
        d["contrasts"] = [c.text for c in p.contrasts]
        preds.append(d)
    return {"order": {"arms": list(study.arms), "measures": list(study.measures)}, "name": study.name, "description": study.description, "base": study.base, "arms": arms,
            "knob": study.knob, "measures": study.measures, "references": study.references,
            "gates": [asdict(g) for g in study.gates], "predictions": preds, "correction": study.correction,
            "alpha": study.alpha, "bootstrap": study.bootstrap,
            **({"differences": {n: c.text for n, c in study.differences.items()}} if study.differences else {})}


def dump(argv: list[str]):
    from mvssl import cli
    from mvssl.studies import engine

    seen = {}

    def capture(path, **kw):
        seen["study"] = kw.get("study") or engine.spec_mod.load(path, quick=kw.get("quick", False))
        raise Captured

    original = engine.run_study
    engine.run_study = capture
    try:
        cli.main(argv)
    except Captured:
        pass
    finally:
        engine.run_study = original
    return resolved(seen["study"])


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    only = sys.argv[2:]
    for case, extra in CASES.items():
        name = case.split("@")[0]
        for mode in ("default", "quick"):
            if only and case not in only:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                argv = ["experiment", name, *extra, *(["--quick"] if mode == "quick" else []), "--out", f"{tmp}/o"]
                data = dump(argv)
            (out / f"{case}.{mode}.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")
            print(f"{case} {mode}: {len(data['arms'])} arms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 39's diagnostic (not registered, two seeds): what costs simclr-head's first arm its probe at fewer
steps, the steps or the temperature? Trains the arm as registered but at 400 steps, and at temperature 0.1
for its 1000 steps, seeds 10 and 11, one thread, one at a time; prints one JSON line per run (probe of h).

    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/head_arm_diagnostic.py OUT"""
import json, sys, time
from pathlib import Path
import torch
from mvssl.studies.commands import bench as b
from mvssl.train.run import train
from mvssl.config import deep_update
torch.set_num_threads(1)
st = b.find_study("simclr-head"); arm = b.first_arm(st)
cases = {"t0.5-400": {"trainer": {"max_steps": 400, "checkpoint_every": 400}},
         "t0.1-1000": {"method": {"temperature": 0.1}}}
for seed in (10, 11):
    for name, ov in cases.items():
        cfg = b.arm_configs(st, arm, 1, None, Path(sys.argv[1]), name, ov, seed)[0]
        t = time.perf_counter()
        _, m = train(cfg, echo=lambda *a, **k: None)
        print(json.dumps({"case": name, "seed": seed, "h": m["eval"]["trained"]["linear_top1_pct"],
                          "wall": round(time.perf_counter() - t, 1)}), flush=True)

"""Where a `mvssl train` loop spends its time beyond the step (scripts/speed-figures.sh, part 6):
N default-config steps under cProfile, evaluation off, one thread; prints the training seconds and
the cumulative seconds of Lightning's logging, the callbacks, the views and the backward pass.
Usage: PYTHONPATH=SRC python scripts/loop_profile.py OUT_DIR [STEPS [CONFIG.yaml]]
CONFIG.yaml: profile that config instead of the default one (e.g. a study arm's, as part 5 of
scripts/speed-figures.sh writes it); its steps, run folder and evaluation are overridden as above."""
import cProfile
import pstats
import sys
import time

import torch
import yaml

from mvssl.config import deep_update
from mvssl.train import train

out, steps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 150
base = yaml.safe_load(open(sys.argv[3])) if len(sys.argv) > 3 else {}
torch.set_num_threads(1)
profile = cProfile.Profile()
profile.enable()
overrides = {"trainer": {"max_steps": steps, "out_dir": out, "name": f"loop-{time.time():.0f}", "progress": False},
             "eval": {"enabled": False}}
if base:  # a study arm's config: its one checkpoint and its warm-up follow the steps profiled
    overrides = deep_update(overrides, {"trainer": {"checkpoint_every": steps}, "optim": {"warmup_steps": steps // 5}})
_, metrics = train(deep_update(base, overrides), echo=lambda *a, **k: None)
profile.disable()
stats = pstats.Stats(profile).stats
parts = {"LightningModule.log + log_dict": ("core/module.py", ("log", "log_dict")),
         "callbacks": ("trainer/call.py", ("_call_callback_hooks",)),
         "views (render + augment)": ("train/module.py", ("_views",)),
         "backward": ("torch/_tensor.py", ("backward",)),
         "optimiser update (AdamW)": ("torch/optim/adam.py", ("_single_tensor_adam", "_multi_tensor_adam",
                                                                 "_fused_adam"))}
print(f"{steps} steps: {metrics['train_seconds']:.1f} s training ({1000 * metrics['train_seconds'] / steps:.1f} ms a step)")
for label, (file, names) in parts.items():
    seconds = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(file) and name in names)
    print(f"  {label}: {seconds:.2f} s ({1000 * seconds / steps:.1f} ms a step)")

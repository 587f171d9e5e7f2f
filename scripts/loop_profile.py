"""Where a `mvssl train` loop spends its time beyond the step (scripts/speed-figures.sh, part 6):
N default-config steps under cProfile, evaluation off, one thread; prints the training seconds and
the cumulative seconds of Lightning's logging, the callbacks, the views and the backward pass.
Usage: PYTHONPATH=SRC python scripts/loop_profile.py OUT_DIR [STEPS]"""
import cProfile
import pstats
import sys
import time

import torch

from mvssl.train import train

out, steps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 150
torch.set_num_threads(1)
profile = cProfile.Profile()
profile.enable()
_, metrics = train({"trainer": {"max_steps": steps, "out_dir": out, "name": f"loop-{time.time():.0f}",
                                "progress": False}, "eval": {"enabled": False}}, echo=lambda *a, **k: None)
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

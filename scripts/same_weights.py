"""Are two run folders' weights bitwise the same? For refactors that must not change what
``mvssl train`` computes: train the same short run with the old code and the new (same seed,
same thread count, ``--trainer.precision 32``), then

    python scripts/same_weights.py OLD_RUN NEW_RUN

compares ``encoder.pt`` (its backbone and any projector or LooC heads it keeps) and the whole method
in ``checkpoints/last.ckpt`` tensor by tensor (every parameter and buffer: EMA targets, queues, banks,
centres) and exits 1 if any differs.
Example (from a checkout of the old commit, then of the new one, OUT differing):

    OMP_NUM_THREADS=1 mvssl train --method byol --trainer.max_steps 20 --trainer.precision 32 \\
        --eval.enabled false --optim.batch_size 64 --trainer.out_dir OUT --trainer.name byol
"""
import sys
from pathlib import Path

import torch


def tensors(run: str, name: str) -> dict:
    """Every tensor of the file's state dicts (``state_dict``; an encoder's ``heads_state_dict`` and
    ``projector_state_dict`` too), keyed ``part/name``."""
    saved = torch.load(f"{run}/{name}", map_location="cpu", weights_only=True)
    return {f"{part}/{k}": v for part, state in saved.items() if part.endswith("state_dict") for k, v in state.items()}


def main(old: str, new: str) -> int:
    same = True
    for name in ("encoder.pt", "checkpoints/last.ckpt"):
        present = [run for run in (old, new) if Path(run, name).is_file()]
        if len(present) < 2:  # in neither: several seeds in one model write no checkpoint
            print(f"{name}: " + (f"only in {present[0]}" if present else "in neither run"))
            same = same and not present
            continue
        a, b = tensors(old, name), tensors(new, name)
        differ = sorted(set(a) ^ set(b)) + [k for k in sorted(set(a) & set(b)) if not torch.equal(a[k], b[k])]
        print(f"{name}: {len(a)} tensors, {len(differ)} differ" + (f": {differ[:5]}" if differ else " (bitwise equal)"))
        same = same and not differ
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

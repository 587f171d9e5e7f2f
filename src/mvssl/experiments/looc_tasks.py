"""Downstream tasks and head analysis for ``mvssl experiment looc``.

Tasks on the experiment's Colorful-Moving-MNIST frames (black background, warm-coloured
digits; probes train on frames of the fixed train split and are scored on frames of the fixed
test split, whose digits were never seen in training):

- ``rotation``: each frame is turned by k x 90 degrees, k drawn per frame; predict k (4 classes).
  Needs exactly what an encoder invariant to four-way rotation discards; the digit's upright
  is the only cue (the background is black). Only digits whose four turns are all told apart
  (``ROTATION_DIGITS``: no turn of them reads as a digit, so the upright is defined).
- ``hue``: each frame's colours are rotated about the grey axis by k / 4 of a turn; predict k
  (4 classes). Every digit's own hue lies in the first quarter of the circle, so k is the
  frame's hue quadrant; training jitters hue over the whole circle, so this needs exactly
  what an encoder invariant to colour jitter discards.
- ``digit``: the digit class, on upright frames, of the digits whose class no turn changes
  (``INVARIANT_DIGITS``: 6 and 9 are left out, a 6 turned half round reads as a 9): the task
  invariant to both augmentations.

``READS_AS`` declares what a digit turned by k quarter turns reads as (None: no digit); the
two digit sets are derived from it, and the tests check the table against the frames.
"""
from __future__ import annotations

import torch

from ..eval.linear import LinearClassifier
from ..colour import hue_rotation
from ..studies.plots import figure

TRANSFORM_CLASSES = 4
# (digit, quarter turns) -> the digit it reads as; a turn not listed reads as no digit
READS_AS = {(d, 0): d for d in range(10)} | {(6, 2): 9, (9, 2): 6, (0, 2): 0, (1, 2): 1, (8, 2): 8,
                                             (0, 1): 0, (0, 3): 0}


def reads_as(digit: int, turns: int) -> int | None:
    """The digit that ``digit`` turned by ``turns`` quarter turns reads as (None: none)."""
    return READS_AS.get((digit, turns % TRANSFORM_CLASSES))


# the digit task's classes: no turn makes one of them read as another digit
INVARIANT_DIGITS = tuple(d for d in range(10) if all(reads_as(d, k) in (None, d) for k in range(TRANSFORM_CLASSES)))
# the rotation task's digits: no turn but none reads as a digit, so the upright is defined
ROTATION_DIGITS = tuple(d for d in range(10) if all(reads_as(d, k) is None for k in range(1, TRANSFORM_CLASSES)))


def rotated(images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 frames turned by k x 90 degrees (k per frame) and the labels k."""
    k = torch.randint(TRANSFORM_CLASSES, (len(images),), generator=generator)
    out = images.clone()
    for turns in range(1, TRANSFORM_CLASSES):  # four batched rotations, not a loop over images
        out[k == turns] = torch.rot90(images[k == turns], turns, dims=(2, 3))
    return out, k


def hue_shifted(images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 frames with hue rotated by k / 4 turns about the grey axis and the labels k."""
    k = torch.randint(TRANSFORM_CLASSES, (len(images),), generator=generator)
    matrix = hue_rotation(k.float() / TRANSFORM_CLASSES)  # [N, 3, 3]
    x = images.float() / 255.0
    shifted = torch.bmm(matrix, x.flatten(2)).view_as(x).clamp(0, 1)
    return (shifted * 255.0).round().to(torch.uint8), k


def make_tasks(frames: dict, seed: int, sizes: tuple[int, int] | None = None) -> dict[str, dict]:
    """{task: {"train": (uint8 images, labels), "test": (...)}} from ``probe_frames`` output,
    on at most ``sizes = (train, test)`` frames of each split drawn at random (all by default;
    the frames are stored in digit order, so a prefix would not do): the digit task on
    ``INVARIANT_DIGITS``, the rotation task on ``ROTATION_DIGITS``, the hue task on every digit."""
    g = torch.Generator().manual_seed(seed)
    tasks: dict[str, dict] = {"rotation": {}, "hue": {}, "digit": {}}
    for split, size in zip(("train", "test"), sizes or (None, None)):
        images, factors = frames[split]
        images, digits = images.cpu(), factors["digit"].cpu()

        def draw(kept: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
            pool = torch.nonzero(torch.isin(digits, torch.tensor(kept)))[:, 0]
            keep = pool[torch.randperm(len(pool), generator=g)[:size]]
            return images[keep], digits[keep]

        tasks["digit"][split] = draw(INVARIANT_DIGITS)
        tasks["rotation"][split] = rotated(draw(ROTATION_DIGITS)[0], g)
        tasks["hue"][split] = hue_shifted(draw(tuple(range(10)))[0], g)
    return tasks


def space_reliance(probe: LinearClassifier, features: torch.Tensor, labels: torch.Tensor,
                   n_spaces: int) -> dict[str, list[float]]:
    """How much a linear classifier on LooC++ features (n_spaces equal blocks) leans on each
    embedding space.

    - ``top_contributor``: the paper's Fig. 4: over the correctly classified items, the share
      for which a space's block gives the largest contribution (standardised activations x
      weights, summed over the block) to the predicted class's logit.
    - ``weight_share``: the share of the classifier's total |weight| (all classes) on each block.
    """
    x = (features.float() - probe.mean) / probe.std
    w = probe.weights[:-1]  # [D, C], bias row dropped
    d = x.shape[1] // n_spaces
    logits = probe.logits(features)
    pred = logits.argmax(1)
    correct = pred == labels.long()
    contribution = (x[:, :, None] * w[None]).gather(2, pred[:, None, None].expand(-1, x.shape[1], 1))[..., 0]
    per_space = contribution.view(len(x), n_spaces, d).sum(2)  # [N, S]
    top = per_space[correct].argmax(1)
    counts = torch.bincount(top, minlength=n_spaces).float()
    magnitude = w.abs().sum(1).view(n_spaces, d).sum(1)
    return {"top_contributor": (counts / counts.sum().clamp(min=1)).tolist(),
            "weight_share": (magnitude / magnitude.sum()).tolist(),
            "correct": int(correct.sum())}


def plot_reliance(reliance: dict[str, dict], space_names: list[str], path) -> None:
    """Grouped bars per task: the share per embedding space, one panel per measure."""
    tasks = list(reliance)
    width = 0.8 / len(space_names)
    panels = (("top_contributor", "correct predictions whose largest\ncontribution (activation x weight) is from the head"),
              ("weight_share", "share of the linear classifier's |weight|"))
    with figure(path, 2, (11, 3.8), dpi=120, sharey=True) as (_, axes):
        for ax, (key, title) in zip(axes, panels):
            for s, name in enumerate(space_names):
                xs = [t + (s - (len(space_names) - 1) / 2) * width for t in range(len(tasks))]
                label = "Z_0: invariant to all" if s == 0 else f"Z_{s}: keeps {name}"
                ax.bar(xs, [reliance[t][key][s] for t in tasks], width, label=label)
            ax.set_xticks(range(len(tasks)), tasks)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("task (linear classifier on LooC++)")
        axes[0].set_ylabel("share")
        axes[0].legend(fontsize=8, title="embedding space", title_fontsize=8)

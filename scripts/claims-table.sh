#!/usr/bin/env bash
# Rewrite the README's claims table from the measured experiment outputs kept in docs/*_results,
# each claim linked to its experiment's docs page.
set -euo pipefail
cd "$(dirname "$0")/.."
mvssl experiment report docs/reverse_u_results docs/infomin_factors_results docs/infomin_factors_sequence_results \
  docs/infomin_augmentation_results docs/looc_results docs/er_results docs/simclr_head_results docs/simclr_augmentations_results \
  docs/simclr_scale_results docs/cmc_views_results docs/view_learning_results --readme README.md \
  --docs reverse-u=docs/reverse_u.md infomin-factors=docs/infomin_factors.md \
  infomin-augmentation=docs/infomin_augmentation.md looc=docs/looc.md er=docs/er.md simclr-head=docs/simclr_head.md \
  cmc-views=docs/cmc_views.md simclr-augmentations=docs/simclr_augmentations.md \
  simclr-scale=docs/simclr_scale.md view-learning=docs/view_learning.md

"""Learning InfoMin's view generator, then contrastive learning on its frozen views (Tian et al. 2020,
Sec. 4.1 and Fig. 2). With views v1 = g(X)_1, v2 = g(X)_{2:3}, encoders f1, f2 (with projection heads)
and classifiers c1, c2 on their features:

    unsupervised:     min_g max_{f1,f2} I_NCE(v1; v2)
    supervised:       min_{g,f,c} CE(c1(f1(v1)), y) + CE(c2(f2(v2)), y)        (labelled batches only)
    semi-supervised:  min_{g,c} max_{f1,f2} I_NCE(v1; v2) + lambda [CE(c1(f1(v1)), y) + CE(c2(f2(v2)), y)]
    contrastive:      g frozen, max_{f1,f2} I_NCE(v1; v2)                     (CMC on the learned views)

``players``: the step's loss and the method (generator + ``nn.critic.TwoViewCritic``); ``game``: the
adversarial loop and its ``Schedule``; ``measure``: what a row reads off the frozen views;
``learned_encoder``: generator and encoders as one backbone. The image pool: ``views.sources.LabelledPool``."""
from .game import GENERATOR_OPTIMIZERS, GENERATOR_SCHEDULES, SELECT_STEPS, Schedule, train_views
from .learned_encoder import LearnedViewsEncoder
from .measure import embed, fresh_critic_bound, held_out_bound, refresh_batch_norm
from .optim import TensorAdam
from .players import (MODES, TwoViewCritic, ViewLearning, learning_step, module_device, nce_bound, reinitialise,
                      reverse_grad)

__all__ = ["MODES", "GENERATOR_OPTIMIZERS", "GENERATOR_SCHEDULES", "SELECT_STEPS", "Schedule", "TensorAdam", "train_views",
           "embed", "fresh_critic_bound", "held_out_bound", "refresh_batch_norm", "LearnedViewsEncoder", "TwoViewCritic",
           "ViewLearning", "learning_step", "module_device", "nce_bound", "reinitialise", "reverse_grad"]

"""SimCLR Fig. 5 (Chen et al. 2020, Sec. 3.1): every single augmentation and every ordered pair;
the study is declared in ``simclr_augmentations.yaml`` beside this module
(docs/simclr_augmentations.md)."""
from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)

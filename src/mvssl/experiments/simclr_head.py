"""SimCLR Sec. 4.2 (Chen et al. 2020, Fig. 8 and Table 3): the projection head; the study is
declared in ``simclr_head.yaml`` beside this module (docs/simclr_head.md)."""
from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)

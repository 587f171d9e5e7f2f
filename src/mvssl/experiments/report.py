"""``mvssl experiment report OUT...``: the claims table of experiment outputs (the same
command as ``mvssl study report``; :mod:`mvssl.studies.report`)."""
from __future__ import annotations

from ..studies.report import add_arguments, run  # noqa: F401

COMMAND = "report"
HELP = "gather the claims and verdicts of experiment outputs into one table"

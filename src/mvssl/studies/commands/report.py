"""``mvssl study report OUT...``: the claims table of study (or experiment) outputs, one row
per claim of the papers and the design checks in a group of their own (``--readme`` writes it
between the claims markers of a README)."""
from __future__ import annotations

from ..report import add_arguments as common, run as report

COMMAND = "report"
HELP = "gather the verdicts of study outputs into one table (the README's claims table)"


def add_arguments(p) -> None:
    common(p)


def run(args) -> int:
    return report(args)

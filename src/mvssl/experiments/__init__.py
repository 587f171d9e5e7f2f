"""Experiments from the papers: each module with COMMAND is an ``mvssl experiment`` command."""

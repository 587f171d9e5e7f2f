"""The papers' experiments, one module per claim; each is ``mvssl experiment NAME``."""

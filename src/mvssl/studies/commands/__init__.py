"""``mvssl study run | check | report`` (one module per command, found by ``mvssl.cli``)."""

"""Experiments: each module with COMMAND, HELP, add_arguments and run is an `mvssl experiment` command."""

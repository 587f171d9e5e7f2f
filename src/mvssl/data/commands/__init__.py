"""``mvssl data ...``: commands that prepare data (each module defines COMMAND, HELP,
``add_arguments`` and ``run``)."""

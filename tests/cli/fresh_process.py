"""Run ``mvssl`` command lines in a new Python process and report what they printed and which
modules they imported: an import made by an earlier test in this process cannot hide one."""
import subprocess
import sys
from pathlib import Path

import mvssl

_PROBE = """import contextlib, io, json, sys
from mvssl.cli import main
printed = []
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(argv)
    printed.append(out.getvalue())
print(json.dumps({"printed": printed, "modules": sorted(sys.modules)}))
"""


def run_in_fresh_process(*argvs: list[str]) -> tuple[list[str], list[str]]:
    """(what each command line printed to stdout, the names of every module imported by the end)."""
    import json

    src = str(Path(mvssl.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argvs)], env={"PYTHONPATH": src},
                          capture_output=True, text=True, check=True)
    data = json.loads(done.stdout.splitlines()[-1])
    return data["printed"], data["modules"]

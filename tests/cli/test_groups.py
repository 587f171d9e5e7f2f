"""Command groups (experiment/info/bench) are filled from the modules of a package."""
import sys
import textwrap

from mvssl import cli


def test_group_command_found_parsed_and_run(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "fakecmds"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("X = 1\n")  # no COMMAND: not a command
    (pkg / "hello.py").write_text(textwrap.dedent('''
        COMMAND = "hello"
        HELP = "say hello"
        def add_arguments(p):
            p.add_argument("--name", default="world")
        def run(args):
            print("hello", args.name)
            return 7
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_GROUPS", {"experiment": ("fakecmds", "fake"), "bench": ("nope_pkg", "x")})
    assert [m.COMMAND for m in cli.command_modules("fakecmds")] == ["hello"]
    assert cli.main(["experiment", "hello", "--name", "ann"]) == 7
    assert "hello ann" in capsys.readouterr().out
    assert cli.main(["experiment", "hello", "--bogus"]) == 2  # unknown flag: a clear error
    assert "unexpected arguments: --bogus" in capsys.readouterr().err
    sys.modules.pop("fakecmds", None)
    sys.modules.pop("fakecmds.hello", None)


def test_experiment_listing_reads_every_command_without_importing_it():
    """``mvssl experiment --help`` took 2.2 s (7.5 s under load) importing every experiment, four of
    them torch; the listing comes from the study files and the modules' text, and says what importing
    every module says."""
    from mvssl.experiments import listing
    from tests.cli.fresh_process import run_in_fresh_process

    imported = {m.COMMAND: m.HELP for m in cli.command_modules("mvssl.experiments")}
    assert {command: helptext for _, command, helptext in listing()} == imported and len(imported) >= 10

    def experiments(modules):
        return sorted(m.split(".")[-1] for m in modules if m.startswith("mvssl.experiments."))

    (listed,), modules = run_in_fresh_process(["experiment", "--help"])
    assert all(command in listed for command in imported) and imported["simclr-head"] in " ".join(listed.split())
    assert experiments(modules) == [] and "torch" not in modules  # the listing imported no experiment, and no torch
    (usage,), modules = run_in_fresh_process(["experiment", "simclr-head", "--help"])
    assert usage.startswith("usage: mvssl experiment simclr-head") and "--width" in usage
    assert experiments(modules) == ["simclr_head"]  # only the experiment named

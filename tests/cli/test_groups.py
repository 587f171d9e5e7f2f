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

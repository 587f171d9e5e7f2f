"""Every option of every mvssl command explains itself in --help."""
import argparse

from mvssl.cli import build_parser


def walk(parser: argparse.ArgumentParser, path: str = "mvssl"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", "(the command itself)", helps.get(name)
                yield from walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, "/".join(action.option_strings) or action.dest, action.help


def test_every_command_and_option_has_help_text():
    entries = list(walk(build_parser()))
    missing = [f"{command}: {option}" for command, option, text in entries if not (text or "").strip()]
    assert not missing, "no help text for:\n" + "\n".join(missing)
    commands = {command for command, _, _ in entries}
    # the walk reaches the discovered groups, not just train and eval
    assert {"mvssl train", "mvssl eval fewshot", "mvssl info nce", "mvssl info er"} <= commands
    assert any(c.startswith("mvssl experiment ") for c in commands) and any(c.startswith("mvssl bench ") for c in commands)


def test_top_level_help_and_version_import_no_torch():
    """``mvssl --help`` took 5 s (8-11 s under load) importing every command's modules, torch
    among them; it now builds one help line per command and imports no torch."""
    import mvssl
    from tests.cli.fresh_process import run_in_fresh_process

    printed, modules = run_in_fresh_process(["--help"], ["--version"], ["train", "--help"], ["eval", "--help"],
                                            ["eval", "knn", "--help"], ["eval", "robustness", "--help"])
    out = [text.splitlines()[0] for text in printed]
    assert out[0].startswith("usage: mvssl [-h] [--version]") and out[1] == f"mvssl {mvssl.__version__}"
    assert out[2].startswith("usage: mvssl train") and out[4].startswith("usage: mvssl eval knn")
    assert "torch" not in modules and "lightning" not in modules  # eval's options come from eval/options.py, not from the protocols


def test_group_and_export_help_import_no_torch_and_a_command_only_its_module():
    """``mvssl bench | info | data | study --help`` list their commands from the modules' text
    (``cli.literal_listing``) and ``mvssl export --help`` is built in cli.py: none of them imports torch
    (each did); ``mvssl bench matmul --help`` imports the one benchmark named."""
    from mvssl import cli
    from tests.cli.fresh_process import run_in_fresh_process

    from mvssl.export import FORMATS

    groups = {package: group for group, (package, _) in cli.COMMAND_GROUPS.items() if group != "experiment"}
    printed, modules = run_in_fresh_process(*[[group, "--help"] for group in groups.values()], ["export", "--help"])
    assert "torch" not in modules and "lightning" not in modules
    for package, listed in zip(groups, printed):
        imported = {m.COMMAND: m.HELP for m in cli.command_modules(package)}
        assert imported and all(c in listed and "".join(h.split()) in "".join(listed.split()) for c, h in imported.items())
    assert printed[-1].startswith("usage: mvssl export") and "--opset" in printed[-1]
    assert "{" + ",".join(FORMATS) + "}" in printed[-1]  # the formats export.py writes
    (usage,), modules = run_in_fresh_process(["bench", "matmul", "--help"])
    assert usage.startswith("usage: mvssl bench matmul") and "--sizes" in usage
    assert sorted(m for m in modules if m.startswith("mvssl.bench.")) == ["mvssl.bench.common", "mvssl.bench.matmul"]

"""The commit a study's results record: ``+dirty`` exactly when what they depend on has
uncommitted changes (the study file; for a declared study, the package)."""
import subprocess

from mvssl.studies.engine import git_commit, study_path


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_dirty_only_when_the_recorded_scope_changed(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    study, code, other = repo / "study.yaml", repo / "pkg" / "engine.py", repo / "notes.txt"
    for f in (study, code, other):
        f.write_text("one\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_commit(study) == head
    other.write_text("changed\n")  # a change elsewhere in the tree does not make the study dirty
    assert git_commit(study) == head and git_commit(code, repo / "pkg") == head
    code.write_text("changed\n")
    assert git_commit(code, repo / "pkg") == head + "+dirty"
    assert git_commit(study) == head
    study.write_text("changed\n")
    assert git_commit(study) == head + "+dirty"
    assert git_commit(tmp_path / "outside.yaml") is None  # not in a git work tree


def test_the_study_file_is_recorded_without_an_absolute_path(tmp_path):
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    study = repo / "configs" / "s.yaml"
    study.write_text("one\n")
    _git(repo, "init", "-q")
    assert study_path(study, repo / "docs" / "out") == "../../configs/s.yaml"  # same work tree: from the output
    assert study_path(study, tmp_path / "elsewhere" / "out") == "configs/s.yaml"  # else: from the tree's root
    loose = tmp_path / "loose.yaml"
    loose.write_text("one\n")
    assert study_path(loose, tmp_path / "out") == "../loose.yaml"  # no git at all: from the output

"""Issue 38's line count: the net lines its own commits added to the core (``src/mvssl`` without
``experiments/`` and ``studies/``, which the studies issue rebuilds), apart from the features that
other issues added to the core in the same weeks. Each commit is counted as
``git diff --numstat -M COMMIT^ COMMIT -- src/mvssl ':(exclude)src/mvssl/experiments'
':(exclude)src/mvssl/studies'`` (moves count only the lines they change). Also prints the lines per
package now. Run from the repository root: ``python scripts/count_restructuring.py``."""
import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

CORE = ["src/mvssl", ":(exclude)src/mvssl/experiments", ":(exclude)src/mvssl/studies"]
# (commit, what of issue 38 it does); a commit that also added a feature of another issue is not listed
COMMITS = [
    # the first session of issue 38 (since 4d2e60f)
    ("48c556b", "build.py below encoder/train/eval/info"),
    ("fb4bdca", "methods declare what they need; figures out of docstrings"),
    ("cfff5f8", "view learning is a method"),
    ("c6c9a5a", "colour leaf"),
    ("c80f82c", "centre_square in data/decode.py (import cycle)"),
    ("0f56334", "checkpoint I/O leaf"),
    ("3fb1976", "one markdown_table"),
    ("4f0cca2", "config: a package importing nothing of mvssl"),
    ("ac4582f", "one two-view critic"),
    ("d87ec3e", "view learning: TensorAdam and LearnedViewsEncoder files"),
    ("3bb3f45", "one build.load_method"),
    ("5724606", "train._train as a list of its jobs"),
    ("4a1187b", "views/ops: one Toggle base"),
    ("da8829c", "methods declare step_inputs"),
    ("f367c57", "I_NCE imports no trainer (eta.py)"),
    ("83dc276", "config: a resolved config resolves to itself"),
    ("e684fec", "tests mirror src (one core line)"),
    ("8ad23ea", "info/nce_command imports at module level"),
    ("eb75f06", "methods/er.py docstring"),
    ("f12431c", "review: one write_text_atomic in the checkpoint_io leaf"),
    # the second session
    ("7568171", "config: one declarative table per section"),
    ("3803af5", "mvssl.fit; mvssl.train only the package"),
    ("d10f627", "imports: in-function imports to module level"),
    ("77a0dfb", "one atomic text write"),
    ("284a446", "docs only"),
    ("7aa2aba", "sync_batchnorm through distributed.all_reduce_sum"),
    ("2c78ee1", "config: a recipe's row is its views schema"),
    ("53ee9c5", "imports: in-function imports added since"),
    ("26d705b", "bench/train: one timed_beside_matmul"),
    ("59fc32d", "config: 363 -> 337 lines, two modules, one dataset table"),
    ("c2f694e", "train: _train's messages to resume and finish; grid_of removed"),
    ("5d580a3", "build.py: the registry checks to checks.py"),
    ("205c1eb", "nn/queue: one queue-size check for MoCo and LooC"),
    ("3e80ef1", "methods: comments name checks.check_names"),
    ("8145f1c", "methods/base: comment rewrapped"),
    ("b90fa37", "imports: centre_square from data.decode; unused imports"),
    # the third session
    ("e839585", "tests mirror src (.gitignore only in the core's count: 0)"),
    ("7efe362", "config: configs as text to config_text.py"),
    ("c3fd95b", "data: one seeded per-class split, ImageFiles.split"),
    ("92d24ff", "weights/encoder: one reader of weight files"),
    ("2cd0a5e", "nn.Centre varying_count; DINO.target_logs"),
    ("b21705b", "nn: one transformer_blocks, _NarrowTransformer"),
    ("5ef91df", "eval/commands: in-function imports to module level"),
    ("cd48b4b", "build.encoder_state for mvssl.load and the distill teacher"),
    # the fourth session
    ("2ce3ee6", "one warm-up + cosine schedule (eval/finetune's copy removed)"),
    ("8258b29", "train/finish: one trained + random-init pair; image_inputs: one uint16 scaling"),
    ("e280fbc", "methods/er: one ER forward in the mixin"),
    ("968c4ca", "one centred-square resize for background photos and embed's lists"),
    # the fifth session
    ("b833d5f", "issue 38's slow mvssl experiment --help, fixed by the speed helper (cli.py grew)"),
    ("68798eb", "data: docstrings that restated docs/data.md"),
    ("dac0b6d", "top-level modules: docstrings that restated docs/domain.md or the code"),
    ("677bbde", "views: docstrings that restated docs/views.md or the code"),
    ("a37cc28", "eval, info, nn: docstrings that restated docs/evaluation.md, docs/er.md or the code"),
    ("ef4d1b2", "methods: docstrings that restated docs/methods.md or the code"),
    ("d1fe519", "train, losses: docstrings with measured figures or restating the code"),
    ("22125cf", "methods: one at_least for seven constructors' bound checks"),
    ("7d472a3", "views, nn: class docstrings that repeated another docstring"),
    ("1862f1f", "info nce: its report through eval.report.write_report"),
    ("37c2626", "encoder.embed: docstring names image_inputs instead of repeating it"),
    ("bfaa5f5", "four one-line helpers used once inlined"),
    ("418c84b", "data.datasets: keep_in_memory without its two one-use helpers"),
    # the sixth session
    ("456da61", "imports: the core's in-function imports of class (c) to module level"),
    ("036f41c", "one endless(batches); seeds' device via on_gpu; eval probes' defaults from the data parser"),
    ("5bf4aab", "train/seeds, threads, compile_rule, module, nn/stacked, bench: docstrings that restated docs"),
    ("13ccca6", "bench: one started(args) instead of apply_threads + machine()"),
    ("9ac26e2", "bench: three helpers used once inlined"),
    # the sixth session, second helper (code only)
    ("4d663aa", "config.as_config_error: one shape for ten try/except sites; is_head, Grayscale.__init__"),
    ("b2451f6", "data: cmnist backgrounds table, torchvision tensors; bench train: two one-use helpers"),
    ("70f431a", "methods/er: ERBYOL's repeated class attribute"),
    ("98ceebf", "data/hf: an early return nothing needs, _labels; data/pack: the bands-last array once"),
    ("44087aa", "one byol_loss for one seed and for several in one model; byol_pass without loss_fn"),
    ("3c03c44", "data.datasets.folder_files without its unused size; views/generator: Coupling._params"),
    # the sixth session, third helper (code only, modules under 200 lines)
    ("e2b92fe", "nn.ema_update of tuples of modules: one call per EMA in five methods"),
    ("fc84592", "views/randaugment: one _shear for shear_x and shear_y"),
    # the seventh session (core4)
    ("aebe594", "info er: its report through eval.report.write_report (which gives er.md its title)"),
    ("a8a09fc", "bench: its reports through eval.report.write_report (one report writer)"),
    ("2ac73b2", "build.build_projector loads the head: encoder.py's two build-then-load copies"),
    ("926e29e", "build_dataset makes cmnist through data.datasets.cmnist_splits"),
    ("512b942", "train/seeds: stacked optimiser groups through optim.param_groups"),
]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def counted(commit: str) -> tuple[int, int]:
    added = removed = 0
    for line in git("diff", "--numstat", "-M", f"{commit}^", commit, "--", *CORE).splitlines():
        a, r, _ = line.split("\t", 2)
        if a != "-":  # binary files
            added, removed = added + int(a), removed + int(r)
    return added, removed


KINDS = ("docstring", "comment", "blank", "code")


def kinds(text: str) -> dict[str, int]:
    """Lines of a Python file by kind: docstring (a string statement), comment (only a comment),
    blank, code (the rest)."""
    lines = text.splitlines()
    doc = set()
    try:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                doc.update(range(node.lineno, node.end_lineno + 1))
        comments = {t.start[0] for t in tokenize.generate_tokens(io.StringIO(text).readline)
                    if t.type == tokenize.COMMENT and not lines[t.start[0] - 1].split("#")[0].strip()}
    except (SyntaxError, tokenize.TokenError):
        return {"code": len(lines)}
    out = dict.fromkeys(KINDS, 0)
    for i, line in enumerate(lines, 1):
        out["docstring" if i in doc else "comment" if i in comments else "blank" if not line.strip() else "code"] += 1
    return out


def split(commit: str) -> dict[str, int]:
    """Net lines by kind that ``commit`` changed in the core's Python files."""
    net = dict.fromkeys(KINDS, 0)
    for line in git("diff", "--name-status", "-M", f"{commit}^", commit, "--", *CORE).splitlines():
        status, *paths = line.split("\t")
        before, after = (paths[0], paths[-1])
        for rev, path, sign in ((f"{commit}^", before, -1), (commit, after, 1)):
            if not path.endswith(".py") or (status == "A" and sign < 0) or (status == "D" and sign > 0):
                continue
            for kind, n in kinds(git("show", f"{rev}:{path}")).items():
                net[kind] += sign * n
    return net


def main() -> int:
    total_added = total_removed = 0
    total = dict.fromkeys(KINDS, 0)
    for commit, what in COMMITS:
        added, removed = counted(commit)
        total_added, total_removed = total_added + added, total_removed + removed
        by_kind = split(commit)
        total = {k: total[k] + by_kind[k] for k in KINDS}
        print(f"{commit}  +{added:<5} -{removed:<5} net {added - removed:+5}  ("
              + " ".join(f"{k} {v:+d}" for k, v in by_kind.items()) + f")  {what}")
    print(f"issue 38, {len(COMMITS)} commits: +{total_added} -{total_removed}, net {total_added - total_removed:+d} "
          "lines in the core: " + ", ".join(f"{k} {v:+d}" for k, v in total.items()))
    root, lines = Path("src/mvssl"), {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        package = parts[0] + "/" if len(parts) > 1 else "top-level *.py"
        lines[package] = lines.get(package, 0) + len(path.read_text().splitlines())
    core = sum(n for name, n in lines.items() if name not in ("experiments/", "studies/"))
    print("lines per package now: " + ", ".join(f"{k} {v}" for k, v in sorted(lines.items())) + f"; core {core}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

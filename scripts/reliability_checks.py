"""The red-team checks of issue 40: each of its 26 items (bad inputs, faults, real-data cases) run
against this checkout, with what each prints now. Writes OUT (default docs/reliability_checks.md).
Run: python scripts/reliability_checks.py [OUT]  (about 5 minutes on 2 cores; works in /tmp/rd_items)"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

WT = Path(__file__).resolve().parents[1]
SRC = str(WT / "src")
sys.path[:0] = [SRC, str(WT)]
W = Path("/tmp/rd_items")
shutil.rmtree(W, ignore_errors=True)
W.mkdir()
ENV = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MVSSL_CACHE_DIR=str(W / "cache"))
MVSSL = [sys.executable, "-m", "mvssl.cli"]
TINY = ["--data.image_size", "16", "--backbone.width", "4", "--optim.batch_size", "8", "--trainer.max_steps", "8",
        "--method.proj_hidden_dim", "32", "--method.proj_dim", "16", "--trainer.out_dir", str(W / "runs")]
SHAPES = ["--data.dataset", "shapes", "--views.name", "simclr", *TINY]
out, tally = [], []


def run(argv, cwd=W, **kw):
    t = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, **kw)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t


def show(item, title, cmd, rc, text, note=""):
    out.append(f"### {item}. {title}\n\n```\n$ {cmd}\n{text.rstrip()}\n(exit {rc})\n```\n{note}\n")


def tail(s, n=3):
    return "\n".join([line for line in s.splitlines() if line.strip()][-n:])


def bad(item, argv, expect_rc=2, cwd=W, check=None):
    """A bad input: handled = the expected exit code, one mvssl: line on stderr, no traceback."""
    rc, so, se, _ = run(argv, cwd=cwd)
    lines = [line for line in se.splitlines() if line.startswith("mvssl:")]
    ok = rc == expect_rc and "Traceback" not in se and (expect_rc == 0 or len(lines) >= 1) and (check is None or check())
    tally.append((item, " ".join(argv[3:]), ok))
    return rc, so, se


from tests.data.fakedata import write_image_folder  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

write_image_folder(W / "labelled", classes=2, per_class=12, corrupt=0)
shutil.copytree(W / "labelled", W / "loop")
os.symlink("..", W / "loop" / "c0" / "up")
os.symlink(".", W / "loop" / "c1" / "self")
(W / "flat").mkdir()
rng = np.random.default_rng(0)
for i in range(24):
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(W / "flat" / f"{i}.png")

# 1
ramp = np.linspace(1000, 60000, 64 * 64).reshape(64, 64).astype(np.uint16)
Image.frombytes("I;16", (64, 64), ramp.tobytes()).save(W / "img16.png")
code = ("from PIL import Image; import numpy as np; from mvssl.data.files import decode_image\n"
        "old = np.asarray(Image.open('img16.png').convert('RGB'))\n"
        "new = decode_image('img16.png', 64).numpy()\n"
        "print(f'PIL convert(RGB) (before): min {old.min()} max {old.max()} mean {old.mean():.1f}')\n"
        "print(f'decode_image (now):        min {new.min()} max {new.max()} mean {new.mean():.1f}')")
rc, so, se, _ = run([sys.executable, "-c", code])
show(1, "16-bit PNG", "python: decode_image('img16.png') on a 16-bit ramp 1000..60000", rc, so + se)

# 2
rc, so, se, _ = run(MVSSL + ["train", "--data.dataset", "folder", "--data.root", str(W / "loop"), *TINY,
                             "--trainer.name", "loop"])
code = (f"from mvssl.data.datasets import image_folder_files; import os, warnings\n"
        f"warnings.simplefilter('ignore')\nf = image_folder_files('{W / 'loop'}', 16)\n"
        "ids = lambda fs: {{(os.stat(p).st_dev, os.stat(p).st_ino) for p in fs.items}}\n"
        "print('files listed', len(f.train) + len(f.test), '(24 on disk); on both sides of the split:',"
        " len(ids(f.train) & ids(f.test)))")
_, so2, _, _ = run([sys.executable, "-c", code.replace("{{", "{").replace("}}", "}")])
show(2, "symlink loop in a class folder", f"mvssl train --data.dataset folder --data.root loop ... (c0/up -> .., c1/self -> .)",
     rc, "\n".join(line for line in (se + so).splitlines() if "image folder" in line or "|" in line) + "\n" + so2)

# 3
run(MVSSL + ["train", "--data.dataset", "folder", "--data.root", str(W / "labelled"), *TINY, "--eval.enabled", "false",
             "--trainer.name", "folder"])
rc, so, se, _ = run(MVSSL + ["eval", "knn", str(W / "runs" / "folder"), "--k", "5"])
show(3, "eval knn RUN on a folder-trained run", "mvssl eval knn runs/folder --k 5", rc, se + tail(so, 4))
rc, so, se, _ = run(MVSSL + ["eval", "linear", str(W / "runs" / "folder"), "--dataset", "folder"])
show(3, "eval --dataset folder without --root", "mvssl eval linear runs/folder --dataset folder", rc, se + tail(so, 3))
run(MVSSL + ["train", *SHAPES, "--trainer.name", "shapes", "--eval.enabled", "false"])
rc, so, se = bad(3, MVSSL + ["eval", "linear", str(W / "runs" / "shapes"), "--dataset", "folder"])
show(3, "--dataset folder without --root, run trained on shapes", "mvssl eval linear runs/shapes --dataset folder",
     rc, tail(se, 1))

# 4
rc, so, se, _ = run(MVSSL + ["train", "--data.dataset", "folder", "--data.root", str(W / "flat"), *TINY,
                             "--trainer.name", "flat"])
show(4, "flat folder of unlabelled images", "mvssl train --data.dataset folder --data.root flat ...", rc,
     "\n".join(line for line in so.splitlines() if not line.startswith("step ")))
bad(4, MVSSL + ["eval", "linear", str(W / "runs" / "flat")])

# 5
p = subprocess.Popen(MVSSL + ["train", *SHAPES, "--trainer.max_steps", "400", "--trainer.name", "term"], cwd=W, env=ENV,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
for line in p.stdout:
    if line.startswith("step 40/"):
        p.send_signal(signal.SIGTERM)
        break
so, se = p.communicate()
show(5, "SIGTERM", "mvssl train ... --trainer.max_steps 400 &  kill -TERM $! (after step 40)", p.returncode, tail(se, 2),
     "`ls runs/term/checkpoints`: " + " ".join(sorted(x.name for x in (W / "runs" / "term" / "checkpoints").iterdir())))
rc, so, se, _ = run(MVSSL + ["train", "--resume", str(W / "runs" / "term")])
show(5, "resume after SIGTERM", "mvssl train --resume runs/term", rc, so.splitlines()[0] + "\n" + tail(so, 1))

# 6
(W / "work").mkdir()
shutil.copytree(W / "labelled", W / "work" / "imgs")
p = subprocess.Popen(MVSSL + ["train", "--data.dataset", "folder", "--data.root", "imgs", *TINY, "--trainer.max_steps",
                              "400", "--eval.enabled", "false", "--trainer.name", "rel"], cwd=W / "work", env=ENV,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
for line in p.stdout:
    if line.startswith("step 20/"):
        p.send_signal(signal.SIGTERM)
        break
p.communicate()
root_line = next(line for line in (W / "runs" / "rel" / "config.yaml").read_text().splitlines() if "root:" in line)
shutil.move(str(W / "work" / "imgs"), str(W / "moved"))
rc, so, se = bad(6, MVSSL + ["train", "--resume", str(W / "runs" / "rel")])
shutil.copytree(W / "moved", W / "other")
os.remove(sorted((W / "other" / "c0").iterdir())[0])
rc2, so2, se2 = bad(6, MVSSL + ["train", "--resume", str(W / "runs" / "rel"), "--data.root", str(W / "other")])
rc3, so3, se3, _ = run(MVSSL + ["train", "--resume", str(W / "runs" / "rel"), "--data.root", "moved"])
show(6, "relative data.root, data moved", "(in work/) mvssl train --data.root imgs ...; SIGTERM; mv work/imgs moved; "
     "mvssl train --resume runs/rel [--data.root other | moved]", rc3,
     f"config.yaml: {root_line.strip()}\n--resume (data gone): {tail(se, 1)}\n--data.root other (one file fewer): "
     f"{tail(se2, 1)}\n--data.root moved: " + next(x for x in so3.splitlines() if "data.root now" in x))

# 7-17, 20: one line each
cases = [
    (7, "--views.n_views 1", ["train", *SHAPES, "--views.n_views", "1"]),
    (8, "--trainer.accelerator gpu (no GPU)", ["train", *SHAPES, "--trainer.accelerator", "gpu"]),
    (9, "--optim.batch_size 1", ["train", *SHAPES, "--optim.batch_size", "1"]),
    (10, "--views.strength -5", ["train", *SHAPES, "--views.strength", "-5"]),
    (10, "eval knn --k 0", ["eval", "knn", str(W / "runs" / "folder"), "--k", "0"]),
    (10, "eval linear --image-size 1", ["eval", "linear", str(W / "runs" / "folder"), "--image-size", "1"]),
    (10, "--views.shared on a folder run", ["train", "--data.dataset", "folder", "--data.root", str(W / "labelled"),
                                            *TINY, "--views.shared", "digit,position"]),
    (14, "--trainer.max_steps 0", ["train", *SHAPES, "--trainer.max_steps", "0"]),
    (15, "data root that is a file", ["train", "--data.dataset", "folder", "--data.root", str(W / "img16.png"), *TINY]),
    (16, "eval linear /nope", ["eval", "linear", "/nope"]),
    (20, "--trainer.max_steps 1e20", ["train", *SHAPES, "--trainer.max_steps", "1e20"]),
]
(W / "dup.yaml").write_text("optim:\n  lr: 0.1\n  batch_size: 8\n  lr: 0.01\n")
cases.insert(7, (11, "duplicate YAML key", ["train", "--config", str(W / "dup.yaml")]))
for item, title, argv in cases:
    before = set(os.listdir(W / "runs"))
    rc, so, se = bad(item, MVSSL + argv, check=lambda b=set(os.listdir(W / "runs")): set(os.listdir(W / "runs")) == b)
    left = set(os.listdir(W / "runs")) - before
    shown, skip = [], set()
    for i, a in enumerate(argv):  # the tiny-run options (pairs) are left out of the shown command
        if i in skip:
            continue
        if a in TINY[::2] and i + 1 < len(argv) and argv[i + 1] == TINY[TINY.index(a) + 1]:
            skip.add(i + 1)
            continue
        shown.append(a.replace(str(W) + "/", ""))
    show(item, title, "mvssl " + " ".join(shown) + " (+ tiny-run options)", rc, tail(se, 1),
         f"run folders created: {sorted(left) or 'none'}")

# 12
procs = [subprocess.Popen(MVSSL + ["train", *SHAPES, "--trainer.max_steps", "2", "--eval.enabled", "false",
                                   "--trainer.out_dir", str(W / "same")], cwd=W, env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) for _ in range(3)]
rcs = [q.wait() for q in procs]
show(12, "three default-named runs started at once", "3 x mvssl train ... --trainer.out_dir same &", max(rcs),
     "\n".join(sorted(os.listdir(W / "same"))))

# 13
rc, so, se, _ = run(MVSSL + ["train", "--data.dataset", "folder", "--data.root", str(W / "labelled"), *TINY,
                             "--data.image_size", "8", "--trainer.name", "px8", "--eval.enabled", "false"])
show(13, "folder images at 8 px", "mvssl train --data.dataset folder --data.image_size 8 ...", rc,
     so.splitlines()[0] if so else se)

# 17
run(MVSSL + ["train", *SHAPES, "--method", "byol", "--trainer.name", "byol", "--eval.enabled", "false"])
run(MVSSL + ["train", *SHAPES, "--trainer.name", "mix", "--eval.enabled", "false"])
shutil.copy(W / "runs" / "byol" / "checkpoints" / "last.ckpt", W / "runs" / "mix" / "checkpoints" / "stepX.ckpt")
os.remove(W / "runs" / "mix" / "checkpoints" / "last.ckpt")
os.remove(W / "runs" / "mix" / "encoder.pt")
for name in os.listdir(W / "runs" / "mix" / "checkpoints"):
    if name.startswith("step0"):
        os.remove(W / "runs" / "mix" / "checkpoints" / name)
os.rename(W / "runs" / "mix" / "checkpoints" / "stepX.ckpt", W / "runs" / "mix" / "checkpoints" / "last.ckpt")
rc, so, se = bad(17, MVSSL + ["train", "--resume", str(W / "runs" / "mix")])
show(17, "checkpoint of another method (resume)", "mvssl train --resume runs/mix  (a byol last.ckpt in a simclr run)",
     rc, tail(se, 1))
rc, so, se = bad(17, MVSSL + ["info", "er", str(W / "runs" / "mix")])
show(17, "checkpoint of another method (info er)", "mvssl info er runs/mix", rc, tail(se, 1))

# 18, 19
rc, so, se, _ = run(MVSSL + ["train", "--resume", str(W / "runs" / "folder")])
show(18, "resume a finished run", "mvssl train --resume runs/folder", rc, so + se)
rc, so, se, _ = run(MVSSL + ["train", "--resume", str(W / "runs" / "folder"), "--trainer.max_steps", "16"])
import csv  # noqa: E402
lr = {int(r["step"]): float(r["train/lr"]) for r in csv.DictReader(open(W / "runs" / "folder" / "logs" / "metrics.csv"))
      if r.get("train/lr")}
show(19, "extend a run", "mvssl train --resume runs/folder --trainer.max_steps 16", rc,
     next(x for x in so.splitlines() if x.startswith("extending")) + "\nlogged train/lr by step: "
     + ", ".join(f"{s}: {v:.1e}" for s, v in sorted(lr.items())))

# 21, 23
rc, so, se, _ = run(MVSSL + ["train", *SHAPES, "--trainer.name", "console"])
show(21, "Lightning's lines", "mvssl train ... 2> err.txt; grep -c 'GPU available\\|TPU available' err.txt", rc,
     f"{sum(('GPU available' in x or 'TPU available' in x) for x in se.splitlines())} (stderr has "
     f"{len(se.splitlines())} lines)")
show(23, "progress in a non-TTY log", "mvssl train ... > out.txt 2>&1; grep -c $'\\r' out.txt", rc,
     f"{(so + se).count(chr(13))} carriage returns; lines:\n" + "\n".join(so.splitlines()[:3]))

# 22
times = []
for _ in range(3):
    times.append(run(MVSSL + ["--help"])[3])
rc, so, se, _ = run(MVSSL + ["--version"])
load = os.getloadavg()[0]
show(22, "--help time and --version", "time mvssl --help (3 runs); mvssl --version", rc,
     f"--help: {', '.join(f'{t:.2f} s' for t in times)} (load average {load:.1f} on 2 cores)\n{so}")

# 24
code = ("import numpy as np, torch, mvssl; from PIL import Image\n"
        f"enc = mvssl.load('{W / 'runs' / 'folder'}')\n"
        "x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)\n"
        "ref = enc.embed(torch.from_numpy(x).permute(0, 3, 1, 2))\n"
        "for name, form in [('NHWC uint8', x), ('float [0,1]', x / 255.0), ('PIL', [Image.fromarray(i) for i in x]),"
        " ('greyscale [N,H,W,1]', x[..., :1])]:\n"
        "    print(name, tuple(enc.embed(form).shape), torch.equal(enc.embed(form), ref) if name != 'greyscale [N,H,W,1]' else '')\n"
        "print('projection', tuple(enc.embed(x, representation='projection').shape))\n"
        "try:\n    enc.embed({'a': 1})\nexcept ValueError as e:\n    print(e)\n")
rc, so, se, _ = run([sys.executable, "-c", code])
show(24, "Encoder.embed inputs", "python: enc.embed(NHWC / float / PIL / grey / projection / a dict)", rc, so + tail(se, 2))

# 25
readme = (WT / "README.md").read_text().splitlines()
show(25, "Python API in the README", "grep -n 'mvssl.fit(' README.md; wc -l README.md", 0,
     "\n".join(f"{i + 1}: {x}" for i, x in enumerate(readme) if "mvssl.fit(" in x) + f"\n{len(readme)} lines")

# 26
run(MVSSL + ["train", "--trainer.max_steps", "40", "--trainer.checkpoint_every", "10", "--eval.enabled", "false",
             "--trainer.progress", "false", "--trainer.out_dir", str(W / "size"), "--trainer.name", "default"])
ls = subprocess.run(["ls", "-l", str(W / "size" / "default" / "checkpoints")], capture_output=True, text=True).stdout
du = subprocess.run(["du", "-sh", str(W / "size" / "default")], capture_output=True, text=True).stdout
show(26, "checkpoint size, last.ckpt", "mvssl train --trainer.max_steps 40 --trainer.checkpoint_every 10 ...; "
     "ls -l checkpoints; du -sh RUN", 0, ls + du,
     "Before (the code before 41358f6, save_last=True, the same command, measured once on 2026-12-07, not regenerated by this script): last.ckpt a 9,971,337-byte copy, "
     "run folder 30M.")

handled = sum(ok for *_, ok in tally)
out.append(f"## Bad inputs in this script: {handled} of {len(tally)} handled (one `mvssl:` line, the expected exit "
           "code, no traceback, no folder where one applies)\n\n" + "\n".join(
               f"- item {i}: `{a}`: {'handled' if ok else 'NOT handled'}" for i, a, ok in tally))
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else WT / "docs" / "reliability_checks.md"
OUT.write_text("# Reliability checks: what each case prints (generated by scripts/reliability_checks.py)\n\n"
                                                 + "\n".join(out))
print(f"wrote {OUT} ({handled}/{len(tally)} bad inputs handled)")

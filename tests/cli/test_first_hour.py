"""What a new user meets in the first hour: own data with its own defaults, short runs,
readable progress, a quiet console, tools that say which data they take, helpful errors,
and ``embed`` treating non-square images as the folder loader does."""
import logging
import warnings

import pytest
import torch
import yaml
from tests.data.fakedata import write_image_folder

from mvssl.cli import main
from mvssl.config import ConfigError, written_config
from mvssl.build import resolve
from mvssl.encoder import Encoder
from mvssl.eval.fewshot import sample_episodes
from mvssl.train import train
from mvssl.train.progress import progress_line


# ------------------------------------------------------------------ 1. per-dataset defaults
@pytest.mark.parametrize("dataset, size, strength", [("folder", 64, 1.0), ("cifar10", 32, 0.5), ("cifar100", 32, 0.5),
                                                     ("stl10", 96, 1.0)])
def test_other_datasets_get_their_own_size_and_an_augmentation_recipe(dataset, size, strength):
    cfg = resolve({"data": {"dataset": dataset}})
    assert cfg["data"]["image_size"] == size
    assert cfg["views"]["name"] == "simclr" and cfg["views"]["strength"] == strength
    written = written_config(cfg)
    assert not {"digit_size", "digits", "backgrounds"} & set(written["data"])
    assert not {"shared", "augment", "patch_size", "n_local"} & set(written["views"])
    assert resolve(written) == cfg  # a saved config resolves back to the run's config


def test_colorful_mnist_defaults_unchanged_and_explicit_values_win():
    cfg = resolve()
    assert (cfg["data"]["image_size"], cfg["views"]["name"]) == (24, "factor-shared")
    assert written_config(cfg)["views"] == {"name": "factor-shared", "shared": ["digit"], "augment": "none"}
    assert {"digit_size", "digits", "backgrounds"} <= set(written_config(cfg)["data"])
    cfg = resolve({"data": {"dataset": "folder", "image_size": 48}, "views": {"name": "byol"}})
    assert (cfg["data"]["image_size"], written_config(cfg)["views"]) == (48, {"name": "byol"})
    with pytest.raises(ConfigError, match="factor-shared views need data.dataset cmnist"):
        resolve({"data": {"dataset": "cifar10"}, "views": {"name": "factor-shared"}})


# ------------------------------------------------------------------ 2. short runs
@pytest.mark.parametrize("steps, warmup, every", [(1500, 50, 200), (400, 50, 200), (150, 30, 150), (20, 4, 20),
                                                  (1, 0, 1)])
def test_warmup_and_checkpoint_interval_follow_max_steps(steps, warmup, every):
    cfg = resolve({"trainer": {"max_steps": steps}})
    assert (cfg["optim"]["warmup_steps"], cfg["trainer"]["checkpoint_every"]) == (warmup, every)


def test_explicit_warmup_and_checkpoint_interval_are_still_checked():
    assert resolve({"trainer": {"max_steps": 20, "checkpoint_every": 7}})["trainer"]["checkpoint_every"] == 7
    with pytest.raises(ConfigError, match=r"trainer.checkpoint_every \(200\) is larger.*leave it out"):
        resolve({"trainer": {"max_steps": 150, "checkpoint_every": 200}})
    with pytest.raises(ConfigError, match=r"optim.warmup_steps \(50\) must be smaller.*leave it out"):
        resolve({"trainer": {"max_steps": 20}, "optim": {"warmup_steps": 50}})
    with pytest.raises(ConfigError, match="optim.warmup_steps: expected an integer"):
        resolve({"optim": {"warmup_steps": "ten"}})


# ------------------------------------------------------------------ 3 + 4. one tiny folder run
@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A 6-step run on a 30-image folder (one batch per epoch, fewer than log_every), progress
    off: its echo lines, warnings and log records."""
    tmp = tmp_path_factory.mktemp("first-hour")
    write_image_folder(tmp / "photos", classes=3, per_class=10, size=20, corrupt=0)
    config = {"data": {"dataset": "folder", "root": str(tmp / "photos"), "image_size": 16},
              "backbone": {"width": 4}, "method": {"proj_hidden_dim": 32, "proj_dim": 16},
              "optim": {"batch_size": 16}, "trainer": {"max_steps": 6, "log_every": 2, "progress": False, "out_dir": str(tmp / "runs"),
                                                       "name": "photos"}}
    lines, records = [], []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("lightning.pytorch").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_dir, metrics = train(config, echo=lines.append)
    finally:
        logging.getLogger("lightning.pytorch").removeHandler(handler)
    return {"dir": run_dir, "metrics": metrics, "lines": lines, "warnings": [str(w.message) for w in caught],
            "records": [r.getMessage() for r in records], "tmp": tmp}


def test_folder_run_says_what_it_trains_on_and_records_only_keys_that_apply(folder_run):
    first = next(line for line in folder_run["lines"] if line.startswith("run folder:"))
    assert "data folder at 16 px, views simclr" in first
    saved = yaml.safe_load((folder_run["dir"] / "config.yaml").read_text())
    assert set(saved["data"]) == {"dataset", "image_size", "root", "strict", "in_memory", "memory_budget_gb", "workers",
                                  "classes_file", "channels"}
    assert set(saved["views"]) == {"name", "strength", "min_scale", "n_views"}
    assert saved["optim"]["warmup_steps"] == 1 and saved["trainer"]["checkpoint_every"] == 6


def test_progress_off_prints_plain_lines_over_the_global_steps(folder_run):
    steps = [line for line in folder_run["lines"] if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == [f"{i}/6" for i in range(1, 7)]  # one count, not per epoch
    assert "(100%)" in steps[-1] and "ETA 0:00" in steps[-1] and ", loss " in steps[-1]


def test_progress_line_eta_from_the_rate_of_this_process():
    assert progress_line("step", 300, 1500, 60.0) == "step 300/1500 (20%), 1:00 elapsed, ETA 4:00"
    # a resumed run: 100 of the 300 steps were done before, so 200 steps took the minute
    assert progress_line("step", 300, 1500, 60.0, done_before=100).endswith("ETA 6:00")
    assert progress_line("seed", 0, 3, 0.0).endswith("ETA ?")


def test_a_bar_only_on_a_terminal_and_a_plain_line_at_least_every_minute(monkeypatch):
    import io
    import types

    from mvssl.train import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress.StepProgress(True, stream=Terminal()).bar_enabled
    assert not progress.StepProgress(True, stream=io.StringIO()).bar_enabled  # a log file: plain lines, no \r
    clock = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: clock[0])
    lines = []
    bar = progress.StepProgress(True, lines=20, echo=lines.append, stream=io.StringIO())
    trainer = types.SimpleNamespace(global_rank=0, max_steps=10**8, global_step=0, progress_bar_metrics={})
    bar.on_train_start(trainer, None)
    for step, now in ((1, 10.0), (2, 59.0), (3, 61.0), (4, 62.0), (5, 125.0)):  # a line every 5e6 steps, or a minute
        trainer.global_step, clock[0] = step, now
        bar.on_train_batch_end(trainer, None, None, None, step)
    assert [line.split()[1] for line in lines] == ["3/100000000", "5/100000000"]


def test_no_lightning_tip_or_spurious_warnings(folder_run):
    noise = ("litlogger", "LeafSpec", "smaller than the logging interval", "not resumable", "GPU available",
             "TPU available", "Automatic Mixed Precision", "`Trainer.fit` stopped")
    assert not [m for m in folder_run["records"] + folder_run["warnings"] if any(n in m for n in noise)]


def test_run_summary_has_one_caption_per_topic_figure(folder_run):
    run_dir = folder_run["dir"]
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert pngs == ["monitor.png", "online_probe.png", "training.png"]
    summary = (run_dir / "summary.md").read_text()
    for name in pngs:
        assert sum(f"(plots/{name}):" in line for line in summary.splitlines()) == 1
    assert "online probe is a linear classifier" in summary and "linear-probe accuracy (%)" in summary
    header = (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "train/lr" in header


def test_robustness_reports_skipped_images_once(folder_run, capsys):
    photos = folder_run["tmp"] / "photos-broken"
    write_image_folder(photos, classes=3, per_class=10, size=20, corrupt=1)
    assert main(["eval", "robustness", str(folder_run["dir"]), "--dataset", "folder", "--root", str(photos),
                 "--corruptions", "gaussian_noise", "--max-test", "4", "--out", str(folder_run["tmp"] / "rb")]) == 0
    assert capsys.readouterr().err.count("skipped 1 unreadable") == 1


# ------------------------------------------------------------------ 5. tools and their data
def test_probes_refuse_an_encoder_not_trained_on_colorful_mnist(folder_run, capsys):
    assert main(["eval", "probes", str(folder_run["dir"])]) == 2
    err = capsys.readouterr().err
    assert "trained on folder" in err and "mvssl eval linear" in err
    assert main(["eval", "probes", str(folder_run["dir"]), "--root", "x"]) == 2
    assert "takes no --root" in capsys.readouterr().err


def test_info_nce_on_an_image_folder_with_progress_and_an_honest_header(folder_run, capsys):
    out = folder_run["tmp"] / "nce"
    photos = folder_run["tmp"] / "photos"
    assert main(["info", "nce", "--dataset", "folder", "--root", str(photos), "--image-size", "16", "--k", "4",
                 "--steps", "2", "--seeds", "2", "--width", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seed 1/2 (50%)" in printed and "seed 2/2 (100%)" in printed
    header = (out / "nce.md").read_text().splitlines()[0]
    assert "folder train images" in header and "Colorful-Moving-MNIST" not in header
    assert "recipe simclr" in (out / "nce.md").read_text()
    assert main(["info", "nce", "--dataset", "folder", "--root", str(photos), "--views", "factor-shared"]) == 2
    assert "--views factor-shared needs --dataset cmnist" in capsys.readouterr().err


def test_info_er_and_experiments_refuse_data_options_clearly(folder_run, capsys):
    assert main(["info", "er", str(folder_run["dir"]), "--dataset", "cifar10"]) == 2
    assert "takes no --dataset: it measures the run on the run's own dataset" in capsys.readouterr().err
    assert main(["info", "er", str(folder_run["dir"]), "--split", "test"]) == 2
    assert "--split applies to Colorful-Moving-MNIST runs only" in capsys.readouterr().err
    assert main(["experiment", "looc", "--dataset", "folder"]) == 2
    assert "takes no --dataset: it runs on Colorful-Moving-MNIST only" in capsys.readouterr().err


# ------------------------------------------------------------------ 6. few-shot
def test_fewshot_error_says_what_to_lower():
    labels = torch.arange(5).repeat(8)  # 5 classes x 8 items
    with pytest.raises(ValueError, match=r"only 0 of 5 have that many \(the smallest has 8\): lower --queries"):
        sample_episodes(labels, 5, 5, 15, 10, torch.Generator().manual_seed(0))
    assert sample_episodes(labels, 5, 5, 3, 10, torch.Generator().manual_seed(0)).shape == (10, 5, 8)


# ------------------------------------------------------------------ 7. embed = folder loader
@pytest.mark.parametrize("height, width", [(24, 40), (41, 24), (24, 24)])
def test_embed_keeps_the_centred_square_as_the_folder_loader_does(tmp_path, height, width):
    from PIL import Image

    from mvssl.data.datasets import image_folder

    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=g)
    for c in ("a", "b"):
        for i in range(5):
            (tmp_path / c).mkdir(exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / c / f"{i}.png")
    loaded = image_folder(str(tmp_path), image_size=24).train_images[:1]  # side 24: a pure crop, no resampling
    encoder = Encoder.from_config(resolve({"backbone": {"width": 4}}))
    torch.testing.assert_close(encoder.preprocess(image[None]), encoder.preprocess(loaded), rtol=0, atol=0)
    assert encoder.embed(image[None]).shape == encoder.embed(loaded).shape


# ------------------------------------------------------------------ 9. trainer.logger
@pytest.mark.parametrize("logger", ["tensorboard", "wandb"])
def test_a_missing_logger_package_is_a_clear_error_before_any_folder(tmp_path, monkeypatch, logger):
    monkeypatch.setitem(__import__("sys").modules, logger, None)  # import fails as if not installed
    config = {"trainer": {"logger": logger, "out_dir": str(tmp_path), "name": "r", "max_steps": 2}}
    with pytest.raises(ConfigError, match=rf"trainer.logger {logger}: the '{logger}' package is not installed.*"
                                          rf"\.\[{logger}\]"):
        train(config, echo=lambda *_: None)
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="trainer.logger: 'mlflow' is not one of"):
        resolve({"trainer": {"logger": "mlflow"}})


def test_tensorboard_logger_writes_events_beside_the_csv(folder_run):
    pytest.importorskip("tensorboard")
    from mvssl.train.loggers import extra_logger

    logger = extra_logger("tensorboard", folder_run["tmp"] / "tb-run")
    logger.log_metrics({"train/loss": 1.0}, step=1)
    logger.finalize("success")
    assert list((folder_run["tmp"] / "tb-run" / "tensorboard").glob("events.out.tfevents.*"))

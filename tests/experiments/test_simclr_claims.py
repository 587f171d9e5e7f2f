"""SimCLR's and CMC's claim experiments (CMC version 2's own: test_cmc_views.py): bad input fails
before training, the verdict code follows the per-seed numbers, z is read from the checkpoint, the predictive CMC baseline
learns, and tiny real runs (slow) write results on Colour Shapes and on CIFAR-format files."""
import json

import pytest
import yaml
import torch

from mvssl.cli import main
from mvssl.experiments import simclr_augmentations, simclr_head


@pytest.mark.parametrize("argv, option", [
    (["simclr-augmentations", "--augmentations", "crop,colour"], "--augmentations"),
    (["simclr-augmentations", "--batch-size", "5000"], "--batch-size"),
    (["simclr-head", "--batch-size", "2001"], "--batch-size"),
    (["cmc-views", "--batch-size", "99999"], "--batch-size"),
])
def test_bad_input_fails_before_training_naming_the_option(tmp_path, capsys, argv, option):
    out = tmp_path / "out"
    assert main(["experiment", *argv, "--out", str(out)]) == 2
    assert option in capsys.readouterr().err
    assert not out.exists()  # nothing trained, no folder left behind


def _declared(module, *extra):
    """The study ``mvssl experiment NAME EXTRA`` runs (nothing trains)."""
    import argparse

    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return module.study(p.parse_args(list(extra)))


def test_matrix_cells_are_the_diagonal_and_every_ordered_pair():
    s = _declared(simclr_augmentations, "--augmentations", "crop,color,blur", "--branches", "both")
    assert list(s.arms) == ["crop", "crop-color", "crop-blur", "color-crop", "color", "color-blur", "blur-crop",
                            "blur-color", "blur"]
    assert s.arms["color-blur"].overrides == {"views": {"compose": ["color", "blur"]}}
    assert s.base["views"] == {"min_scale": 0.4, "name": "compose", "branches": "both"}
    only_pair = _declared(simclr_augmentations, "--quick")  # crop, color: one pair, so no pair claim
    assert list(only_pair.arms) == ["crop", "crop-color", "color-crop", "color"]
    assert [p.id for p in only_pair.predictions] == ["no-single-suffices"]


def test_augmentation_study_defaults_to_scattered_shapes_and_gates_the_predicted_best_arm():
    s = _declared(simclr_augmentations)
    assert s.base["data"]["dataset"] == "scattered-shapes" and s.base["data"]["image_size"] == 32
    assert s.base["views"]["min_scale"] == 0.4  # every such crop is >= 2 cells of 8 px: a whole copy in it
    assert [(g.kind, g.arms) for g in s.gates] == [("learns", ["crop-color"]), ("ceiling", None)]
    assert all(p.refuted_by for p in s.predictions)
    assert _declared(simclr_head).seeds() == [0, 1, 2, 3, 4]  # the head study's headline: 5 seeds


def test_augmentation_study_gates_only_the_arm_predicted_best():
    """crop alone failing to learn (its colour shortcut) is the predicted effect: it must not make
    the claims untestable; crop -> color failing to learn must."""
    from mvssl.studies.judge import judge

    s = _declared(simclr_augmentations, "--augmentations", "crop,color,blur")
    m = "linear_top1_pct"
    cells = ["crop", "crop-color", "crop-blur", "color-crop", "color", "color-blur", "blur-crop", "blur-color", "blur"]
    values = {c: {m: {0: 40.0, 1: 41.0, 2: 40.5}} for c in cells}
    values["crop-color"] = {m: {0: 70.0, 1: 72.0, 2: 71.0}}
    random = {c: {m: {0: 40.0, 1: 41.5, 2: 40.0}} for c in cells}  # nothing but crop -> color learns
    verdicts = {c["id"]: c["verdict"] for c in judge(s, values, random)["claims"]}
    assert verdicts == {"crop-color-best-pair": "supported", "no-single-suffices": "supported"}
    values["crop-color"] = {m: {0: 40.0, 1: 41.0, 2: 40.0}}
    verdicts = {c["id"]: c["verdict"] for c in judge(s, values, random)["claims"]}
    assert set(verdicts.values()) == {"not testable"}


def test_augmentation_study_verdicts_follow_the_numbers():
    from mvssl.studies.judge import judge

    s = _declared(simclr_augmentations, "--augmentations", "crop,color,blur")
    assert [p.id for p in s.predictions] == ["crop-color-best-pair", "no-single-suffices"]
    acc = {("crop",): [30, 31, 32], ("color",): [40, 41, 39], ("crop", "color"): [60, 62, 61],
           ("color", "crop"): [58, 59, 60], ("crop", "blur"): [35, 36, 35], ("blur", "crop"): [34, 33, 35],
           ("blur",): [25, 26, 27], ("color", "blur"): [45, 44, 46], ("blur", "color"): [44, 45, 43]}
    m = "linear_top1_pct"
    values = lambda: {"-".join(c): {m: dict(enumerate(v))} for c, v in acc.items()}  # noqa: E731
    random = {"-".join(c): {m: {0: 20.0, 1: 21.0, 2: 20.5}} for c in acc}
    verdicts = {c["id"]: c["verdict"] for c in judge(s, values(), random)["claims"]}
    assert verdicts == {"crop-color-best-pair": "supported", "no-single-suffices": "supported"}
    acc[("color",)] = [70, 72, 71]  # a single augmentation beats the pair
    verdicts = {c["id"]: c["verdict"] for c in judge(s, values(), random)["claims"]}
    assert verdicts["no-single-suffices"] == "contradicted" and verdicts["crop-color-best-pair"] == "supported"


def test_head_study_verdicts_follow_the_numbers_and_its_gates():
    from mvssl.studies.judge import judge

    s = _declared(simclr_head, "--seeds", "3")
    h, z = "h_linear_top1_pct", "z_linear_top1_pct"
    seeds = lambda *v: dict(enumerate(v))  # noqa: E731
    values = {"none": {h: seeds(40, 41, 42), z: seeds(40, 41, 42)}, "linear": {h: seeds(45, 46, 47), z: seeds(1, 2, 3)},
              "mlp": {h: seeds(48, 49, 50), z: seeds(30, 31, 33)}}
    random = {arm: {h: seeds(25, 26, 24)} for arm in values}
    v = {c["id"]: c["verdict"] for c in judge(s, values, random)["claims"]}
    assert v == {"head-helps": "supported", "nonlinear-beats-linear": "supported", "linear-beats-none": "supported",
                 "h-beats-z": "supported"}
    random["none"][h] = seeds(40, 42, 41)  # no head does not beat its random-init twin
    v = {c["id"]: c["verdict"] for c in judge(s, values, random)["claims"]}
    assert v["head-helps"] == v["linear-beats-none"] == "not testable" and v["h-beats-z"] == "supported"


def test_predictive_cmc_reduces_its_prediction_error():
    from mvssl.methods import CMC
    from mvssl.nn import build_backbone

    torch.manual_seed(0)
    method = CMC(lambda c: build_backbone("convnet", 4, in_channels=c), num_samples=64, channels="L,a,b",
                 objective="predictive", proj_hidden_dim=32, target_size=4)
    assert len(method.decoders) == 6  # full graph over 3 views, both directions
    x = torch.rand(32, 3, 12, 12) * 4 - 2
    opt = torch.optim.Adam(method.parameters(), 1e-2)
    losses = []
    for _ in range(30):
        loss = method([x]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(ValueError, match="method.objective"):
        CMC(lambda c: build_backbone("convnet", 4, in_channels=c), num_samples=64, objective="generative")


def _tiny(tmp_path, command, *extra):
    out = tmp_path / command
    argv = ["experiment", command, "--out", str(out), "--seeds", "2", "--steps", "10", "--width", "4",
            "--batch-size", "32", *extra]
    assert main(argv) == 0
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_tiny_augmentation_matrix_writes_results_plot_and_encoders(tmp_path):
    from mvssl import load

    out, res = _tiny(tmp_path, "simclr-augmentations", "--augmentations", "crop,color")
    assert res["complete"] and len(res["points"]) == 4 and (out / "arms.png").exists()
    assert {c["id"] for c in res["claims"]} == {"no-single-suffices"}  # one pair only: no pair claim
    cell = next(p for p in res["points"] if p["arm"] == "crop-color")
    assert len(cell["metrics"]["linear_top1_pct"]["per_seed"]) == 2
    assert load(out / cell["runs"][0]).embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, 32)


@pytest.mark.slow
def test_tiny_head_run(tmp_path):
    out, res = _tiny(tmp_path, "simclr-head")
    none = next(p for p in res["points"] if p["arm"] == "none")["metrics"]
    assert none["h_linear_top1_pct"]["per_seed"] == none["z_linear_top1_pct"]["per_seed"]  # z = h without a head
    assert len(res["claims"]) == 4 and (out / "study.yaml").exists() and res["study"]["file"] == "study.yaml"


@pytest.mark.slow
def test_cifar10_download_path_on_generated_files(tmp_path, monkeypatch):
    from tests.data.fakedata import trust_checksums, write_cifar

    write_cifar(tmp_path / "cifar", per_batch=40)
    trust_checksums(monkeypatch)
    # --jobs 1: the checksum patch lives in this process; spawned training workers would not see it
    out, res = _tiny(tmp_path, "simclr-augmentations", "--augmentations", "crop,color", "--dataset", "cifar10",
                     "--download", "--root", str(tmp_path / "cifar"), "--image-size", "16", "--jobs", "1")
    assert res["references"]["chance"]["linear_top1_pct"] == 10.0 and res["complete"]


def test_scale_study_interactions_and_verdicts():
    from mvssl.experiments import simclr_scale
    from mvssl.studies.judge import judge

    s = _declared(simclr_scale, "--batch-sizes", "128,32", "--epochs", "5,2")  # Colour Shapes: 2,000 images
    assert s.arms["supervised-b32-e2"].train == "mvssl.experiments.simclr_scale.train_supervised"
    assert s.arms["simclr-b128-e5"].overrides["trainer"]["max_steps"] == 5 * 2000 // 128
    c = {(32, 2): [40, 41, 42], (32, 5): [50, 50, 51], (128, 2): [42, 44, 43], (128, 5): [60, 62, 61]}
    u = {(32, 2): [70, 71, 72], (32, 5): [80, 80, 81], (128, 2): [75, 76, 76], (128, 5): [81, 81, 82]}
    m = "linear_top1_pct"
    values = {f"{learner}-b{b}-e{e}": {m: dict(enumerate(v))}
              for learner, acc in (("simclr", c), ("supervised", u)) for (b, e), v in acc.items()}
    random = {a: {m: {0: 20.0, 1: 21.0, 2: 19.5}} for a in values}
    out = {x["id"]: x for x in judge(s, values, random)["claims"]}
    assert {k: x["verdict"] for k, x in out.items()} == {"batch": "supported", "length": "supported",
                                                         "batch-helps": "supported"}
    assert out["batch"]["effect"] == pytest.approx((10 + 12 + 10) / 3 - (1 + 1 + 1) / 3)  # SimCLR gain - supervised
    values["supervised-b32-e5"][m] = {0: 99.5, 1: 99.6, 2: 99.4}  # a supervised arm at the top
    assert judge(s, values, random)["claims"][0]["verdict"] == "not testable"


@pytest.mark.parametrize("argv", [["--batch-sizes", "32,x"], ["--batch-sizes", "32"], ["--epochs", "0,2"]])
def test_scale_refuses_bad_lists_naming_the_option(tmp_path, capsys, argv):
    out = tmp_path / "scale"
    assert main(["experiment", "simclr-scale", *argv, "--out", str(out)]) == 2
    assert argv[0] in capsys.readouterr().err and not out.exists()


def test_scale_learning_rate_follows_the_batch():
    from mvssl.experiments import simclr_scale

    def lr(scaling):
        s = _declared(simclr_scale, "--batch-sizes", "64,256", "--lr-scaling", scaling)
        return s.arms["simclr-b64-e5"].overrides["optim"]["lr"], s.arms["supervised-b256-e5"].overrides["optim"]["lr"]

    assert lr("sqrt") == pytest.approx((2e-3, 4e-3)) and lr("linear") == pytest.approx((2e-3, 8e-3))
    assert lr("none") == (2e-3, 2e-3)


def test_scale_refuses_a_batch_larger_than_the_dataset(tmp_path, capsys):
    out = tmp_path / "scale"
    assert main(["experiment", "simclr-scale", "--batch-sizes", "64,4096", "--out", str(out)]) == 2
    assert "--batch-size" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_tiny_scale_run(tmp_path):
    out = tmp_path / "scale"
    assert main(["experiment", "simclr-scale", "--out", str(out), "--seeds", "2", "--width", "4",
                 "--batch-sizes", "64,128", "--epochs", "1,2"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert len(res["claims"]) == 3 and (out / "arms.png").exists()
    from mvssl import load

    sup = next(p for p in res["points"] if p["arm"] == "supervised-b128-e2")
    sim = next(p for p in res["points"] if p["arm"] == "simclr-b128-e2")
    for run in (sup["runs"][0], sim["runs"][0]):  # both learners train at the batch's scaled rate
        cfg = yaml.safe_load((out / run / "config.yaml").read_text())
        assert cfg["optim"]["lr"] == pytest.approx(2e-3 * (128 / 64) ** 0.5)
    assert load(out / sup["runs"][0]).embed(torch.zeros(1, 3, 16, 16, dtype=torch.uint8)).shape == (1, 32)

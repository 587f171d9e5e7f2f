"""The order a study starts its runs in, and which backbone of a run is read where the run's
encoder is meant: the study's z-probe (``measures.projections``) and a distill teacher built
from a training checkpoint (``build.build_teacher``), both I-JEPA's EMA target."""
import torch

from mvssl.build import resolve
from mvssl.studies.engine import _cost
from mvssl.studies.measures import Run, projections
from tests.methods.test_masked_methods_runs import SMALL, TINY


def test_a_run_that_leaves_the_batch_at_its_default_costs_the_default_batch():
    default_batch = resolve({})["optim"]["batch_size"]
    assert _cost({"trainer": {"max_steps": 10}}) == 5 * _cost({"trainer": {"max_steps": 2}, "optim": {
        "batch_size": default_batch}})
    # an arm naming a small batch is cheaper than one that keeps the (larger) default
    assert _cost({"trainer": {"max_steps": 10}, "optim": {"batch_size": 8}}) < _cost({"trainer": {"max_steps": 10}})


def test_a_vit_arm_starts_before_convnet_arms_of_the_same_steps():
    """methods --quick: the ViT arms (minutes each on a CPU) must not be left to the end."""
    convnet = {"trainer": {"max_steps": 20}, "backbone": {"width": 4}, "data": {"image_size": 16}}
    vit = {**convnet, "method": {"name": "mae"}, "backbone": {"name": "vit-mini"}}
    assert _cost(vit) > 10 * _cost(convnet)
    assert _cost({**convnet, "data": {"image_size": 24}}) > _cost(convnet)  # more pixels, more work


def test_the_z_probe_of_ijepa_reads_the_target_encoder_the_run_keeps(tmp_path):
    import mvssl
    from mvssl.build import load_method

    cfg = {**TINY, "method": {"name": "ijepa", **SMALL["ijepa"]},
           "trainer": {**TINY["trainer"], "out_dir": str(tmp_path), "name": "ijepa"}}
    run_dir, metrics = mvssl.fit(cfg, echo=lambda *_: None)
    images = torch.randint(0, 256, (6, 3, 24, 24), dtype=torch.uint8)
    run = Run(run_dir, resolve(cfg), metrics, seed=0)
    with torch.no_grad():
        z = projections(run, images)  # I-JEPA has no projector: z is h of the kept encoder
        kept = mvssl.load(run_dir).embed(images)
        method = load_method(run_dir)[1]
        context = method.backbone(mvssl.load(run_dir).preprocess(images)).float()
    assert torch.allclose(z, kept, atol=1e-5)
    assert not torch.allclose(context, kept, atol=1e-5)  # the context encoder has moved away from the EMA target


def test_a_distill_teacher_read_from_an_ijepa_checkpoint_is_the_encoder_the_run_keeps(tmp_path):
    import mvssl
    from mvssl.build import build_teacher

    cfg = {**TINY, "method": {"name": "ijepa", **SMALL["ijepa"]},
           "trainer": {**TINY["trainer"], "out_dir": str(tmp_path), "name": "ijepa"}}
    run_dir, _ = mvssl.fit(cfg, echo=lambda *_: None)
    student = resolve({"method": {"name": "distill", "teacher": str(run_dir / "checkpoints" / "last.ckpt")}})
    teacher, _ = build_teacher(student)
    kept = mvssl.load(run_dir).backbone.state_dict()
    assert teacher.net.state_dict().keys() == kept.keys()
    assert all(torch.equal(t, kept[k]) for k, t in teacher.net.state_dict().items())

"""Pieces of the engine around the measures: the order runs are started in, and which backbone
the z-probe (``measures.projections``) reads."""
import torch

from mvssl.build import resolve
from mvssl.studies.engine import _cost
from mvssl.studies.measures import Run, projections
from tests.methods.test_masked_methods_runs import SMALL, TINY


def test_a_run_that_leaves_the_batch_at_its_default_costs_the_default_batch():
    default_batch = resolve({})["optim"]["batch_size"]
    assert _cost({"trainer": {"max_steps": 10}}) == 10 * default_batch
    # an arm naming a small batch is cheaper than one that keeps the (larger) default
    assert _cost({"trainer": {"max_steps": 10}, "optim": {"batch_size": 8}}) < _cost({"trainer": {"max_steps": 10}})


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

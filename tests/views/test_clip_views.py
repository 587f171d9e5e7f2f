"""InfoMin's sequence setting: clip views (a moving-digit clip against one frame that shares
factors with the clip's next frame) and the clip-simclr method that trains on them."""
import pytest
import torch
import torch.nn.functional as F

from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.data import FACTORS
from mvssl.methods import ClipSimCLR
from mvssl.nn import build_backbone
from mvssl.views import ClipViews


def next_position(ds, clip):
    """Where the digit of each clip is one frame after its last, by the bounce rule written out
    per coordinate: step by the velocity, reflect off 0 and off the largest position."""
    span = ds.max_position
    out = []
    for b in range(len(clip[0].position)):
        row = []
        for axis in range(2):
            # replay the path with the velocity recovered from the unfolded start (frames 0, 1 may bounce)
            p0 = int(clip[0].position[b, axis])
            candidates = [d for d in (-3, -2, -1, 1, 2, 3)
                          if all(_reflect(p0 + t * d, span) == int(clip[t].position[b, axis]) for t in range(len(clip)))]
            assert candidates, "clip positions follow no constant-velocity bounce"
            row.append({_reflect(p0 + len(clip) * d, span) for d in candidates})
        out.append(row)
    return out


def _reflect(x: int, span: int) -> int:
    period = 2 * max(span, 1)
    x %= period
    return period - x if x > span else x


@pytest.mark.parametrize("shared", [("digit",), ("background",), ("position",), ("digit", "position")])
def test_second_view_shares_exactly_the_chosen_factors_with_the_next_frame(cmnist16, shared):
    g = torch.Generator().manual_seed(1)
    idx = torch.arange(300)
    clip, second = cmnist16.clip_pair(idx, shared, 4, g)
    assert len(clip) == 4
    for f in clip:  # one digit instance over one background crop, moving
        assert torch.equal(f.digit_index, idx)
        assert torch.equal(f.background_index, clip[0].background_index) and torch.equal(f.crop, clip[0].crop)
    # the digit moves (it can land where it was only when a bounce reflects it back)
    assert ((clip[1].position - clip[0].position).abs().sum(1) > 0).float().mean() > 0.9
    expected = next_position(cmnist16, clip)
    at_next = torch.tensor([[int(second.position[b, a]) in expected[b][a] for a in range(2)]
                            for b in range(len(idx))]).all(1)
    same = {"digit": second.digit_index == idx,
            "background": (second.background_index == clip[0].background_index) & (second.crop == clip[0].crop).all(1),
            "position": at_next}
    for factor in FACTORS:
        if factor in shared:
            assert same[factor].all(), factor
        else:
            assert same[factor].float().mean() < 0.3, factor


def test_clip_views_stack_frames_along_channels_and_target_the_single_frame(cmnist16):
    source = ClipViews(cmnist16, ["digit"], frames=3)
    views, targets = source(torch.arange(10), torch.Generator().manual_seed(0))
    assert views[0].shape == (10, 9, 16, 16) and views[1].shape == (10, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    clip, second = cmnist16.clip_pair(torch.arange(10), ["digit"], 3, g)
    assert torch.equal(targets["digit"], cmnist16.labels[second.digit_index])
    # channels 3t..3t+2 of view 1 are frame t of the clip, normalised like view 2
    frame1 = source.recipe(cmnist16.render(clip[1]), torch.Generator())[0]
    assert torch.allclose(views[0][:, 3:6], frame1)


def reference_clip_loss(method, clip, frame, temperature):
    """NT-Xent written out: 2n embeddings, each row's positive is its partner, the other 2n - 2 negatives."""
    n, k = len(frame), method.frames
    h_frames = [method.backbone(clip[:, 3 * t:3 * t + 3]) for t in range(k)]
    z1 = F.normalize(method.clip_head(torch.cat(h_frames, 1)), dim=1)
    z2 = F.normalize(method.frame_head(method.backbone(frame)), dim=1)
    z = torch.cat([z1, z2])
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        logits = torch.stack([z[i] @ z[j] / temperature for j in range(2 * n) if j != i])
        target = partner if partner < i else partner - 1
        total = total - torch.log_softmax(logits, 0)[target]
    return total / (2 * n)


def test_clip_simclr_loss_matches_a_written_out_nt_xent_and_trains_the_frame_encoder():
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", 4, True)
    method = ClipSimCLR(backbone, dim, frames=3, proj_hidden_dim=16, proj_dim=8, temperature=0.5).eval()
    clip, frame = torch.randn(5, 9, 12, 12), torch.randn(5, 3, 12, 12)
    out = method([clip, frame])
    # eval mode: BatchNorm uses running statistics, so frames encoded separately match the one pass
    assert torch.allclose(out.loss, reference_clip_loss(method, clip, frame, 0.5), atol=1e-5)
    assert out.features.shape == (5, dim)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.backbone.parameters() if p.requires_grad)
    with pytest.raises(ValueError, match="channels"):
        method([torch.randn(5, 6, 12, 12), frame])


def test_clip_views_and_method_go_together_in_the_config():
    cfg = resolve({"method": "clip-simclr", "views": {"name": "clip", "frames": 4}})
    assert cfg["views"]["frames"] == 4
    with pytest.raises(ConfigError, match="clip-simclr"):
        resolve({"views": {"name": "clip"}})
    with pytest.raises(ConfigError, match="clip-simclr"):
        resolve({"method": "clip-simclr"})
    with pytest.raises(ConfigError, match="views.frames"):
        resolve({"method": "clip-simclr", "views": {"name": "clip", "frames": 0}})

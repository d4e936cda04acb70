"""The refiner's training augmentations beyond mirror and rotation: body proportions, speed, lost joints."""

from __future__ import annotations

import pytest
import torch

from modeling_gcnrefine.data.augmentation import change_speed, drop_joints, scale_bones
from modeling_gcnrefine.skeleton import H36M, bone_lengths


def _batch(size=8, frames=31, seed=0):
    g = torch.Generator().manual_seed(seed)
    poses = torch.randn(size, frames, 17, 3, generator=g, dtype=torch.float64) * 0.2
    poses[..., 0, :] = 0.0  # root-relative
    return {"poses_3d": poses, "labels": poses + 0.01, "confidence": torch.rand(size, frames, 17, generator=g, dtype=torch.float64)}


def test_scale_bones_scales_each_bone_alike_in_every_frame_and_key():
    batch = _batch()
    out = scale_bones(batch, torch.Generator().manual_seed(1), std=0.1)
    before, after = bone_lengths(batch["poses_3d"].numpy()), bone_lengths(out["poses_3d"].numpy())
    ratio = after / before  # (B, T, bones)
    torch.testing.assert_close(torch.from_numpy(ratio), torch.from_numpy(ratio[:, :1]).expand_as(torch.from_numpy(ratio)))
    assert ratio.std() > 0.03  # actually random
    # Left/right partners share a factor: bones ending at a joint and at its mirror image.
    children = [c for c, p in enumerate(H36M.parents) if p >= 0]
    perm = H36M.flip_permutation
    mirrored = [children.index(perm[c]) for c in children]
    torch.testing.assert_close(torch.from_numpy(ratio), torch.from_numpy(ratio[..., mirrored]))
    # Directions are kept and the root stays; the target gets the same factors.
    label_ratio = bone_lengths(out["labels"].numpy()) / bone_lengths(batch["labels"].numpy())
    torch.testing.assert_close(torch.from_numpy(label_ratio), torch.from_numpy(ratio))
    assert torch.equal(out["poses_3d"][..., 0, :], batch["poses_3d"][..., 0, :])
    with pytest.raises(ValueError, match=r"std: expected .* got -1"):
        scale_bones(batch, torch.Generator(), std=-1)


def test_change_speed_resamples_about_the_centre():
    frames = 31
    t = torch.arange(frames, dtype=torch.float64)
    ramp = t.reshape(1, frames, 1, 1).expand(4, frames, 17, 3).clone()  # value = frame index
    out = change_speed({"poses_3d": ramp, "labels": ramp.clone()}, torch.Generator().manual_seed(0), speed_range=(0.8, 1.25))
    speeds = (out["poses_3d"][:, 16, 0, 0] - out["poses_3d"][:, 14, 0, 0]) / 2  # slope at the centre
    assert torch.all((speeds >= 0.8 - 1e-9) & (speeds <= 1.25 + 1e-9)) and speeds.std() > 0
    torch.testing.assert_close(out["poses_3d"][:, 15], ramp[:, 15])  # the centre frame stays
    torch.testing.assert_close(out["labels"], out["poses_3d"])
    assert out["poses_3d"].min() >= 0 and out["poses_3d"].max() <= frames - 1  # ends held, not extrapolated
    same = change_speed({"poses_3d": ramp}, torch.Generator(), keys=("poses_3d",), speed_range=(1.0, 1.0))
    torch.testing.assert_close(same["poses_3d"], ramp)
    with pytest.raises(ValueError, match=r"speed_range: expected 0 < low <= high, got \(2.0, 1.0\)"):
        change_speed({"poses_3d": ramp}, torch.Generator(), keys=("poses_3d",), speed_range=(2.0, 1.0))


def test_drop_joints_freezes_input_joints_and_zeroes_their_confidence():
    batch = _batch(size=64)
    out = drop_joints(batch, torch.Generator().manual_seed(0), probability=0.5, span_range=(5, 20))
    dropped = out["confidence"] == 0  # (B, T, J)
    assert torch.equal(out["labels"], batch["labels"])  # the target is untouched
    assert not dropped[..., 0].any()  # never the root
    per_sample = dropped.flatten(1).any(1)
    assert 16 < int(per_sample.sum()) < 48  # about half the samples
    joints = dropped.any(1)  # (B, J)
    assert int(joints.sum(1).max()) <= 4
    for b in torch.nonzero(per_sample).flatten()[:5]:
        for j in torch.nonzero(joints[b]).flatten():
            span = torch.nonzero(dropped[b, :, j]).flatten()
            assert 5 <= len(span) <= 20 and torch.equal(span, torch.arange(span[0], span[-1] + 1))
            values = out["poses_3d"][b, span, j]
            torch.testing.assert_close(values, values[:1].expand_as(values))  # frozen
    # Outside the dropped joints and spans nothing changes.
    keep = ~dropped[..., None].expand_as(batch["poses_3d"])
    assert torch.equal(out["poses_3d"][keep], batch["poses_3d"][keep])
    untouched = drop_joints({"poses_3d": batch["poses_3d"]}, torch.Generator(), probability=0.0)
    assert torch.equal(untouched["poses_3d"], batch["poses_3d"])


def test_augmentations_name_a_bad_batch():
    g = torch.Generator()
    with pytest.raises(ValueError, match=r"keys: 'labels' is not in the batch"):
        scale_bones({"poses_3d": torch.zeros(2, 3, 17, 3)}, g)
    with pytest.raises(ValueError, match=r"batch\['poses_3d'\]: expected shape \(B, \.\.\., 17, 3\), got \(2, 3, 16, 3\)"):
        drop_joints({"poses_3d": torch.zeros(2, 3, 16, 3)}, g)
    with pytest.raises(ValueError, match=r"batch\['labels'\]: expected leading \(B, T\) = \(2, 3\), got \(2, 4, 17, 3\)"):
        change_speed({"poses_3d": torch.zeros(2, 3, 17, 3), "labels": torch.zeros(2, 4, 17, 3)}, g)

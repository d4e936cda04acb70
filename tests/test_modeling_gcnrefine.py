"""The refiner as a transformers model: graph checksums, parameter count, forward, save/load, refine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import TINY_REFINER, walking_sequence
from safetensors import safe_open
from transformers import AutoConfig, AutoModel

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.graph import joint_graph
from modeling_gcnrefine.modeling_gcnrefine import build_joint_graph, build_part_graph
from modeling_gcnrefine.processing_gcnrefine import UnitsError, fill_missing
from modeling_gcnrefine.skeleton import (
    H36M_BONE_LENGTHS_METRES,
    H36M_JOINTS_LEFT,
    H36M_JOINTS_RIGHT,
    H36M_PARENTS,
    bone_lengths,
    flip_poses,
)

# MODEL.md checksums (reference normalisation).
JOINT_SUMS = {
    3: [10.692857, 9.195238, 9.992857, 7.333333, 6.892857, 6.892857],
    5: [16.878571, 14.585714, 15.778571, 11.6, 13.078571, 13.078571],
}
JOINT_NONZEROS_T3 = [51, 48, 48, 36, 34, 34]
PART_SUMS_T3 = [3.27619, 1.904762, 2.8, 2.8, 2.109524, 2.109524]


def make_model(seed: int = 0, **overrides) -> GCNRefineModel:
    """A small refiner with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = GCNRefineModel(GCNRefineConfig(**{**TINY_REFINER, **overrides}))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            poses = torch.randn(32, model.config.num_frames, 17, 3) * 0.3
            confidence = torch.rand(poses.shape[:-1]) if model.config.in_channels == 4 else None
            model(poses, confidence=confidence)
    return model.eval()




# ---------------------------------------------------------------- graph and size


@pytest.mark.parametrize("frames", [3, 5])
def test_joint_graph_checksums(frames):
    adjacency = build_joint_graph(GCNRefineConfig(num_frames=frames))
    assert adjacency.shape == (6, 17 * frames, 17 * frames)
    np.testing.assert_allclose(adjacency.sum(axis=(1, 2)), JOINT_SUMS[frames], atol=1e-5)
    # Every receiver averages over all of its neighbours.
    np.testing.assert_allclose(adjacency.sum(axis=(0, 1)), 1.0, atol=1e-6)
    if frames == 3:
        assert (adjacency != 0).sum(axis=(1, 2)).tolist() == JOINT_NONZEROS_T3


def test_part_graph_checksums():
    adjacency = build_part_graph(GCNRefineConfig(num_frames=3))
    assert adjacency.shape == (6, 15, 15)
    np.testing.assert_allclose(adjacency.sum(axis=(1, 2)), PART_SUMS_T3, atol=1e-5)


def test_symmetric_normalisation_is_the_papers_equation():
    binary = joint_graph(H36M_PARENTS, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT, 7, 3, "reference") > 0
    adjacency = joint_graph(H36M_PARENTS, H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT, 7, 3, "symmetric")
    assert ((adjacency > 0) == binary).all()
    # Self-loops and partner links are symmetric classes: D^-1/2 A D^-1/2 stays symmetric.
    np.testing.assert_allclose(adjacency[0], adjacency[0].T)
    np.testing.assert_allclose(adjacency[3], adjacency[3].T)
    # "farther" seen from one end is "closer" seen from the other.
    np.testing.assert_allclose(adjacency[1], adjacency[2].T)


@pytest.mark.parametrize("frames", [3, 5])
def test_reference_parameter_count(frames):
    model = GCNRefineModel(GCNRefineConfig(num_frames=frames))
    assert sum(p.numel() for p in model.parameters()) == 5_041_257


def test_model_buffers_are_the_config_graphs():
    model = GCNRefineModel(GCNRefineConfig(num_frames=5, **TINY_REFINER))
    np.testing.assert_array_equal(model.joint_graph.adjacency.numpy(), build_joint_graph(model.config))
    np.testing.assert_array_equal(model.part_graph.adjacency.numpy(), build_part_graph(model.config))


@pytest.mark.parametrize(
    ("field", "value", "quoted"),
    [
        ("num_frames", 0, "got 0"),
        ("in_channels", 5, "got 5"),
        ("adjacency_normalization", "cosine", "'cosine'"),
        ("unit_dropout", 1.5, "got 1.5"),
        ("joint_channels", [], "got []"),
        ("temporal_kernel_size", 2, "got 2"),
        ("velocity_joint_weights", [1.0], "got 1"),
    ],
)
def test_config_rejects_bad_values(field, value, quoted):
    with pytest.raises(ValueError, match=field) as error:
        GCNRefineConfig(**{field: value})
    assert quoted in str(error.value)


# ---------------------------------------------------------------- forward and losses


def test_forward_shapes_losses_and_gradients():
    model = make_model().train()
    poses = torch.randn(4, 3, 17, 3) * 0.2 + torch.tensor([0.0, 0.0, 4.0])
    labels = poses + 0.01 * torch.randn_like(poses)
    out = model(poses, labels=labels)
    assert out.refined.shape == (4, 3, 17, 3)
    assert torch.all(out.refined[:, :, 0] == 0)  # root-relative, root pinned
    for term in (out.loss, out.loss_mpjpe, out.loss_velocity, out.loss_symmetry):
        assert term.ndim == 0 and torch.isfinite(term)
    expected = out.loss_mpjpe + out.loss_velocity + out.loss_symmetry
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert "loss" not in model(poses).keys()


def test_symmetry_loss_is_zero_for_symmetric_bones_and_never_negative():
    model = make_model()
    pose = torch.zeros(17, 3)
    for joint, parent in enumerate(H36M_PARENTS):
        if parent >= 0:
            pose[joint] = pose[parent] + torch.tensor([0.0, 0.1, 0.0])
    windows = pose.expand(2, 3, 17, 3)
    assert model._symmetry_loss(windows) == 0
    assert model._symmetry_loss(torch.randn(2, 3, 17, 3)) > 0


def test_predict_residual_starts_near_identity():
    model = make_model(predict_residual=True)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    poses = torch.randn(2, 3, 17, 3) * 0.2
    relative = poses - poses[:, :, :1]
    torch.testing.assert_close(model(poses).refined, relative)


def test_confidence_channel():
    model = make_model(in_channels=4)
    poses = torch.randn(2, 3, 17, 3) * 0.2
    out = model(poses, confidence=torch.rand(2, 3, 17))
    assert out.refined.shape == (2, 3, 17, 3)
    with pytest.raises(ValueError, match="confidence"):
        model(poses)
    refined = model.refine(walking_sequence(10), confidence=np.ones((10, 17), np.float32))
    assert refined.shape == (10, 17, 3)


# ---------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path):
    model = make_model(num_frames=5)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    with safe_open(tmp_path / "model.safetensors", framework="pt") as f:
        keys = set(f.keys())
    assert not any("adjacency" in k for k in keys)  # constants are rebuilt, never saved
    assert "input_norm.running_mean" in keys
    loaded = GCNRefineModel.from_pretrained(tmp_path)
    # transformers builds on the meta device: the rebuilt buffers must equal the originals.
    assert torch.equal(loaded.joint_graph.adjacency, model.joint_graph.adjacency)
    assert torch.equal(loaded.part_graph.adjacency, model.part_graph.adjacency)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[k], loaded_state[k]) for k in state)
    poses = torch.randn(3, 5, 17, 3) * 0.2
    assert torch.equal(model(poses).refined, loaded(poses).refined)
    sequence = walking_sequence(40)
    np.testing.assert_array_equal(model.refine(sequence), loaded.refine(sequence))


def test_auto_classes_in_process(tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "gcnrefine"
    assert config["auto_map"] == {
        "AutoConfig": "configuration_gcnrefine.GCNRefineConfig",
        "AutoModel": "modeling_gcnrefine.GCNRefineModel",
    }
    assert isinstance(AutoConfig.from_pretrained(tmp_path), GCNRefineConfig)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, GCNRefineModel)


def test_trust_remote_code_in_a_fresh_process(tmp_path):
    model = make_model(num_frames=5)
    folder = tmp_path / "refiner"
    model.save_pretrained(folder)
    for name in ("configuration_gcnrefine.py", "modeling_gcnrefine.py", "graph.py", "skeleton.py"):
        assert (folder / name).exists(), name
    poses = torch.randn(2, 5, 17, 3) * 0.2
    torch.save({"poses": poses, "expected": model(poses).refined}, tmp_path / "io.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert "modeling_gcnrefine" not in sys.modules, "the installed package was imported"
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        io = torch.load({str(tmp_path / "io.pt")!r}, weights_only=True)
        assert torch.equal(model(io["poses"]).refined, io["expected"])
        print("OK")
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    # Run outside the repository so the package can only come from the saved folder.
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


# ---------------------------------------------------------------- refine


def manual_refine(model: GCNRefineModel, sequence: np.ndarray) -> np.ndarray:
    """Centred windows with edge replication, one forward per frame: the definition of `refine`."""
    frames, half = len(sequence), model.config.num_frames // 2
    root = sequence[:, :1]
    out = []
    with torch.no_grad():
        for t in range(frames):
            idx = np.clip(np.arange(t - half, t - half + model.config.num_frames), 0, frames - 1)
            window = torch.from_numpy(sequence[idx] - root[idx])[None]
            out.append(model(window).refined[0, half].numpy())
    return np.stack(out) + root


@pytest.mark.parametrize("length", [1, 2, 3, 17])
@pytest.mark.parametrize("frames", [3, 5])
def test_refine_matches_windowed_forward(length, frames):
    model = make_model(num_frames=frames)
    sequence = walking_sequence(length)
    refined = model.refine(sequence, batch_size=4)
    assert refined.shape == sequence.shape and refined.dtype == sequence.dtype
    np.testing.assert_allclose(refined, manual_refine(model, sequence), atol=1e-5)


def test_refine_keeps_root_trajectory_and_type():
    model = make_model()
    sequence = walking_sequence(50)
    refined = model.refine(sequence)
    np.testing.assert_allclose(refined[:, 0], sequence[:, 0], atol=1e-6)
    assert not np.allclose(refined, sequence, atol=1e-3)  # it did change the pose

    as_torch = model.refine(torch.from_numpy(sequence).double())
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float64
    np.testing.assert_allclose(as_torch.numpy(), refined, atol=1e-5)
    assert model.refine(sequence.astype(np.float64)).dtype == np.float64


def test_refine_batch_equals_single_and_is_chunk_invariant():
    model = make_model()
    batch = np.stack([walking_sequence(30, seed=s) for s in range(3)])
    together = model.refine(batch, batch_size=1000)
    assert together.shape == batch.shape
    for i in range(3):
        np.testing.assert_allclose(together[i], model.refine(batch[i], batch_size=7), atol=1e-5)


def test_refine_restores_training_mode():
    model = make_model().train()
    model.refine(walking_sequence(5))
    assert model.training


def test_refine_flip_test_is_flip_equivariant():
    model = make_model()
    sequence = walking_sequence(20)
    mirrored = flip_poses(sequence)
    refined = model.refine(sequence, flip_test=True)
    refined_mirrored = model.refine(mirrored, flip_test=True)
    np.testing.assert_allclose(refined_mirrored, flip_poses(refined), atol=1e-5)
    # Without flip test the untrained network is not equivariant: the test above is not vacuous.
    plain = model.refine(mirrored, flip_test=False)
    assert not np.allclose(plain, flip_poses(model.refine(sequence, flip_test=False)), atol=1e-4)


def test_refine_fills_missing_keypoints():
    model = make_model()
    sequence = walking_sequence(200)
    rng = np.random.default_rng(1)
    holes = sequence.copy()
    holes[rng.random(holes.shape[:2]) < 0.2] = np.nan  # 20 % of keypoints missing
    holes[:, 5] = np.nan  # one joint never seen
    refined = model.refine(holes)
    assert refined.shape == holes.shape and np.isfinite(refined).all()


def test_fill_missing_interpolates_linearly_and_holds_ends():
    poses = np.zeros((1, 5, 17, 3))
    poses[0, :, :, 0] = np.arange(5)[:, None]
    poses[0, [0, 2], 3] = np.nan
    filled = fill_missing(poses, H36M_PARENTS)
    np.testing.assert_allclose(filled[0, :, 3, 0], [1, 1, 2, 3, 4])


def test_refine_long_sequence_bounded_memory():
    model = make_model()
    sequence = walking_sequence(100_000)
    refined = model.refine(sequence, batch_size=4096)
    assert refined.shape == (100_000, 17, 3) and np.isfinite(refined).all()
    np.testing.assert_allclose(refined[:, 0], sequence[:, 0], atol=1e-5)


@pytest.mark.parametrize(
    ("poses", "message"),
    [
        (np.zeros((10, 16, 3), np.float32), "17 joints"),
        (np.zeros((10, 17, 2), np.float32), "3 coordinates"),
        (np.zeros((10, 17, 3), np.int64), "floating-point"),
        (np.zeros((17, 3), np.float32), "shape"),
        (np.full((10, 17, 3), np.nan, np.float32), "all-NaN"),
        (walking_sequence(10) * 1000, "millimetres"),
        ([[0.0] * 3] * 17, "numpy array or torch tensor"),
    ],
)
def test_refine_rejects_bad_input(poses, message):
    model = make_model()
    with pytest.raises(ValueError, match="poses") as error:
        model.refine(poses)
    assert message in str(error.value)


def test_refine_rejects_integer_tensor():
    with pytest.raises(ValueError, match="poses: expected a floating-point tensor"):
        make_model().refine(torch.zeros(4, 17, 3, dtype=torch.int32))


def test_refine_torch_output_is_an_ordinary_tensor():
    model = make_model()
    refined = model.refine(torch.from_numpy(walking_sequence(20)))
    assert not refined.is_inference() and not refined.requires_grad
    weight = torch.ones(3, requires_grad=True)
    (refined * weight).sum().backward()  # an inference tensor cannot be saved for backward
    np.testing.assert_allclose(weight.grad.numpy(), refined.sum(dim=(0, 1)).numpy(), rtol=1e-6)
    before = refined.clone()
    refined.add_(1.0)  # an inference tensor cannot be updated in place outside inference mode
    torch.testing.assert_close(refined, before + 1.0)


def test_refine_reads_t_1_v_3_as_one_persons_sequence():
    model = make_model()
    sequence = walking_sequence(30)
    expected = model.refine(sequence)
    videopose3d = model.refine(sequence[:, None])  # VideoPose3D's (T, 1, 17, 3)
    assert videopose3d.shape == (30, 1, 17, 3) and videopose3d.dtype == sequence.dtype
    np.testing.assert_allclose(videopose3d[:, 0], expected, atol=1e-6)
    # Read as 30 one-frame sequences it would differ: the temporal windows would see one frame each.
    one_frame_each = np.stack([model.refine(sequence[t : t + 1])[0] for t in range(30)])
    assert not np.allclose(videopose3d[:, 0], one_frame_each, atol=1e-4)
    as_torch = model.refine(torch.from_numpy(sequence[:, None]))
    assert tuple(as_torch.shape) == (30, 1, 17, 3)
    np.testing.assert_allclose(as_torch.numpy()[:, 0], expected, atol=1e-6)
    # (B, T, 17, 3) batches stay batches.
    batch = np.stack([walking_sequence(30, seed=s) for s in range(2)])
    np.testing.assert_allclose(model.refine(batch)[1], model.refine(batch[1]), atol=1e-5)


def test_refine_t_1_v_3_with_confidence():
    model = make_model(in_channels=4)
    sequence = walking_sequence(10)
    confidence = np.linspace(0.2, 1.0, 10 * 17, dtype=np.float32).reshape(10, 17)
    expected = model.refine(sequence, confidence=confidence)
    for conf in (confidence[:, None], confidence):  # poses.shape[:-1], or (T, V)
        np.testing.assert_allclose(model.refine(sequence[:, None], confidence=conf)[:, 0], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"confidence: expected shape \(10, 1, 17\)"):
        model.refine(sequence[:, None], confidence=confidence[:5])


def median_bone(poses: np.ndarray) -> float:
    return float(np.median(bone_lengths(poses)))


@pytest.mark.parametrize(
    ("scale", "advice"),
    [
        (1000, "looks like millimetres (~1000x metres): divide by 1000"),
        (100, "looks like centimetres (~100x metres): divide by 100"),
        (5, "divide by ~"),  # a 5x-scaled skeleton is nobody's
        (0.1, "multiply by ~"),  # centimetres divided by 1000 instead of 100
    ],
)
def test_refine_refuses_poses_whose_bones_are_not_a_persons_in_metres(scale, advice):
    sequence = walking_sequence(10) * scale
    with pytest.raises(ValueError, match=r"poses: expected metres, a median bone length in \[0\.05, 0\.6\] m") as error:
        make_model().refine(sequence)
    assert isinstance(error.value, UnitsError)  # its own type: a caller can tell it from other bad input
    message = str(error.value)
    assert f"got median bone length {median_bone(sequence):.4g}" in message
    assert advice in message


@pytest.mark.parametrize("scale", [0.35, 2.8])
def test_refine_warns_about_an_unusual_but_possible_scale(scale):
    sequence = walking_sequence(10) * scale
    assert 0.05 < median_bone(sequence) < 0.1 or 0.45 < median_bone(sequence) < 0.6
    with pytest.warns(UserWarning, match="outside a person's usual 0.1-0.45 m") as record:
        refined = make_model().refine(sequence)
    assert refined.shape == sequence.shape
    assert record[0].filename == __file__  # blames the caller of refine, not the package


def test_unit_check_ignores_placed_joints():
    # Millimetres with most joints never observed: placed bones (metres) must not make it pass.
    sequence = walking_sequence(10) * 1000
    sequence[:, 3:] = np.nan
    with pytest.raises(ValueError, match="millimetres"):
        make_model().refine(sequence)


def test_fill_missing_takes_a_nan_coordinate_from_its_own_timeline():
    sequence = walking_sequence(20)
    holes = sequence.copy()
    holes[7, 3, 1] = np.nan  # one y coordinate of the right ankle
    filled = fill_missing(holes[None], H36M_PARENTS)[0]
    np.testing.assert_allclose(filled[7, 3, 1], (sequence[6, 3, 1] + sequence[8, 3, 1]) / 2)
    assert abs(filled[7, 3, 1] - sequence[7, 3, 1]) < 0.01  # before: the sequence mean, 0.8 m off
    np.testing.assert_array_equal(np.delete(filled.ravel(), 7 * 51 + 3 * 3 + 1), np.delete(sequence.ravel(), 7 * 51 + 3 * 3 + 1))


def test_fill_missing_places_a_never_observed_joint_by_the_skeleton():
    sequence = walking_sequence(20).astype(np.float64)
    holes = sequence.copy()
    holes[:, 5] = np.nan  # left knee, never seen
    with pytest.warns(UserWarning, match=r"placed by the skeleton.*sequence 0: left_knee$"):
        filled = fill_missing(holes[None], H36M_PARENTS)[0]
    hip, pelvis = sequence[:, 4], sequence[:, 0]
    thigh_direction = (hip - pelvis) / np.linalg.norm(hip - pelvis, axis=-1, keepdims=True)
    np.testing.assert_allclose(filled[:, 5], hip + H36M_BONE_LENGTHS_METRES[5] * thigh_direction)
    np.testing.assert_allclose(np.linalg.norm(filled[:, 5] - filled[:, 4], axis=-1), 0.439)  # before: 0.01 m
    np.testing.assert_array_equal(np.delete(filled, 5, axis=1), np.delete(sequence, 5, axis=1))


def test_fill_missing_places_children_of_the_root_and_the_root():
    sequence = walking_sequence(5).astype(np.float64)
    holes = sequence.copy()
    holes[:, 1] = np.nan  # right hip: no grandparent, so away from its mirror partner, the left hip
    with pytest.warns(UserWarning, match="right_hip"):
        filled = fill_missing(holes[None], H36M_PARENTS)[0]
    away = sequence[:, 0] - sequence[:, 4]
    np.testing.assert_allclose(
        filled[:, 1], sequence[:, 0] + 0.107 * away / np.linalg.norm(away, axis=-1, keepdims=True)
    )
    holes = sequence.copy()
    holes[:, 0] = np.nan  # the pelvis: between the hips
    with pytest.warns(UserWarning, match="pelvis"):
        filled = fill_missing(holes[None], H36M_PARENTS)[0]
    np.testing.assert_allclose(filled[:, 0], (sequence[:, 1] + sequence[:, 4]) / 2)


def test_refine_warns_naming_never_observed_joints_and_blames_the_caller():
    sequence = walking_sequence(30)
    sequence[:, [12, 13]] = np.nan  # left elbow and wrist
    with pytest.warns(UserWarning, match="sequence 0: left_elbow, left_wrist") as record:
        refined = make_model().refine(sequence)
    assert np.isfinite(refined).all() and record[0].filename == __file__


def test_refine_refuses_a_coordinate_never_observed_in_a_sequence():
    sequence = walking_sequence(10)
    sequence[..., 1] = np.nan  # no y anywhere: nothing to fill it from
    with pytest.raises(ValueError, match=r"poses: expected every coordinate observed .* got y NaN everywhere in sequence 0"):
        make_model().refine(sequence)


@pytest.mark.parametrize("name", ["flip_test", "progress"])
@pytest.mark.parametrize("value", ["no", "False", 0, 1, 1.0])
def test_refine_refuses_non_boolean_switches(name, value):
    with pytest.raises(ValueError, match=f"{name}: expected True or False .*, got {value!r}"):
        make_model().refine(walking_sequence(5), **{name: value})


def test_refine_accepts_numpy_booleans_for_flip_test():
    model = make_model()
    sequence = walking_sequence(5)
    np.testing.assert_array_equal(model.refine(sequence, flip_test=np.bool_(True)), model.refine(sequence, flip_test=True))
    np.testing.assert_array_equal(model.refine(sequence, flip_test=np.False_), model.refine(sequence, flip_test=False))


@pytest.mark.parametrize(
    ("frames", "batch_size", "progress", "shown"),
    [
        (42, 2, None, True),  # 21 batches: auto shows it
        (40, 2, None, False),  # 20 batches: auto hides it
        (40, 2, False, False),
        (10, 1000, True, True),
    ],
)
def test_refine_progress_bar(capsys, frames, batch_size, progress, shown):
    model = make_model()
    capsys.readouterr()
    model.refine(walking_sequence(frames), batch_size=batch_size, progress=progress)
    err = capsys.readouterr().err
    assert ("refine" in err) == shown
    if shown:
        batches = -(-frames // batch_size)
        assert f"{batches}/{batches}" in err

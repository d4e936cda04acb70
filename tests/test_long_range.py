"""The "long_range" architecture: presets, any-length sequence-to-sequence forward, causal mode,
chunked refinement (`chunk_plan`), the optional confidence, save/load and config validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import walking_sequence

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.configuration_gcnrefine import REFINER_PRESETS
from modeling_gcnrefine.processing_gcnrefine import chunk_plan
from modeling_gcnrefine.skeleton import flip_poses

# A tiny long-range refiner (receptive field 1 + 2 * (1 + 3) = 9), fast on a CPU.
TINY_LONG_RANGE = dict(
    architecture="long_range",
    spatial_channels=[8, 8],
    temporal_channels=16,
    temporal_dilations=[1, 3],
    temporal_joint_channels=4,
    num_frames=15,
)
# The default dilations (receptive field 81) at tiny widths: chunking is tested at full reach.
TINY_RF81 = {**TINY_LONG_RANGE, "temporal_dilations": [1, 3, 9, 27]}


def make_long_range(seed: int = 0, **overrides) -> GCNRefineModel:
    """A tiny long-range refiner with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = GCNRefineModel(GCNRefineConfig(**{**TINY_LONG_RANGE, **overrides}))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            poses = torch.randn(8, 40, 17, 3) * 0.3
            confidence = torch.rand(poses.shape[:-1]) if model.config.in_channels == 4 else None
            model(poses, confidence=confidence)
    return model.eval()




# ---------------------------------------------------------------- presets


def test_paper_preset_is_the_default_network():
    assert GCNRefineConfig.paper().to_dict() == GCNRefineConfig().to_dict()
    assert GCNRefineConfig.preset("paper").architecture == "paper"
    model = GCNRefineModel(GCNRefineConfig.paper())
    assert sum(p.numel() for p in model.parameters()) == 5_041_257
    assert model.window_linear is None and not hasattr(model, "temporal_blocks")


def test_long_range_preset():
    config = GCNRefineConfig.long_range()
    assert config.architecture == "long_range" and config.in_channels == 4 and config.predict_residual
    assert config.receptive_field == 81 and config.temporal_context == (40, 40)
    assert config.resolved_chunk_overlap == 80 and not config.confidence_required
    assert GCNRefineConfig.preset("long_range", causal=True).temporal_context == (80, 0)
    assert GCNRefineConfig.long_range(num_frames=9).num_frames == 9  # overrides on top
    assert set(REFINER_PRESETS) == {"paper", "long_range"}
    with pytest.raises(ValueError, match=r"name: expected one of \['paper', 'long_range'\], got 'huge'"):
        GCNRefineConfig.preset("huge")
    model = GCNRefineModel(config)
    assert model.window_linear is None and model.confidence_input is not None


@pytest.mark.parametrize(
    ("overrides", "field", "quoted"),
    [
        ({"architecture": "x"}, "architecture", "'x'"),
        ({"causal": True}, "causal", "got True"),  # with architecture="paper"
        ({**TINY_LONG_RANGE, "chunk_length": 50, "chunk_overlap": 50}, "chunk_length", "got 50"),
        ({**TINY_LONG_RANGE, "chunk_length": 8}, "chunk_length", "= 8, got 8"),  # None: receptive_field - 1 = 8
        ({**TINY_LONG_RANGE, "window_linear": True, "causal": True}, "window_linear", "got True"),
        ({**TINY_LONG_RANGE, "window_linear_frames": 4}, "window_linear_frames", "got 4"),
        ({**TINY_LONG_RANGE, "temporal_dilations": []}, "temporal_dilations", "got []"),
        ({**TINY_LONG_RANGE, "spatial_channels": [8, 0]}, "spatial_channels", "got [8, 0]"),
        ({**TINY_LONG_RANGE, "confidence_dropout": 1.0}, "confidence_dropout", "got 1.0"),
        ({**TINY_LONG_RANGE, "chunk_overlap": -1}, "chunk_overlap", "got -1"),
        ({**TINY_LONG_RANGE, "temporal_channels": 0}, "temporal_channels", "got 0"),
    ],
)
def test_config_rejects_bad_long_range_values(overrides, field, quoted):
    with pytest.raises(ValueError, match=rf"^{field}: expected") as error:
        GCNRefineConfig(**overrides)
    assert quoted in str(error.value)


def test_window_linear_refusal_says_why():
    with pytest.raises(ValueError, match=r"window_linear: expected False with causal=True") as error:
        GCNRefineConfig(architecture="long_range", window_linear=True, causal=True)
    assert "got True" in str(error.value) and "centred" in str(error.value)


def test_long_range_window_linear_is_a_sliding_ridge_map():
    """The long-range window map: zero until set; set, each frame gets the ridge correction of its own
    neighbourhood (edges repeated) on top of the network, and chunked refinement still equals one pass."""
    from modeling_gcnrefine.evaluation.ridge import RidgeRefiner

    config = GCNRefineConfig(**TINY_LONG_RANGE, window_linear=True, window_linear_frames=5, predict_residual=True)
    model = GCNRefineModel(config).eval()
    plain = GCNRefineModel(GCNRefineConfig(**TINY_LONG_RANGE, predict_residual=True)).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    assert model.window_linear.weight.shape == (51, 51, 5) and not model.window_linear.weight.any()
    poses = torch.randn(2, 40, 17, 3, generator=torch.Generator().manual_seed(0)) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(model(poses).refined, plain(poses).refined)
        weights = torch.randn(5 * 51 + 1, 51, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1e-2
        model.window_linear.weight.copy_(weights[:-1].reshape(5, 51, 51).permute(2, 1, 0))
        model.window_linear.bias.copy_(weights[-1])
        ridge = RidgeRefiner(weights.numpy(), 5, 1.0, {})
        expected = torch.stack([torch.from_numpy(ridge.refine(p.numpy().astype(np.float64))) for p in poses])
        extra = model(poses).refined - plain(poses).refined  # the map's share: ridge minus its residual input
        root = poses - poses[:, :, :1]
        torch.testing.assert_close(extra[..., 1:, :], (expected - root.double()).float()[..., 1:, :], atol=1e-5, rtol=1e-4)
    long = np.random.default_rng(2).normal(scale=0.2, size=(300, 17, 3)).astype(np.float32)
    chunked = GCNRefineModel(GCNRefineConfig(**{**config.to_diff_dict(), "chunk_length": 64}))
    chunked.load_state_dict(model.state_dict())
    np.testing.assert_allclose(chunked.eval().refine(long), model.refine(long), atol=1e-5)


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("frames", [1, 7, 200])
def test_forward_refines_every_frame_of_any_length(frames):
    model = make_long_range()
    poses = torch.randn(2, frames, 17, 3) * 0.2 + torch.tensor([0.0, 0.0, 4.0])
    with torch.no_grad():
        refined = model(poses).refined
    assert refined.shape == (2, frames, 17, 3) and torch.isfinite(refined).all()
    assert torch.all(refined[:, :, 0] == 0)  # root-relative, root pinned


def test_paper_forward_still_demands_its_window():
    model = GCNRefineModel(GCNRefineConfig(num_frames=3, joint_channels=[8, 8, 16], part_channels=[16, 16],
                                           fusion_channels=8, non_local_channels=8))  # fmt: skip
    with pytest.raises(ValueError, match=r"poses_3d: expected windows of T = num_frames = 3") as error:
        model(torch.zeros(1, 4, 17, 3))
    assert "got (1, 4, 17, 3)" in str(error.value)
    with pytest.raises(ValueError, match=r"poses_3d: expected at least one frame"):
        make_long_range()(torch.zeros(1, 0, 17, 3))


@pytest.mark.parametrize("frames", [1, 2, 15, 121])
def test_losses_over_all_frames_of_any_length(frames):
    model = make_long_range(in_channels=4, confidence_dropout=0.25).train()
    poses = torch.randn(3, frames, 17, 3) * 0.2
    labels = poses + 0.01 * torch.randn_like(poses)
    out = model(poses, labels=labels, confidence=torch.rand(3, frames, 17))
    for term in (out.loss, out.loss_mpjpe, out.loss_velocity, out.loss_symmetry):
        assert term.ndim == 0 and torch.isfinite(term)
    torch.testing.assert_close(out.loss, out.loss_mpjpe + out.loss_velocity + out.loss_symmetry)
    if frames == 1:
        assert out.loss_velocity == 0
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_causal_outputs_never_depend_on_later_frames():
    causal = make_long_range(causal=True)
    centred = make_long_range()
    poses = torch.randn(2, 60, 17, 3) * 0.2
    later = poses.clone()
    t = 30
    later[:, t + 1 :] += torch.randn_like(later[:, t + 1 :]) * 0.3
    with torch.no_grad():
        before, after = causal(poses).refined, causal(later).refined
        assert torch.equal(before[:, : t + 1], after[:, : t + 1])  # exactly, not approximately
        assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])
        # The centred model does look ahead: up to its future context (4 frames) before t + 1.
        plain, moved = centred(poses).refined, centred(later).refined
        assert torch.equal(plain[:, : t + 1 - 4], moved[:, : t + 1 - 4])
        assert not torch.allclose(plain[:, t + 1 - 4 : t + 1], moved[:, t + 1 - 4 : t + 1])


def test_predict_residual_starts_as_the_identity():
    model = make_long_range(predict_residual=True)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.zero_()
    poses = torch.randn(2, 20, 17, 3) * 0.2
    torch.testing.assert_close(model(poses).refined, poses - poses[:, :, :1])
    sequence = walking_sequence(50)
    np.testing.assert_allclose(model.refine(sequence), sequence, atol=1e-6)


# ---------------------------------------------------------------- chunk plan


@pytest.mark.parametrize(
    ("length", "chunk", "overlap", "context"),
    [(500, 100, 80, (40, 40)), (500, 100, 20, (40, 40)), (37, 10, 6, (3, 3)), (50, 10, 9, (8, 0)),
     (100, 100, 0, (5, 5)), (7, 100, 80, (40, 40)), (1, 5, 0, (0, 0)), (30, 10, 0, (2, 2)), (300, 100, 90, (40, 40))],
)  # fmt: skip
def test_chunk_plan_covers_every_frame_once_in_weight(length, chunk, overlap, context):
    chunks, weights = chunk_plan(length, chunk, overlap, context)
    size = min(chunk, length)
    assert chunks.dtype == np.int64 and weights.shape == (len(chunks), size)
    assert chunks[0, 0] == 0 and chunks[-1, 1] == length and (np.diff(chunks, axis=1) == size).all()
    assert (np.diff(chunks[:, 0]) > 0).all()
    total = np.zeros(length)
    for (start, stop), w in zip(chunks, weights):
        total[start:stop] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert (weights >= 0).all()
    past, future = context
    if overlap >= past + future:  # every weighted frame saw its whole context (or the sequence's end)
        for (start, stop), w in zip(chunks, weights):
            used = np.flatnonzero(w > 0) + start
            if start > 0:
                assert used.min() >= start + past
            if stop < length:
                assert used.max() <= stop - 1 - future


def test_chunk_plan_discards_context_and_cross_fades():
    chunks, weights = chunk_plan(30, 20, 10, (3, 5))
    assert chunks.tolist() == [[0, 20], [10, 30]]
    first, second = weights
    # Overlap [10, 20): the second chunk's first 3 frames and the first's last 5 are discarded.
    assert (second[:3] == 0).all() and (first[15:] == 0).all()
    fade = first[13:15]  # frames 13, 14: cross-faded, both chunks strictly in (0, 1), decreasing
    assert ((0 < fade) & (fade < 1)).all() and fade[0] > fade[1]
    assert (first[:10] == 1).all() and (second[10:] == 1).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(length=0), "length: expected an integer >= 1, got 0"),
        (dict(chunk_length=0), "chunk_length: expected an integer >= 1, got 0"),
        (dict(overlap=10), "overlap: expected fewer frames than chunk_length = 10, got 10"),
        (dict(overlap=-1), "overlap: expected an integer >= 0, got -1"),
        (dict(context=(1,)), "context: expected (past, future), got (1,)"),
        (dict(context=(1, -2)), "context[1]: expected an integer >= 0, got -2"),
    ],
)
def test_chunk_plan_rejects_bad_arguments(kwargs, message):
    arguments = {"length": 20, "chunk_length": 10, "overlap": 4, "context": (2, 2), **kwargs}
    with pytest.raises(ValueError) as error:
        chunk_plan(**arguments)
    assert str(error.value) == message


# ---------------------------------------------------------------- refine


def _with(model: GCNRefineModel, **config) -> GCNRefineModel:
    for key, value in config.items():
        setattr(model.config, key, value)
    return model


@pytest.mark.parametrize("causal", [False, True])
def test_chunked_refine_equals_one_pass(causal):
    model = make_long_range(**TINY_RF81, causal=causal)
    sequence = walking_sequence(500)
    one_pass = _with(model, chunk_length=1024).refine(sequence)
    with torch.no_grad():  # one pass is one forward over the whole sequence
        relative = torch.from_numpy(sequence - sequence[:, :1])[None]
        direct = model(relative).refined[0].numpy() + sequence[:, :1]
    np.testing.assert_allclose(one_pass, direct, atol=1e-5)
    chunked = _with(model, chunk_length=100).refine(sequence, batch_size=250)  # 2 chunks per pass
    assert model.config.resolved_chunk_overlap == 80
    np.testing.assert_allclose(chunked, one_pass, atol=1e-5)
    # A smaller overlap still runs and stays close (not equal: some frames lack part of their context).
    small = _with(model, chunk_length=100, chunk_overlap=20).refine(sequence)
    assert small.shape == sequence.shape and np.isfinite(small).all()
    gap = np.linalg.norm(small - one_pass, axis=-1)
    assert gap.max() > 1e-6 and gap.mean() < 0.01, (gap.max(), gap.mean())


def test_chunked_refine_with_flip_test_batches_and_confidence():
    model = make_long_range(**TINY_RF81, in_channels=4)
    batch = np.stack([walking_sequence(300, seed=s) for s in range(3)])
    confidence = np.random.default_rng(0).uniform(0.2, 1.0, batch.shape[:-1]).astype(np.float32)
    one_pass = _with(model, chunk_length=1024).refine(batch, confidence=confidence, flip_test=True)
    chunked = _with(model, chunk_length=120).refine(batch, confidence=confidence, flip_test=True, batch_size=1)
    np.testing.assert_allclose(chunked, one_pass, atol=1e-5)
    for i in range(3):
        single = model.refine(batch[i], confidence=confidence[i], flip_test=True)
        np.testing.assert_allclose(single, chunked[i], atol=1e-5)


@pytest.mark.parametrize("length", [1, 2, 5, 9, 40])
def test_refine_any_length_keeps_the_root_and_type(length):
    model = make_long_range()
    sequence = walking_sequence(length)
    refined = model.refine(sequence)
    assert refined.shape == sequence.shape and refined.dtype == sequence.dtype and np.isfinite(refined).all()
    np.testing.assert_allclose(refined[:, 0], sequence[:, 0], atol=1e-6)  # the root trajectory is kept
    assert not np.allclose(refined, sequence, atol=1e-3)
    as_torch = model.refine(torch.from_numpy(sequence).double())
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float64
    np.testing.assert_allclose(as_torch.numpy(), refined, atol=1e-5)
    np.testing.assert_allclose(model.refine(sequence[:, None])[:, 0], refined, atol=1e-6)  # (T, 1, V, 3)


def test_refine_fills_missing_keypoints_and_restores_training_mode():
    model = make_long_range().train()
    sequence = walking_sequence(200)
    holes = sequence.copy()
    holes[np.random.default_rng(1).random(holes.shape[:2]) < 0.2] = np.nan
    holes[:, 5] = np.nan  # one joint never seen
    with pytest.warns(UserWarning, match="placed by the skeleton"):
        refined = model.refine(holes)
    assert refined.shape == holes.shape and np.isfinite(refined).all()
    assert model.training


def test_refine_flip_test_is_flip_equivariant():
    model = _with(make_long_range(), chunk_length=40)  # chunked as well
    sequence = walking_sequence(100)
    refined = model.refine(sequence, flip_test=True)
    np.testing.assert_allclose(model.refine(flip_poses(sequence), flip_test=True), flip_poses(refined), atol=1e-5)


def test_refine_progress_bar(capsys):
    model = _with(make_long_range(), chunk_length=20)
    model.refine(walking_sequence(100), progress=True, batch_size=20)
    assert "refine" in capsys.readouterr().err
    model.refine(walking_sequence(100), progress=False, batch_size=20)
    assert "refine" not in capsys.readouterr().err


def test_refine_memory_is_bounded_for_long_sequences():
    model = _with(make_long_range(), chunk_length=4096)
    sequence = walking_sequence(50_000)
    refined = model.refine(sequence, batch_size=8192)
    assert refined.shape == sequence.shape and np.isfinite(refined).all()
    np.testing.assert_allclose(refined[:, 0], sequence[:, 0], atol=1e-5)


# ---------------------------------------------------------------- confidence


def test_confidence_is_optional():
    model = make_long_range(in_channels=4)
    with torch.no_grad():
        model.confidence_input.missing.fill_(0.3)  # a learned stand-in unlike the given values
    sequence = walking_sequence(60)
    confidence = np.random.default_rng(0).uniform(0.5, 1.0, (60, 17)).astype(np.float32)
    without = model.refine(sequence)
    given = model.refine(sequence, confidence=confidence)
    assert np.isfinite(without).all() and np.isfinite(given).all()
    assert not np.allclose(without, given, atol=1e-5)
    # NaN entries are withheld too: all-NaN is the same as None.
    np.testing.assert_array_equal(model.refine(sequence, confidence=np.full((60, 17), np.nan, np.float32)), without)
    poses = torch.randn(2, 30, 17, 3) * 0.2
    with torch.no_grad():
        a = model(poses).refined
        b = model(poses, confidence=torch.rand(2, 30, 17)).refined
    assert not torch.allclose(a, b)
    # In training mode with confidence_dropout = 0 nothing is withheld.
    features = model.confidence_input.train()(torch.ones(4, 3, 17), poses[:, :3].repeat(2, 1, 1, 1))
    assert (features[..., 1] == 1).all()


def test_confidence_dropout_withholds_whole_sequences_in_training_only():
    model = make_long_range(in_channels=4, confidence_dropout=0.5)
    layer = model.confidence_input
    confidence = torch.rand(64, 10, 17) * 0.5
    like = torch.zeros(64, 10, 17, 3)
    torch.manual_seed(0)
    features = layer.train()(confidence, like)  # (B, T, V, 2): value, given
    given = features[..., 1]
    per_sequence = given.flatten(1)
    assert ((per_sequence == 0).all(dim=1) | (per_sequence == 1).all(dim=1)).all()  # whole sequences
    withheld = (per_sequence == 0).all(dim=1)
    assert 10 < withheld.sum() < 54
    torch.testing.assert_close(features[withheld][..., 0], layer.missing.expand(int(withheld.sum()), 10, 17))
    torch.testing.assert_close(features[~withheld][..., 0], confidence[~withheld])
    assert (layer.eval()(confidence, like)[..., 1] == 1).all()  # eval: never withheld
    # Through forward: train-mode outputs differ between seeds where the drawn sequences differ.
    model.train()
    poses = torch.randn(64, 10, 17, 3) * 0.2
    torch.manual_seed(1)
    first = model(poses, confidence=confidence).refined
    torch.manual_seed(1)
    again = model(poses, confidence=confidence).refined
    torch.testing.assert_close(first, again)


def test_bad_confidence_shape_is_refused():
    model = make_long_range(in_channels=4)
    with pytest.raises(ValueError, match=r"confidence: expected shape \(2, 30, 17\) or None, got \(2, 30\)"):
        model(torch.zeros(2, 30, 17, 3), confidence=torch.ones(2, 30))
    with pytest.raises(ValueError, match=r"confidence: expected shape \(30, 17\)"):
        model.refine(walking_sequence(30), confidence=np.ones((29, 17), np.float32))


# ---------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path):
    model = make_long_range(in_channels=4, causal=True)
    with torch.no_grad():
        model.confidence_input.missing.fill_(0.7)
    model.save_pretrained(tmp_path)
    loaded = GCNRefineModel.from_pretrained(tmp_path)
    assert loaded.config.architecture == "long_range" and loaded.config.causal
    assert torch.equal(loaded.frame_graph.adjacency, model.frame_graph.adjacency)  # rebuilt from the config
    assert loaded.frame_graph.adjacency.shape == (4, 17, 17)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys() and all(torch.equal(state[k], loaded_state[k]) for k in state)
    poses = torch.randn(2, 33, 17, 3) * 0.2
    with torch.no_grad():
        assert torch.equal(model(poses).refined, loaded(poses).refined)
    sequence = walking_sequence(70)
    np.testing.assert_array_equal(model.refine(sequence), loaded.refine(sequence))


# ---------------------------------------------------------------- gcnrefine train --config


def test_train_options_take_long_range_fields_and_the_preset():
    from modeling_gcnrefine.commands.train import TrainOptions

    config = TrainOptions(config='{"architecture": "long_range", "temporal_dilations": [1, 3], "causal": true}')
    built = config.model_config()
    assert built.architecture == "long_range" and built.temporal_dilations == [1, 3] and built.causal
    preset = TrainOptions(refiner_preset="long_range", config='{"chunk_overlap": null, "num_frames": 81}')
    built = preset.model_config()
    assert built.in_channels == 4 and built.confidence_dropout == 0.25 and built.num_frames == 81
    with pytest.raises(ValueError, match="config: window_linear: expected False with causal=True"):
        TrainOptions(refiner_preset="long_range", config='{"window_linear": true, "causal": true}')
    with pytest.raises(ValueError, match=r"refiner_preset: expected one of \['paper', 'long_range'\]"):
        TrainOptions(refiner_preset="huge")


def test_gcnrefine_train_command_line_builds_a_long_range_config():
    from modeling_gcnrefine.commands import build_parser
    from modeling_gcnrefine.commands.config import dataclass_from_namespace
    from modeling_gcnrefine.commands.train import TrainOptions

    argv = ["train", "--refiner-preset", "long_range", "--config", '{"temporal_dilations": [1, 3, 9], "causal": true}']
    options = dataclass_from_namespace(TrainOptions, build_parser().parse_args(argv))
    config = options.model_config()
    assert config.architecture == "long_range" and config.receptive_field == 27 and config.temporal_context == (26, 0)
    argv = ["train", "--config", '{"architecture": "long_range", "chunk_length": 64, "chunk_overlap": 16}']
    config = dataclass_from_namespace(TrainOptions, build_parser().parse_args(argv)).model_config()
    assert config.architecture == "long_range" and config.in_channels == 3 and config.resolved_chunk_overlap == 16


# ------------------------------------------------------------------ constant bone lengths


def _bone_lengths(poses: np.ndarray) -> np.ndarray:
    from modeling_gcnrefine.skeleton import H36M_PARENTS

    return np.stack([np.linalg.norm(poses[..., j, :] - poses[..., p, :], axis=-1) for j, p in enumerate(H36M_PARENTS) if p >= 0], -1)


def test_constant_bone_lengths_keeps_root_and_directions():
    from modeling_gcnrefine.processing_gcnrefine import constant_bone_lengths
    from modeling_gcnrefine.skeleton import H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT, H36M_PARENTS

    rng = np.random.default_rng(0)
    poses = walking_sequence(50)[None] + rng.normal(scale=0.02, size=(1, 50, 17, 3))  # bones vary by cm
    poses[0, 7, 3] = poses[0, 7, 2]  # a zero-length bone (right ankle on the knee) in one frame
    fixed = constant_bone_lengths(poses, H36M_PARENTS, zip(H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT))
    before, after = _bone_lengths(poses[0]), _bone_lengths(fixed[0])
    assert before.std(axis=0).mean() > 1e-3
    np.testing.assert_allclose(fixed[0, :, 0], poses[0, :, 0])  # the root trajectory is kept
    bones = [j for j, p in enumerate(H36M_PARENTS) if p >= 0]
    ankle = bones.index(3)
    assert after[7, ankle] == 0.0  # no direction to keep: it stays zero
    others = np.ones(50, bool)
    others[7] = False
    np.testing.assert_allclose(after[others].std(axis=0), 0.0, atol=1e-9)
    # One length per bone: its median, a left/right pair sharing the mean of their medians.
    medians = np.median(before, axis=0)
    left_knee, right_knee = bones.index(5), bones.index(2)
    np.testing.assert_allclose(after[0, left_knee], (medians[left_knee] + medians[right_knee]) / 2)
    np.testing.assert_allclose(after[0, bones.index(8)], medians[bones.index(8)])  # the spine has no partner
    # Every bone keeps its direction in every frame.
    for j, p in enumerate(H36M_PARENTS):
        if p < 0 or j == 3:
            continue
        a, b = poses[0, :, j] - poses[0, :, p], fixed[0, :, j] - fixed[0, :, p]
        cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        np.testing.assert_allclose(cosine, 1.0, atol=1e-9)


def test_refine_constant_bone_lengths_flag_and_config_default():
    model = make_long_range()
    poses = walking_sequence(40).astype(np.float32)
    plain = model.refine(poses)
    fixed = model.refine(poses, constant_bone_lengths=True)
    assert fixed.shape == poses.shape and fixed.dtype == poses.dtype
    assert _bone_lengths(plain).std(axis=0).mean() > 1e-4
    np.testing.assert_allclose(_bone_lengths(fixed).std(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(fixed[:, 0], poses[:, 0], atol=1e-6)  # root trajectory kept
    model.config.constant_bone_lengths = True
    np.testing.assert_array_equal(model.refine(poses), fixed)
    np.testing.assert_array_equal(model.refine(poses, constant_bone_lengths=False), plain)
    with pytest.raises(ValueError, match="constant_bone_lengths"):
        model.refine(poses, constant_bone_lengths="yes")
    with pytest.raises(ValueError, match=r"constant_bone_lengths: expected a bool, got 1"):
        GCNRefineConfig(constant_bone_lengths=1)


def test_constant_bone_lengths_from_another_sequence():
    from modeling_gcnrefine.processing_gcnrefine import constant_bone_lengths
    from modeling_gcnrefine.skeleton import H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT, H36M_PARENTS

    rng = np.random.default_rng(1)
    source = walking_sequence(30)[None] * 1.1 + rng.normal(scale=0.01, size=(1, 30, 17, 3))  # another person
    poses = walking_sequence(30)[None]
    pairs = list(zip(H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT))
    fixed = constant_bone_lengths(poses, H36M_PARENTS, pairs, lengths_from=source)
    # The lengths are the source's medians (partners averaged), the directions and the root the poses'.
    np.testing.assert_allclose(_bone_lengths(fixed[0]), _bone_lengths(constant_bone_lengths(source, H36M_PARENTS, pairs)[0])[:1].repeat(30, 0))
    np.testing.assert_allclose(fixed[0, :, 0], poses[0, :, 0])
    with pytest.raises(ValueError, match=r"lengths_from: expected shape \(1, T, 17, 3\), got \(2, 30, 17, 3\)"):
        constant_bone_lengths(poses, H36M_PARENTS, pairs, lengths_from=np.concatenate([source, source]))


def test_align_orientation_undoes_a_rotation_and_keeps_the_articulation():
    from scipy.spatial.transform import Rotation

    from modeling_gcnrefine.processing_gcnrefine import align_orientation

    rng = np.random.default_rng(2)
    reference = walking_sequence(20)[None] + rng.normal(scale=0.02, size=(1, 20, 17, 3))
    turns = Rotation.random(20, random_state=3).as_matrix()  # one rotation per frame, about the root
    root = reference[:, :, :1]
    turned = np.einsum("tij,btvj->btvi", turns, reference - root) + root + np.array([0.1, 0.0, 0.3])
    aligned = align_orientation(turned, reference)
    # The root stays where the poses had it; about it, the reference's orientation comes back exactly.
    np.testing.assert_allclose(aligned[:, :, 0], turned[:, :, 0])
    np.testing.assert_allclose(aligned - aligned[:, :, :1], reference - root, atol=1e-9)
    # A pose unlike the reference: scipy's least-squares rotation, and every bone length kept.
    other = reference + rng.normal(scale=0.05, size=reference.shape)
    aligned = align_orientation(other, reference)
    for t in (0, 7):
        best, _ = Rotation.align_vectors(reference[0, t] - reference[0, t, 0], other[0, t] - other[0, t, 0])
        np.testing.assert_allclose(aligned[0, t] - other[0, t, 0], best.apply(other[0, t] - other[0, t, 0]), atol=1e-9)
    np.testing.assert_allclose(_bone_lengths(aligned[0]), _bone_lengths(other[0]), atol=1e-9)
    with pytest.raises(ValueError, match=r"reference: expected shape \(1, 20, 17, 3\), got \(20, 17, 3\)"):
        align_orientation(other, reference[0])
    with pytest.raises(ValueError, match=r"sequences: expected shape \(B, T, V, 3\), got \(20, 17, 3\)"):
        align_orientation(other[0], reference[0])
    with pytest.raises(ValueError, match=r"root: expected a joint index in \[0, 17\), got 17"):
        align_orientation(other, reference, root=17)


def test_refine_keeps_input_bone_lengths_and_orientation_on_request():
    model = make_long_range()
    poses = walking_sequence(40).astype(np.float32) * 1.15  # a taller person than any the refiner knows
    pairs = list(zip(model.config.joints_left, model.config.joints_right))
    from modeling_gcnrefine.processing_gcnrefine import align_orientation, constant_bone_lengths

    kept = model.refine(poses, constant_bone_lengths=True, bone_lengths_from="input", keep_input_orientation=True)
    assert kept.shape == poses.shape and kept.dtype == poses.dtype
    expected = constant_bone_lengths(poses[None], model.config.joint_parents, pairs)[0]
    np.testing.assert_allclose(_bone_lengths(kept), _bone_lengths(expected), atol=1e-5)
    np.testing.assert_allclose(kept[:, 0], poses[:, 0], atol=1e-6)  # root trajectory kept
    # The same as turning the refined (input-length) frames to the input's orientation by hand.
    refined = model.refine(poses, constant_bone_lengths=True, bone_lengths_from="input")
    np.testing.assert_allclose(kept, align_orientation(refined[None], poses[None])[0], atol=1e-5)
    # Config defaults, and the errors.
    model.config.update({"constant_bone_lengths": True, "bone_lengths_from": "input", "keep_input_orientation": True})
    np.testing.assert_array_equal(model.refine(poses), kept)
    with pytest.raises(ValueError, match=r"bone_lengths_from: expected one of \('refined', 'input'\), got 'lifter'"):
        model.refine(poses, bone_lengths_from="lifter")
    with pytest.raises(ValueError, match="keep_input_orientation"):
        model.refine(poses, keep_input_orientation="yes")
    with pytest.raises(ValueError, match=r"bone_lengths_from: expected one of \('refined', 'input'\), got 'x'"):
        GCNRefineConfig(bone_lengths_from="x")
    with pytest.raises(ValueError, match=r"keep_input_orientation: expected a bool, got 1"):
        GCNRefineConfig(keep_input_orientation=1)


# ------------------------------------------------------------------ smoothing over time


def test_smooth_over_time_filters_each_joint_about_the_root_and_keeps_the_root():
    from scipy.ndimage import gaussian_filter1d

    from modeling_gcnrefine.processing_gcnrefine import smooth_over_time

    rng = np.random.default_rng(4)
    poses = walking_sequence(60)[None] + rng.normal(scale=0.01, size=(1, 60, 17, 3))  # jitter of 1 cm
    smoothed = smooth_over_time(poses, 2.0)
    assert smoothed.dtype == np.float64 and smoothed.shape == poses.shape and smoothed is not poses
    np.testing.assert_array_equal(smoothed[:, :, 0], poses[:, :, 0])  # the root trajectory as it was
    relative = poses - poses[:, :, :1]
    expected = gaussian_filter1d(relative, 2.0, axis=1, mode="nearest")
    np.testing.assert_allclose(smoothed - smoothed[:, :, :1], expected, atol=1e-12)
    # Less second-difference energy than the input; a still pose (relative to a moving root) is unchanged.
    assert np.abs(np.diff(smoothed - smoothed[:, :, :1], 2, axis=1)).mean() < 0.3 * np.abs(np.diff(relative, 2, axis=1)).mean()
    still = np.repeat(poses[:, :1], 60, axis=1) + np.linspace(0, 1, 60)[None, :, None, None]
    np.testing.assert_allclose(smooth_over_time(still, 3.0), still, atol=1e-12)
    np.testing.assert_array_equal(smooth_over_time(poses, 0), poses)
    np.testing.assert_allclose(smooth_over_time(poses[:, :1], 5.0), poses[:, :1], atol=1e-12)  # one frame: nothing to smooth
    with pytest.raises(ValueError, match=r"sigma: expected a finite number >= 0 \(frames\), got -1"):
        smooth_over_time(poses, -1)
    with pytest.raises(ValueError, match=r"sigma: expected a finite number >= 0 \(frames\), got nan"):
        smooth_over_time(poses, float("nan"))
    with pytest.raises(ValueError, match=r"sequences: expected shape \(B, T, V, 3\), got \(60, 17, 3\)"):
        smooth_over_time(poses[0], 1.0)
    with pytest.raises(ValueError, match=r"root: expected a joint index in \[0, 17\), got -1"):
        smooth_over_time(poses, 1.0, root=-1)


def test_refine_smoothing_sigma_argument_and_config_default():
    from modeling_gcnrefine.processing_gcnrefine import smooth_over_time

    model = make_long_range()
    rng = np.random.default_rng(5)
    poses = (walking_sequence(80) + rng.normal(scale=0.01, size=(80, 17, 3))).astype(np.float32)
    plain = model.refine(poses)
    smoothed = model.refine(poses, smoothing_sigma=3.0)
    assert smoothed.shape == poses.shape and smoothed.dtype == poses.dtype
    np.testing.assert_allclose(smoothed, smooth_over_time(plain[None].astype(np.float64), 3.0)[0], atol=1e-5)
    np.testing.assert_allclose(smoothed[:, 0], poses[:, 0], atol=1e-6)  # root trajectory kept

    def jitter(p):
        return np.abs(np.diff(p - p[:, :1], 2, axis=0)).mean()

    assert jitter(smoothed) < 0.5 * jitter(plain)
    model.config.smoothing_sigma = 3.0
    np.testing.assert_array_equal(model.refine(poses), smoothed)
    np.testing.assert_array_equal(model.refine(poses, smoothing_sigma=0), plain)
    with pytest.raises(ValueError, match=r"smoothing_sigma: expected a finite number >= 0 \(frames\), got -0.5"):
        model.refine(poses, smoothing_sigma=-0.5)
    with pytest.raises(ValueError, match=r"smoothing_sigma: expected a finite number >= 0 \(frames\), got True"):
        model.refine(poses, smoothing_sigma=True)
    with pytest.raises(ValueError, match=r"smoothing_sigma: expected a finite number >= 0 \(frames\), got 'x'"):
        GCNRefineConfig(smoothing_sigma="x")
    assert GCNRefineConfig.from_dict(GCNRefineConfig(smoothing_sigma=2.5).to_dict()).smoothing_sigma == 2.5


def test_refine_fps_scales_the_configured_smoothing_only():
    model = make_long_range(smoothing_sigma=4.0)
    poses = walking_sequence(60).astype(np.float32)
    # 25 fps: the configured 4 frames at 50 fps become 2 frames of the input.
    np.testing.assert_array_equal(model.refine(poses, fps=25), model.refine(poses, smoothing_sigma=2.0))
    np.testing.assert_array_equal(model.refine(poses, fps=50.0), model.refine(poses))
    # An explicit sigma is in the input's frames already: fps does not rescale it.
    np.testing.assert_array_equal(model.refine(poses, smoothing_sigma=1.0, fps=25), model.refine(poses, smoothing_sigma=1.0))
    for bad in (0, -30, float("inf"), "30"):
        with pytest.raises(ValueError, match=r"fps: expected a finite number > 0 \(frames/s\), got"):
            model.refine(poses, fps=bad)
    with pytest.raises(ValueError, match=r"smoothing_fps: expected a finite number > 0 \(frames/s\), got 0"):
        GCNRefineConfig(smoothing_fps=0)


# ------------------------------------------------------------------ global correction switch


def test_orientation_change_degrees_measures_the_turn_about_the_root():
    from scipy.spatial.transform import Rotation

    from modeling_gcnrefine.processing_gcnrefine import orientation_change_degrees

    reference = walking_sequence(12)[None]
    angles = np.linspace(0.0, 90.0, 12)
    turns = Rotation.from_rotvec(np.radians(angles)[:, None] * np.array([0.0, 1.0, 0.0])).as_matrix()
    root = reference[:, :, :1]
    turned = np.einsum("tij,btvj->btvi", turns, reference - root) + root + 0.5  # moved too: only the turn counts
    np.testing.assert_allclose(orientation_change_degrees(turned, reference), angles[None], atol=1e-6)
    with pytest.raises(ValueError, match=r"reference: expected shape \(1, 12, 17, 3\), got \(12, 17, 3\)"):
        orientation_change_degrees(turned, reference[0])
    with pytest.raises(ValueError, match=r"root: expected a joint index in \[0, 17\), got 17"):
        orientation_change_degrees(turned, reference, root=17)


def test_global_correction_keeps_the_refiners_orientation_and_bones_past_the_threshold():
    from scipy.spatial.transform import Rotation

    from modeling_gcnrefine.processing_gcnrefine import align_orientation, constant_bone_lengths

    model = make_long_range()
    model.config.update({"constant_bone_lengths": True, "bone_lengths_from": "input", "keep_input_orientation": True})
    poses = walking_sequence(30)
    turn = Rotation.from_euler("x", 20, degrees=True).as_matrix()  # a lifter's systematic tilt, undone by the refiner

    def refiner_output(array, *_):  # (B, T, V, 3): every frame turned by 20 degrees, bones 10 % longer
        root = array[:, :, :1]
        return np.einsum("ij,btvj->btvi", turn, (array - root) * 1.1) + root

    model._refine_sequences = refiner_output
    pairs = list(zip(model.config.joints_left, model.config.joints_right))
    raw = refiner_output(poses[None].astype(np.float64))
    articulation_only = align_orientation(
        constant_bone_lengths(raw, model.config.joint_parents, pairs, lengths_from=poses[None]), poses[None]
    )[0]
    np.testing.assert_allclose(model.refine(poses), articulation_only, atol=1e-6)  # switch off (None)
    model.config.global_correction_min_degrees = 30.0  # the refiner turns less than that: input kept
    np.testing.assert_allclose(model.refine(poses), articulation_only, atol=1e-6)
    model.config.global_correction_min_degrees = 10.0  # it turns more: its orientation and bones are kept
    np.testing.assert_allclose(model.refine(poses), constant_bone_lengths(raw, model.config.joint_parents, pairs)[0], atol=1e-6)
    # Per sequence of a batch: one turned by the refiner, one left alone.
    both = np.stack([poses, poses + 0.1])
    model._refine_sequences = lambda array, *_: np.concatenate([refiner_output(array[:1]), array[1:]])
    out = model.refine(both)
    np.testing.assert_allclose(out[0], constant_bone_lengths(raw, model.config.joint_parents, pairs)[0], atol=1e-6)
    second = both[1:]  # left alone by the refiner: articulation only (input bones and orientation)
    expected = align_orientation(constant_bone_lengths(second, model.config.joint_parents, pairs, lengths_from=second), second)
    np.testing.assert_allclose(out[1], expected[0], atol=1e-6)
    for bad in (-1.0, 181.0, float("nan"), "10"):
        with pytest.raises(ValueError, match=r"global_correction_min_degrees: expected None or an angle in \[0, 180\] degrees"):
            GCNRefineConfig(global_correction_min_degrees=bad)


# ------------------------------------------------------------------ weight of the refiner's change


def test_median_change_and_weigh_changes_per_sequence():
    from modeling_gcnrefine.processing_gcnrefine import median_change, weigh_changes

    reference = np.stack([walking_sequence(20), walking_sequence(20) + 0.3]).astype(np.float64)  # (2, 20, 17, 3)
    moved = reference.copy()
    moved[0, :, 1:] += [0.03, 0.0, 0.0]  # every non-root joint 3 cm off
    moved[1, :, 1:] += [0.0, 0.0, 0.10]  # 10 cm off
    moved += np.array([0.0, 0.5, 0.0])  # a moved root is not a change of the articulation
    reference += np.array([0.0, 0.5, 0.0])
    np.testing.assert_allclose(median_change(moved, reference), [0.03, 0.10], atol=1e-6)
    half = weigh_changes(moved, reference, 0.5)
    np.testing.assert_allclose(half, (moved + reference) / 2, atol=1e-12)
    np.testing.assert_array_equal(half[:, :, 0], reference[:, :, 0])  # the root trajectory kept
    # Past full_change_min a sequence keeps its whole change; below it, the weight applies.
    gated = weigh_changes(moved, reference, 0.25, full_change_min=0.06)
    np.testing.assert_allclose(gated[0], reference[0] + 0.25 * (moved[0] - reference[0]), atol=1e-12)
    np.testing.assert_array_equal(gated[1], moved[1])
    np.testing.assert_array_equal(weigh_changes(moved, reference, 1.0), moved)
    np.testing.assert_array_equal(weigh_changes(moved, reference, 0.0), reference)
    for bad in (-0.1, 1.5, float("nan"), "0.5"):
        with pytest.raises(ValueError, match=r"weight: expected a number in \[0, 1\], got"):
            weigh_changes(moved, reference, bad)
    with pytest.raises(ValueError, match=r"full_change_min: expected None or a finite number >= 0 \(metres\), got -1"):
        weigh_changes(moved, reference, 0.5, full_change_min=-1)
    with pytest.raises(ValueError, match=r"reference: expected shape \(2, 20, 17, 3\), got \(20, 17, 3\)"):
        median_change(moved, reference[0])


def test_refine_change_weight_argument_config_default_and_gate():
    model = make_long_range()
    rng = np.random.default_rng(6)
    poses = (walking_sequence(40) + rng.normal(scale=0.01, size=(40, 17, 3))).astype(np.float32)
    full = model.refine(poses).astype(np.float64)
    half = model.refine(poses, change_weight=0.5)
    assert half.shape == poses.shape and half.dtype == poses.dtype
    np.testing.assert_allclose(half, poses + 0.5 * (full - poses), atol=1e-5)
    np.testing.assert_array_equal(model.refine(poses, change_weight=0.0), poses)  # no change kept: the input
    model.config.change_weight = 0.5
    np.testing.assert_array_equal(model.refine(poses), half)
    np.testing.assert_array_equal(model.refine(poses, change_weight=1.0).astype(np.float64), full)
    # A sequence the refiner moves more than full_change_min keeps the whole change.
    from modeling_gcnrefine.processing_gcnrefine import median_change

    moved = median_change(full[None], poses[None].astype(np.float64))[0]
    model.config.full_change_min = moved / 2
    np.testing.assert_array_equal(model.refine(poses).astype(np.float64), full)
    model.config.full_change_min = moved * 2
    np.testing.assert_array_equal(model.refine(poses), half)
    # Smoothing comes after the weight.
    from modeling_gcnrefine.processing_gcnrefine import smooth_over_time

    expected = smooth_over_time(half[None].astype(np.float64), 2.0)[0]
    np.testing.assert_allclose(model.refine(poses, smoothing_sigma=2.0), expected, atol=1e-5)
    for bad in (-0.5, 2, True, "1"):
        with pytest.raises(ValueError, match=r"change_weight: expected a number in \[0, 1\], got"):
            model.refine(poses, change_weight=bad)
    with pytest.raises(ValueError, match=r"change_weight: expected a number in \[0, 1\], got 1.5"):
        GCNRefineConfig(change_weight=1.5)
    with pytest.raises(ValueError, match=r"full_change_min: expected None or a finite number >= 0 \(metres\), got 'x'"):
        GCNRefineConfig(full_change_min="x")
    loaded = GCNRefineConfig.from_dict(GCNRefineConfig(change_weight=0.5, full_change_min=0.06).to_dict())
    assert (loaded.change_weight, loaded.full_change_min) == (0.5, 0.06)

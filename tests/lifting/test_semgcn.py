"""The built-in SemGCN lifter: config, the semantic graph convolution against an independent reference,
save/load (constant buffers included), lift() and its 17 <-> 16 joint mapping, and the converter for the
published checkpoint (random upstream-style files here; the real file where ../shared has it)."""

from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel
from transformers.dynamic_module_utils import get_class_from_dynamic_module

from modeling_gcnrefine import skeleton
from modeling_gcnrefine.lifting import (
    SemGCNConfig,
    SemGCNModel,
    convert_semgcn,
    load_semgcn_checkpoint,
)
from modeling_gcnrefine.lifting.convert_semgcn import semgcn_from_state_dict
from modeling_gcnrefine.lifting.modeling_semgcn import normalize_screen_coordinates
from modeling_gcnrefine.utils import geometry

PARENTS_16 = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14]
J = 16
SIZE = (1280, 720)


# ----------------------------------------------------------------------------------------------------------
# An independent reference, written from DATA.md's description and working directly on an upstream-style
# state dict: the adjacency comes from the parent list, the edge weights fill it through a boolean mask
# (numpy's row-major order), and BatchNorm is applied functionally. Agreement checks the renaming, the
# fill order, the row softmax and the layer order.
# ----------------------------------------------------------------------------------------------------------
def _mask(parents: list[int]) -> torch.Tensor:
    adj = np.eye(len(parents), dtype=bool)
    for child, parent in enumerate(parents):
        if parent >= 0:
            adj[child, parent] = adj[parent, child] = True
    return torch.from_numpy(adj)


def _ref_gconv(x, state, prefix, mask):
    w, e, b = state[f"{prefix}.W"], state[f"{prefix}.e"], state[f"{prefix}.bias"]
    logits = torch.full(mask.shape, -9e15)
    logits[mask] = e.reshape(-1)
    a = torch.softmax(logits, dim=1)
    eye = torch.eye(mask.shape[0])
    return (a * eye) @ (x @ w[0]) + (a * (1 - eye)) @ (x @ w[1]) + b


def _ref_layer(x, state, prefix, mask):
    x = _ref_gconv(x, state, f"{prefix}.gconv", mask).transpose(1, 2)
    x = F.batch_norm(
        x,
        state[f"{prefix}.bn.running_mean"],
        state[f"{prefix}.bn.running_var"],
        state[f"{prefix}.bn.weight"],
        state[f"{prefix}.bn.bias"],
        training=False,
    )
    return F.relu(x.transpose(1, 2))


def reference(state: dict, x: torch.Tensor, num_blocks: int, parents=PARENTS_16) -> torch.Tensor:
    mask = _mask(parents)
    h = _ref_layer(x, state, "gconv_input.0", mask)
    for i in range(num_blocks):
        r = h
        h = _ref_layer(h, state, f"gconv_layers.{i}.gconv1", mask)
        h = r + _ref_layer(h, state, f"gconv_layers.{i}.gconv2", mask)
    return _ref_gconv(h, state, "gconv_output", mask)


def upstream_state_dict(hidden=8, num_blocks=2, num_joints=J, seed=0) -> dict[str, torch.Tensor]:
    """Random tensors under the upstream key names and shapes, BatchNorm statistics non-trivial."""
    g = torch.Generator().manual_seed(seed)
    edges = 3 * num_joints - 2
    state = {}

    def conv(prefix, fin, fout):
        state[f"{prefix}.W"] = torch.randn(2, fin, fout, generator=g) * 0.3
        state[f"{prefix}.e"] = torch.randn(1, edges, generator=g)
        state[f"{prefix}.bias"] = torch.randn(fout, generator=g) * 0.1

    def layer(prefix, fin, fout):
        conv(f"{prefix}.gconv", fin, fout)
        state[f"{prefix}.bn.weight"] = torch.rand(fout, generator=g) + 0.5
        state[f"{prefix}.bn.bias"] = torch.rand(fout, generator=g) * 0.4 - 0.2
        state[f"{prefix}.bn.running_mean"] = torch.rand(fout, generator=g) * 0.6 - 0.3
        state[f"{prefix}.bn.running_var"] = torch.rand(fout, generator=g) * 1.5 + 0.5
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(77)

    layer("gconv_input.0", 2, hidden)
    for i in range(num_blocks):
        layer(f"gconv_layers.{i}.gconv1", hidden, hidden)
        layer(f"gconv_layers.{i}.gconv2", hidden, hidden)
    conv("gconv_output", hidden, 3)
    return state


def upstream_checkpoint(state, **extra) -> dict:
    return {"state_dict": state, "epoch": 39, **extra}


@pytest.fixture(scope="module")
def tiny() -> SemGCNModel:
    return semgcn_from_state_dict(upstream_state_dict())


# ------------------------------------------------------------------ config
def test_config_defaults_are_the_published_model_and_h36m():
    cfg = SemGCNConfig()
    assert cfg.model_type == "gcnrefine_semgcn"
    assert (cfg.num_joints, cfg.hidden_size, cfg.num_blocks, cfg.dropout) == (16, 128, 4, None)
    assert cfg.parents == PARENTS_16
    assert cfg.num_adjacency_entries == len(cfg.adjacency_entries) == 46
    assert cfg.adjacency_entries == sorted(cfg.adjacency_entries)  # row-major
    assert cfg.joint_map == [j for j in range(17) if j != 9]
    assert cfg.midpoint_joints == [[9, 8, 10]]
    assert cfg.joints_left == list(skeleton.H36M.joints_left)
    assert cfg.joints_right == list(skeleton.H36M.joints_right)
    # The 16-joint tree is Human3.6M-17's with neck/nose removed and the head re-attached to the thorax.
    h36m = list(skeleton.H36M.parents)
    reparented = [h36m[9] if h36m[j] == 9 else h36m[j] for j in cfg.joint_map]
    assert [cfg.joint_map.index(p) if p >= 0 else -1 for p in reparented] == cfg.parents


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_joints": True}, "num_joints"),
        ({"num_blocks": -1}, "num_blocks"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": "0.1"}, "dropout"),
        ({"parents": [0, *PARENTS_16[1:]]}, "parents"),
        ({"parents": PARENTS_16[:-1]}, "parents"),
        ({"parents": [-1, 0, 1, 5, *PARENTS_16[4:]]}, "parents"),
        ({"joint_map": [0, 0, *range(2, 9), *range(10, 17)]}, "joint_map"),
        ({"joint_map": [*range(9), *range(10, 16), 17]}, "joint_map"),
        ({"midpoint_joints": [[9, 8]]}, "midpoint_joints"),
        ({"midpoint_joints": [[9, 8, 9]]}, "midpoint_joints"),
        ({"midpoint_joints": []}, "midpoint_joints"),
        ({"joints_left": [4, 17]}, "joints_left"),
        ({"joints_left": [4], "joints_right": [1, 2]}, "joints_right"),
        ({"joints_left": [1, 2], "joints_right": [2, 3]}, "joints_left/joints_right"),
    ],
)
def test_config_rejects_bad_values_quoting_them(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        SemGCNConfig(**kwargs)
    if name != "joints_right":
        assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_config_json_round_trip(tmp_path):
    cfg = SemGCNConfig(hidden_size=32, num_blocks=2, dropout=0.2, parents=tuple(PARENTS_16))
    assert cfg.parents == PARENTS_16  # tuples become lists
    cfg.save_pretrained(tmp_path)
    again = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(again, SemGCNConfig)
    ignore = {"_name_or_path", "auto_map"}  # where it was loaded from, and the remote-code marker
    assert {k: v for k, v in again.to_dict().items() if k not in ignore} == {
        k: v for k, v in cfg.to_dict().items() if k not in ignore
    }


# ------------------------------------------------------------------ the network
def test_matches_independent_reference_and_counts(tiny):
    state = upstream_state_dict()
    x = torch.randn(5, J, 2)
    with torch.no_grad():
        torch.testing.assert_close(tiny(x).poses_3d, reference(state, x, 2), rtol=1e-5, atol=1e-6)
    assert not tiny.training
    assert len(tiny.state_dict()) == len(state)
    assert int(tiny.input_layer.norm.num_batches_tracked) == 77


def test_edge_weights_fill_the_adjacency_row_major(tiny):
    conv = tiny.output_conv
    a = conv.adjacency()
    entries = SemGCNConfig().adjacency_entries
    rows, cols = zip(*entries)
    assert torch.all(a[rows, cols] > 0)
    off = torch.ones(J, J, dtype=torch.bool)
    off[rows, cols] = False
    assert torch.all(a[off] == 0)
    torch.testing.assert_close(a.sum(dim=1), torch.ones(J))
    # Row 0 (pelvis: itself, right hip 1, left hip 4, spine 7) is softmax of the first four weights.
    torch.testing.assert_close(a[0, [0, 1, 4, 7]], torch.softmax(conv.edge_logits[:4], 0))


def test_forward_shapes_loss_and_validation():
    model = SemGCNModel(SemGCNConfig(hidden_size=8, num_blocks=1, dropout=0.1))
    x, y = torch.randn(4, J, 2), torch.randn(4, J, 3)
    out = model(x, labels=y)
    assert out.poses_3d.shape == (4, J, 3)
    torch.testing.assert_close(out.loss, torch.linalg.vector_norm(out.poses_3d - y, dim=-1).mean())
    out.loss.backward()
    assert model.input_layer.conv.edge_logits.grad is not None
    with pytest.raises(ValueError, match=r"keypoints_2d: expected shape \(B, 16, 2\)"):
        model(torch.randn(4, 17, 2))
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.randn(4, 17, 3))


def test_default_model_size_matches_the_published_checkpoint():
    model = SemGCNModel(SemGCNConfig())
    assert len(model.state_dict()) == 75
    assert sum(t.numel() for t in model.state_dict().values()) == 269_656
    assert model.num_parameters() == 267_343


# ------------------------------------------------------------------ save / load / auto classes
def test_save_pretrained_round_trip_is_exact_including_buffers(tmp_path, tiny):
    tiny.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_semgcn.SemGCNConfig",
        "AutoModel": "modeling_semgcn.SemGCNModel",
    }
    assert (tmp_path / "modeling_semgcn.py").is_file() and (tmp_path / "configuration_semgcn.py").is_file()
    x = torch.randn(6, J, 2)
    expected_index = torch.tensor(SemGCNConfig().adjacency_entries).T
    for loaded in (SemGCNModel.from_pretrained(tmp_path), AutoModel.from_pretrained(tmp_path)):
        assert isinstance(loaded, SemGCNModel) and not loaded.training
        for a, b in zip(loaded.modules(), tiny.modules()):
            if hasattr(a, "edge_index"):
                assert torch.equal(a.edge_index, expected_index) and torch.equal(b.edge_index, expected_index)
                assert torch.equal(a.eye, torch.eye(J))
        for (name, a), (_, b) in zip(loaded.state_dict().items(), tiny.state_dict().items()):
            assert torch.equal(a, b), name
        with torch.no_grad():
            assert torch.equal(loaded(x).poses_3d, tiny(x).poses_3d)


def test_saved_code_runs_without_the_package(tmp_path, tiny):
    tiny.save_pretrained(tmp_path)
    remote_cls = get_class_from_dynamic_module("modeling_semgcn.SemGCNModel", str(tmp_path))
    assert remote_cls is not SemGCNModel
    remote = remote_cls.from_pretrained(tmp_path)
    pixels = np.random.default_rng(1).integers(0, 700, size=(9, 17, 2))  # integer pixels on purpose
    np.testing.assert_array_equal(remote.lift(pixels, SIZE), tiny.lift(pixels, SIZE))
    assert "modeling_gcnrefine" not in sys.modules[remote_cls.__module__].__name__


def test_normalisation_equals_geometry():
    pixels = np.random.default_rng(0).uniform(0, 1280, size=(4, 17, 2))
    np.testing.assert_array_equal(
        normalize_screen_coordinates(pixels, *SIZE), geometry.normalize_screen_coordinates(pixels, *SIZE)
    )


# ------------------------------------------------------------------ lift() and the 17 <-> 16 mapping
def test_joint_mapping_17_to_16_and_back(tiny):
    h36m = np.arange(17 * 3, dtype=np.float32).reshape(17, 3)
    inner = tiny.to_network_joints(h36m)
    assert inner.shape == (16, 3)
    np.testing.assert_array_equal(inner, np.delete(h36m, 9, axis=0))
    back = tiny.to_boundary_joints(inner)
    np.testing.assert_array_equal(np.delete(back, 9, axis=0), inner)
    np.testing.assert_array_equal(back[9], (h36m[8] + h36m[10]) / 2)  # neck halfway thorax-head
    as_torch = tiny.to_boundary_joints(torch.from_numpy(inner)[None])
    np.testing.assert_array_equal(as_torch[0].numpy(), back)


def test_lift_shapes_pipeline_and_contract(tiny):
    rng = np.random.default_rng(3)
    pixels = rng.uniform(100, 700, size=(11, 17, 2)).astype(np.float32)
    out = tiny.lift(pixels, SIZE)
    assert isinstance(out, np.ndarray) and out.shape == (11, 17, 3) and out.dtype == np.float32
    # By hand: normalise, drop neck/nose, forward, re-centre on the root, place neck/nose.
    norm = geometry.normalize_screen_coordinates(pixels.astype(np.float64), *SIZE).astype(np.float32)
    with torch.no_grad():
        net = tiny(torch.from_numpy(np.delete(norm, 9, axis=1))).poses_3d.numpy()
    net = net - net[:, :1]
    np.testing.assert_allclose(np.delete(out, 9, axis=1), net, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(out[:, 0], 0)
    np.testing.assert_allclose(out[:, 9], (out[:, 8] + out[:, 10]) / 2, rtol=1e-6, atol=1e-7)
    # Neck/nose input is ignored; frames are independent, so chunking changes nothing.
    moved = pixels.copy()
    moved[:, 9] += 50
    np.testing.assert_array_equal(tiny.lift(moved, SIZE), out)
    np.testing.assert_allclose(tiny.lift(pixels, SIZE, batch_size=4), out, rtol=1e-6, atol=1e-7)
    # torch in, torch out; training mode restored.
    tiny.train()
    try:
        as_torch = tiny.lift(torch.from_numpy(pixels), SIZE)
        assert tiny.training
    finally:
        tiny.eval()
    assert isinstance(as_torch, torch.Tensor) and as_torch.shape == (11, 17, 3)
    np.testing.assert_allclose(as_torch.numpy(), out, rtol=1e-6, atol=1e-7)


def test_lift_flip_test_is_mirror_symmetric(tiny):
    pixels = np.random.default_rng(4).uniform(100, 700, size=(7, 17, 2))
    mirrored = pixels[:, skeleton.H36M.flip_permutation].copy()
    mirrored[..., 0] = SIZE[0] - mirrored[..., 0]  # mirror about the image centre = negate normalised x
    a = tiny.lift(pixels, SIZE, flip_test=True)
    b = tiny.lift(mirrored, SIZE, flip_test=True)[:, skeleton.H36M.flip_permutation]
    b[..., 0] *= -1
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not np.allclose(a, tiny.lift(pixels, SIZE))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"keypoints_2d": np.zeros((10, 16, 2))}, "keypoints_2d"),
        ({"keypoints_2d": np.zeros((0, 17, 2))}, "keypoints_2d"),
        ({"keypoints_2d": np.full((10, 17, 2), np.nan)}, "keypoints_2d"),
        ({"image_size": (0, 720)}, "image_size"),
        ({"image_size": 1280}, "image_size"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_lift_validates_input(tiny, kwargs, name):
    args = {"keypoints_2d": np.zeros((10, 17, 2)), "image_size": SIZE, **kwargs}
    with pytest.raises(ValueError, match=name):
        tiny.lift(**args)


def test_lift_refuses_a_nan_frame_like_the_temporal_lifter(tiny):
    pixels = np.full((5, 17, 2), 300.0)
    pixels[2] = np.nan  # a frame where the detector found nobody
    with pytest.raises(ValueError, match="finite"):
        tiny.lift(pixels, SIZE)


# ------------------------------------------------------------------ converter
def test_converter_loads_upstream_checkpoint_bare_and_data_parallel(tmp_path):
    state = upstream_state_dict(hidden=8, num_blocks=3, seed=5)
    path = tmp_path / "ckpt.pth.tar"
    torch.save(upstream_checkpoint(state), path)
    model = load_semgcn_checkpoint(path)
    assert (model.config.hidden_size, model.config.num_blocks) == (8, 3)
    x = torch.randn(3, J, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x).poses_3d, reference(state, x, 3), rtol=1e-5, atol=1e-6)
    bare = tmp_path / "bare.pth"
    torch.save({f"module.{k}": v for k, v in state.items() if "num_batches_tracked" not in k}, bare)
    torch.testing.assert_close(load_semgcn_checkpoint(bare).output_conv.bias, state["gconv_output.bias"])


def test_converter_names_missing_unexpected_and_misshapen_keys():
    state = upstream_state_dict()
    with pytest.raises(ValueError, match=r"missing \['blocks.1.layer2.norm.running_var'\]"):
        semgcn_from_state_dict(
            {k: v for k, v in state.items() if k != "gconv_layers.1.gconv2.bn.running_var"}
        )
    with pytest.raises(ValueError, match=r"unexpected \['gconv_layers.0.nonlocal.g.weight'\]"):
        semgcn_from_state_dict({**state, "gconv_layers.0.nonlocal.g.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"gconv_layers.0.gconv1.gconv.e.*expected shape \(46,\)"):
        semgcn_from_state_dict({**state, "gconv_layers.0.gconv1.gconv.e": torch.zeros(1, 40)})
    with pytest.raises(ValueError, match=r"gconv_output\.W"):
        semgcn_from_state_dict({k: v for k, v in state.items() if k != "gconv_output.W"})
    with pytest.raises(ValueError, match="expected a tensor"):
        semgcn_from_state_dict({**state, "gconv_output.bias": [0.0, 0.0, 0.0]})


def test_converter_refuses_a_legacy_pickle_and_says_how_to_export_weights(tmp_path):
    path = tmp_path / "ckpt_semgcn.pth.tar"
    # Legacy (non-zip) format holding an object weights_only refuses, as the upstream file does (here a
    # numpy scalar, a common way for a training script's "best error" to end up in its checkpoint).
    torch.save(
        upstream_checkpoint(upstream_state_dict(), error=np.float64(0.0423)),
        path,
        _use_new_zipfile_serialization=False,
    )
    with pytest.raises(ValueError) as info:
        load_semgcn_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "legacy (non-zip)" in message and "weights_only=True" in message
    assert "torch.save({'state_dict': model.state_dict()}, 'ckpt_semgcn_weights.pth.tar')" in message
    assert "safe_globals=" in message and "weights_only=False" not in message  # no unpickling recipe
    assert "Unsupported global" in message  # torch's reason is passed on
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    with pytest.raises(ValueError, match="legacy"):
        convert_semgcn(path, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_semgcn.pth.tar"]  # nothing written


def test_converter_reads_a_legacy_file_holding_only_tensors(tmp_path):
    # weights_only=True reads the legacy format itself safely; only pickled objects are refused.
    path = tmp_path / "weights_only.pth.tar"
    torch.save(upstream_checkpoint(upstream_state_dict()), path, _use_new_zipfile_serialization=False)
    assert load_semgcn_checkpoint(path).config.hidden_size == 8


def test_converter_rejects_non_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_semgcn_checkpoint(garbage)
    other = tmp_path / "other.pth"
    torch.save({"epoch": 3, "weights": {}}, other)
    with pytest.raises(ValueError, match="state_dict"):
        load_semgcn_checkpoint(other)
    with pytest.raises(FileNotFoundError):
        load_semgcn_checkpoint(tmp_path / "missing.pth")


def test_convert_to_folder_refuses_to_overwrite(tmp_path):
    state = upstream_state_dict()
    ckpt = tmp_path / "ckpt.pth.tar"
    torch.save(upstream_checkpoint(state), ckpt)
    out = tmp_path / "semgcn"
    result = convert_semgcn(ckpt, out)
    assert result.out_dir == out and result.num_tensors == len(state)
    assert result.num_values == sum(t.numel() for t in state.values())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    loaded = AutoModel.from_pretrained(out)
    assert isinstance(loaded, SemGCNModel)
    torch.testing.assert_close(loaded.output_conv.edge_logits, state["gconv_output.e"][0])
    before = (out / "model.safetensors").read_bytes()
    torch.save(upstream_checkpoint(upstream_state_dict(seed=9)), ckpt)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        convert_semgcn(ckpt, out)
    assert (out / "model.safetensors").read_bytes() == before
    convert_semgcn(ckpt, out, overwrite=True)
    assert (out / "model.safetensors").read_bytes() != before
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        convert_semgcn(ckpt, tmp_path / "file")


# ------------------------------------------------------------------ the real checkpoint (../shared)
@pytest.fixture(scope="module")
def dataset(blendmimic3d_dir):
    from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d

    return load_blendmimic3d(blendmimic3d_dir)


@pytest.fixture(scope="module")
def converted(tmp_path_factory, semgcn_checkpoint):
    out = tmp_path_factory.mktemp("semgcn") / "semgcn-h36m"
    result = convert_semgcn(semgcn_checkpoint, out)
    return result, AutoModel.from_pretrained(out)


def test_real_checkpoint_converts_with_the_published_size(converted, semgcn_checkpoint):
    result, model = converted
    assert (result.num_tensors, result.num_values, result.num_parameters) == (75, 269_656, 267_343)
    assert isinstance(model, SemGCNModel)
    default = SemGCNConfig()
    for name in (
        "num_joints",
        "parents",
        "hidden_size",
        "num_blocks",
        "dropout",
        "joint_map",
        "midpoint_joints",
    ):
        assert getattr(model.config, name) == getattr(default, name), name
    direct = load_semgcn_checkpoint(semgcn_checkpoint)
    x = torch.randn(8, J, 2) * 0.3
    with torch.no_grad():
        assert torch.equal(model(x).poses_3d, direct(x).poses_3d)


@pytest.mark.parametrize(
    ("split", "key", "expected_mm"),
    [("test", ("SS3", "Focus", 0), 125.1), ("train", ("SS1", "Greeting", 0), 97.2)],
)
def test_real_checkpoint_reproduces_the_check_figures(converted, dataset, split, key, expected_mm):
    """DATA.md's figures: ground-truth 2D lifted, neck/nose halfway between thorax and head, MPJPE over
    the 17 joints against the root-relative ground truth."""
    from modeling_gcnrefine.data.sequences import camera_sequences, root_relative

    sequence = next(s for s in camera_sequences(dataset[split]) if s.key == key)
    predicted = converted[1].lift(sequence.keypoints_2d, sequence.image_size)
    assert predicted.shape == sequence.poses_3d.shape
    mpjpe_mm = 1000 * np.linalg.norm(predicted - root_relative(sequence.poses_3d), axis=-1).mean()
    assert mpjpe_mm == pytest.approx(expected_mm, abs=1.0)


# ------------------------------------------------------------------ CLI
def test_cli_convert_format_semgcn(tmp_path, capsys):
    from modeling_gcnrefine.commands import main
    from modeling_gcnrefine.commands.lift import ConvertOptions

    ckpt = tmp_path / "ckpt.pth.tar"
    torch.save(upstream_checkpoint(upstream_state_dict()), ckpt)
    out = tmp_path / "semgcn"
    assert main(["lift", "convert", "--format", "semgcn", str(ckpt), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"saved SemGCNModel to {out}" in printed and "75 tensors" not in printed  # the tiny model
    assert isinstance(AutoModel.from_pretrained(out), SemGCNModel)
    assert main(["lift", "convert", "--format", "semgcn", str(ckpt), str(out)]) != 0  # exists, not empty
    assert "--force" in capsys.readouterr().err
    assert main(["lift", "convert", "--format", "semgcn", str(ckpt), str(out), "--force"]) == 0
    capsys.readouterr()
    # VideoPose3D-only options are refused, and the default format is still videopose3d.
    assert (
        main(["lift", "convert", "--format", "semgcn", str(ckpt), str(tmp_path / "x"), "--channels", "4"])
        != 0
    )
    assert "--channels" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["lift", "convert", str(ckpt), str(tmp_path / "y")]) != 0
    assert "model_pos" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"format: expected one of videopose3d, semgcn, got 'onnx'"):
        ConvertOptions(checkpoint="c", out_dir="o", format="onnx")
    assert main(["lift", "convert", "--format", "onnx", str(ckpt), str(out)]) != 0
    assert "format: expected one of videopose3d, semgcn, got 'onnx'" in capsys.readouterr().err

"""The built-in temporal lifter: config, shapes, receptive field, training output, lift(), save/load,
and the VideoPose3D checkpoint converter (on checkpoints built here with the official key names)."""

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
from modeling_gcnrefine.commands import main
from modeling_gcnrefine.lifting import (
    LifterConfig,
    TemporalLifterModel,
    convert_videopose3d,
    load_videopose3d_checkpoint,
)
from modeling_gcnrefine.lifting.convert_videopose3d import lifter_from_videopose3d_state_dict
from modeling_gcnrefine.utils import geometry

WIDTHS = {27: [3, 3, 3], 81: [3, 3, 3, 3], 243: [3, 3, 3, 3, 3]}
J = 17


def small_model(widths=(3, 3, 3), channels=8, seed=0, **kwargs) -> TemporalLifterModel:
    """A small lifter in eval mode with non-trivial BatchNorm statistics (so BN mistakes show)."""
    torch.manual_seed(seed)
    model = TemporalLifterModel(LifterConfig(filter_widths=list(widths), channels=channels, **kwargs))
    with torch.no_grad():
        for bn in [model.expand_bn, *model.layers_bn]:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


# ----------------------------------------------------------------------------------------------------------
# An independent reference: VideoPose3D's *strided* formulation of the same network (one output frame per
# window of RF frames). The model under test uses the dilated formulation; the paper states both give the
# same result with the same weights, so agreement checks dilations, residual crops and BN placement.
# Written here from the paper, working directly on an official-style state dict.
# ----------------------------------------------------------------------------------------------------------
def _bn(x, state, prefix):
    return F.batch_norm(
        x,
        state[f"{prefix}.running_mean"],
        state[f"{prefix}.running_var"],
        state[f"{prefix}.weight"],
        state[f"{prefix}.bias"],
        training=False,
        eps=1e-5,
    )


def reference_windows(state: dict, widths: list[int], windows: torch.Tensor) -> torch.Tensor:
    """``windows`` (N, RF, J, 2) -> (N, J, 3), strided convolutions, eval mode."""
    n = windows.shape[0]
    x = windows.reshape(n, windows.shape[1], -1).transpose(1, 2)  # (N, J*2, RF)
    x = F.relu(_bn(F.conv1d(x, state["expand_conv.weight"], stride=widths[0]), state, "expand_bn"))
    for i, w in enumerate(widths[1:]):
        res = x[:, :, w // 2 :: w]
        x = F.relu(
            _bn(F.conv1d(x, state[f"layers_conv.{2 * i}.weight"], stride=w), state, f"layers_bn.{2 * i}")
        )
        x = res + F.relu(
            _bn(F.conv1d(x, state[f"layers_conv.{2 * i + 1}.weight"]), state, f"layers_bn.{2 * i + 1}")
        )
    x = F.conv1d(x, state["shrink.weight"], state["shrink.bias"])  # (N, J*3, 1)
    return x[:, :, 0].reshape(n, -1, 3)


def reference_sequence(state: dict, widths: list[int], keypoints: torch.Tensor) -> torch.Tensor:
    """(T_in, J, 2) -> (T_in - RF + 1, J, 3) by sliding the strided reference over every window."""
    rf = int(np.prod(widths))
    windows = keypoints.unfold(0, rf, 1).permute(0, 3, 1, 2)  # (T_out, J, 2, RF) -> (T_out, RF, J, 2)
    return reference_windows(state, widths, windows)


def official_state_dict(widths: list[int], channels: int, seed: int = 0, joints: int = J) -> dict:
    """Random weights under VideoPose3D's key names and shapes, built without the model under test."""
    g = torch.Generator().manual_seed(seed)

    def bn(prefix):
        return {
            f"{prefix}.weight": torch.rand(channels, generator=g) + 0.5,
            f"{prefix}.bias": torch.rand(channels, generator=g) * 0.4 - 0.2,
            f"{prefix}.running_mean": torch.rand(channels, generator=g) * 0.6 - 0.3,
            f"{prefix}.running_var": torch.rand(channels, generator=g) * 1.5 + 0.5,
            f"{prefix}.num_batches_tracked": torch.tensor(1234),
        }

    def conv(*shape):
        return torch.randn(*shape, generator=g) / np.sqrt(np.prod(shape[1:]))

    state = {"expand_conv.weight": conv(channels, joints * 2, widths[0]), **bn("expand_bn")}
    for i, w in enumerate(widths[1:]):
        state[f"layers_conv.{2 * i}.weight"] = conv(channels, channels, w)
        state[f"layers_conv.{2 * i + 1}.weight"] = conv(channels, channels, 1)
        state.update(bn(f"layers_bn.{2 * i}"))
        state.update(bn(f"layers_bn.{2 * i + 1}"))
    state["shrink.weight"] = conv(joints * 3, channels, 1)
    state["shrink.bias"] = torch.randn(joints * 3, generator=g) * 0.1
    return state


def official_checkpoint(state: dict, extra: dict | None = None) -> dict:
    """A training checkpoint shaped like pretrained_h36m_cpn.bin, minus the pickled RandomState."""
    optimizer = {
        "state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
        "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": True, "params": [0]}],
    }
    return {
        "epoch": 80,
        "lr": 0.00098,
        "optimizer": optimizer,
        "model_pos": state,
        "model_traj": None,
        **(extra or {}),
    }


# ------------------------------------------------------------------ config
def test_config_defaults_match_skeleton_and_videopose3d():
    cfg = LifterConfig()
    assert cfg.joints_left == list(skeleton.H36M.joints_left)
    assert cfg.joints_right == list(skeleton.H36M.joints_right)
    assert cfg.num_joints == skeleton.H36M.num_joints
    assert (cfg.filter_widths, cfg.channels, cfg.dropout, cfg.causal, cfg.dense) == (
        [3, 3, 3],
        1024,
        0.25,
        False,
        False,
    )
    assert cfg.model_type == "gcnrefine_lifter"


@pytest.mark.parametrize("rf", [27, 81, 243])
def test_config_receptive_field(rf):
    assert LifterConfig(filter_widths=WIDTHS[rf]).receptive_field == rf
    assert LifterConfig(filter_widths=(3, 3, 3)).filter_widths == [3, 3, 3]  # tuples become lists


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"filter_widths": [3, 2]}, "filter_widths"),
        ({"filter_widths": []}, "filter_widths"),
        ({"filter_widths": [3, -1]}, "filter_widths"),
        ({"channels": 0}, "channels"),
        ({"num_joints": True}, "num_joints"),
        ({"dropout": 1.0}, "dropout"),
        ({"causal": "yes"}, "causal"),
        ({"joints_left": [4, 17]}, "joints_left"),
        ({"joints_left": [4], "joints_right": [1, 2]}, "joints_right"),
        ({"joints_left": [1, 2], "joints_right": [2, 3]}, "joints_left/joints_right"),
        ({"bn_momentum": 2.0}, "bn_momentum"),
    ],
)
def test_config_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        LifterConfig(**kwargs)
    assert repr(next(iter(kwargs.values())))[:6] in str(info.value) or name == "joints_right"


def test_config_json_round_trip(tmp_path):
    cfg = LifterConfig(filter_widths=[3, 5, 3], channels=64, dropout=0.1, causal=True)
    cfg.save_pretrained(tmp_path)
    again = LifterConfig.from_pretrained(tmp_path)
    assert again.to_dict() == cfg.to_dict()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LifterConfig)


# ------------------------------------------------------------------ architecture
@pytest.mark.parametrize("rf", [27, 81, 243])
def test_shapes_and_receptive_field(rf):
    """Output length T - RF + 1, and output frame t sees exactly input frames t .. t + RF - 1."""
    model = small_model(WIDTHS[rf], channels=6)
    assert model.receptive_field == rf
    # With 6 channels some ReLUs are dead for a given input and could hide a dependence; the temporal
    # structure (kernels, dilations, residual crops) is what is checked, so make the activation linear.
    model.relu = torch.nn.Identity()
    t_in = rf + 3
    x = torch.randn(2, t_in, J, 2)
    y = model(x).poses_3d
    assert y.shape == (2, 4, J, 3)
    # Perturb input frame rf: outputs 1..3 see it, output 0 does not.
    x2 = x.clone()
    x2[:, rf] += 1.0
    changed = (model(x2).poses_3d - y).abs().amax(dim=(0, 2, 3)) > 1e-6
    assert changed.tolist() == [False, True, True, True]
    # Perturb input frame 0: only output 0 sees it.
    x3 = x.clone()
    x3[:, 0] += 1.0
    changed = (model(x3).poses_3d - y).abs().amax(dim=(0, 2, 3)) > 1e-6
    assert changed.tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match=f"at least {rf} frames"):
        model(x[:, : rf - 1])


@pytest.mark.parametrize(("rf", "expected"), [(27, 8_555_571), (81, 12_753_971), (243, 16_952_371)])
def test_parameter_count_matches_videopose3d(rf, expected):
    # VideoPose3D reports 8.56M (27 frames) and 16.95M (243 frames) parameters for 1024 channels.
    with torch.device("meta"):
        model = TemporalLifterModel(LifterConfig(filter_widths=WIDTHS[rf]))
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("widths", [[3, 3, 3], [3, 5, 3], [5, 3]])
def test_dilated_model_equals_strided_reference(widths):
    model = small_model(widths, channels=10)
    x = torch.randn(model.receptive_field + 12, J, 2)
    ours = model(x[None]).poses_3d[0]
    ref = reference_sequence(model.state_dict(), widths, x)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_dense_variant_same_receptive_field_more_parameters():
    dilated = small_model([3, 3, 3], channels=8)
    dense = small_model([3, 3, 3], channels=8, dense=True)
    assert dense.layers_conv[2].kernel_size == (19,)  # (3 - 1) * 9 + 1
    assert dense(torch.randn(1, 30, J, 2)).poses_3d.shape == (1, 4, J, 3)
    assert sum(p.numel() for p in dense.parameters()) > sum(p.numel() for p in dilated.parameters())


def test_forward_validates_input():
    model = small_model()
    with pytest.raises(ValueError, match=r"keypoints_2d: expected shape \(B, T, 17, 2\)"):
        model(torch.randn(30, J, 2))
    with pytest.raises(ValueError, match="keypoints_2d"):
        model(torch.randn(1, 30, 16, 2))


def test_loss_is_mpjpe_and_trains():
    model = small_model(channels=8).train()
    x = torch.randn(4, 27, J, 2)
    labels = torch.randn(4, 1, J, 3) * 0.2
    out = model(x, labels=labels)
    expected = (out.poses_3d - labels).norm(dim=-1).mean()
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model(x).loss is None and set(model(x).keys()) == {"poses_3d"}
    with pytest.raises(ValueError, match="labels"):
        model(x, labels=torch.zeros(4, 27, J, 3))


def test_set_bn_momentum():
    model = small_model()
    model.set_bn_momentum(0.01)
    assert {bn.momentum for bn in [model.expand_bn, *model.layers_bn]} == {0.01}
    with pytest.raises(ValueError, match="momentum"):
        model.set_bn_momentum(1.5)


# ------------------------------------------------------------------ lift()
def _manual_lift(model, pixels, size, flip):
    """Reference for lift(): normalise with geometry, edge-pad RF//2, one forward, optional flip average."""
    rf = model.receptive_field
    norm = geometry.normalize_screen_coordinates(pixels.astype(np.float64), *size).astype(np.float32)
    padded = torch.from_numpy(
        np.concatenate([norm[:1].repeat(rf // 2, 0), norm, norm[-1:].repeat(rf // 2, 0)])
    )
    with torch.no_grad():
        out = model(padded[None]).poses_3d[0].numpy()
        if not flip:
            return out
        mirrored = torch.from_numpy(skeleton.flip_poses(padded.numpy()))  # flip_poses negates x, swaps sides
        back = skeleton.flip_poses(model(mirrored[None]).poses_3d[0].numpy())
    return (out + back) / 2


@pytest.mark.parametrize("flip", [False, True])
def test_lift_matches_manual_pipeline(flip):
    model = small_model(channels=8)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1000, size=(20, J, 2))
    out = model.lift(pixels, image_size=(1000, 1002), flip_test=flip)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (20, J, 3)
    np.testing.assert_allclose(out, _manual_lift(model, pixels, (1000, 1002), flip), rtol=1e-4, atol=1e-5)


def test_lift_chunked_equals_single_pass_and_keeps_type_and_mode():
    model = small_model(channels=8).train()
    pixels = torch.rand(50, J, 2) * 720
    whole = model.lift(pixels, image_size=(1280, 720), batch_size=10_000)
    chunked = model.lift(pixels, image_size=(1280, 720), batch_size=7)
    assert isinstance(whole, torch.Tensor) and whole.shape == (50, J, 3) and whole.dtype == torch.float32
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    assert model.training  # restored
    # Short sequences (shorter than the receptive field) still give one output per frame.
    assert model.lift(pixels[:3].numpy(), image_size=(1280, 720)).shape == (3, J, 3)


def test_causal_lift_never_looks_ahead():
    model = small_model(channels=8, causal=True)
    pixels = np.random.default_rng(1).uniform(0, 500, size=(40, J, 2))
    out = model.lift(pixels, image_size=(500, 500), flip_test=False)
    later = pixels.copy()
    later[30:] += 50.0
    out2 = model.lift(later, image_size=(500, 500), flip_test=False)
    np.testing.assert_array_equal(out[:30], out2[:30])
    assert not np.allclose(out[30:], out2[30:])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"keypoints_2d": np.zeros((10, 16, 2))}, "keypoints_2d"),
        ({"keypoints_2d": np.zeros((0, J, 2))}, "keypoints_2d"),
        ({"keypoints_2d": np.full((10, J, 2), np.nan)}, "keypoints_2d"),
        ({"image_size": (1000,)}, "image_size"),
        ({"image_size": (0, 100)}, "image_size"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_lift_validates_input(kwargs, name):
    args = {"keypoints_2d": np.zeros((10, J, 2)), "image_size": (1000, 1000), **kwargs}
    with pytest.raises(ValueError, match=name):
        small_model().lift(**args)


# ------------------------------------------------------------------ save / load / auto classes
def test_save_pretrained_round_trip_and_auto_map(tmp_path):
    model = small_model([3, 5, 3], channels=8)
    x = torch.randn(1, 50, J, 2)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_lifter.LifterConfig",
        "AutoModel": "modeling_lifter.TemporalLifterModel",
    }
    assert (tmp_path / "modeling_lifter.py").is_file() and (tmp_path / "configuration_lifter.py").is_file()
    for loaded in (TemporalLifterModel.from_pretrained(tmp_path), AutoModel.from_pretrained(tmp_path)):
        assert isinstance(loaded, TemporalLifterModel) and not loaded.training
        torch.testing.assert_close(loaded(x).poses_3d, model(x).poses_3d)
        torch.testing.assert_close(loaded.layers_bn[3].running_var, model.layers_bn[3].running_var)


def test_saved_code_runs_without_the_package(tmp_path, monkeypatch):
    """The copied modeling file must work as remote code, where modeling_gcnrefine is not importable
    (its fallback normalisation must then equal geometry's)."""
    model = small_model(channels=8)
    model.save_pretrained(tmp_path)
    monkeypatch.setitem(sys.modules, "modeling_gcnrefine.geometry", None)  # import -> ImportError
    remote_cls = get_class_from_dynamic_module("modeling_lifter.TemporalLifterModel", str(tmp_path))
    assert remote_cls is not TemporalLifterModel
    remote_module = sys.modules[remote_cls.__module__]
    assert remote_module.normalize_screen_coordinates.__module__ == remote_module.__name__  # the fallback
    remote = remote_cls.from_pretrained(tmp_path)
    pixels = np.random.default_rng(2).integers(0, 1000, size=(12, J, 2))  # integer pixels on purpose
    monkeypatch.undo()
    np.testing.assert_allclose(
        remote.lift(pixels, (1000, 1002)), model.lift(pixels, (1000, 1002)), rtol=1e-5, atol=1e-6
    )


# ------------------------------------------------------------------ VideoPose3D converter
@pytest.mark.parametrize("zipfile_format", [True, False])
def test_converter_loads_official_checkpoint(tmp_path, zipfile_format):
    widths, channels = [3, 3, 3], 16
    state = official_state_dict(widths, channels)
    path = tmp_path / "pretrained_h36m_cpn.bin"
    torch.save(official_checkpoint(state), path, _use_new_zipfile_serialization=zipfile_format)
    model = load_videopose3d_checkpoint(path)
    assert model.config.filter_widths == widths and model.config.channels == channels
    assert not model.training
    x = torch.randn(35, J, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x[None]).poses_3d[0], reference_sequence(state, widths, x), rtol=1e-4, atol=1e-5
        )
    assert int(model.expand_bn.num_batches_tracked) == 1234


def test_converter_bare_state_dict_data_parallel_prefix_and_checks(tmp_path):
    widths = [3, 3, 3, 3]
    state = official_state_dict(widths, 8)
    path = tmp_path / "bare.bin"
    torch.save({f"module.{k}": v for k, v in state.items() if "num_batches_tracked" not in k}, path)
    model = load_videopose3d_checkpoint(path, filter_widths=widths, channels=8)
    assert model.receptive_field == 81
    torch.testing.assert_close(model.shrink.bias, state["shrink.bias"])
    with pytest.raises(
        ValueError, match=r"filter_widths: the checkpoint has \[3, 3, 3, 3\], got \[3, 3, 3\]"
    ):
        load_videopose3d_checkpoint(path, filter_widths=[3, 3, 3])
    with pytest.raises(ValueError, match="channels: the checkpoint has 8, got 1024"):
        load_videopose3d_checkpoint(path, channels=1024)
    broken = dict(state)
    broken["layers_conv.1.weight"] = torch.zeros(8, 8, 3)
    with pytest.raises(ValueError, match=r"layers_conv.1.weight"):
        lifter_from_videopose3d_state_dict(broken)
    with pytest.raises(ValueError, match="missing"):
        lifter_from_videopose3d_state_dict({k: v for k, v in state.items() if k != "layers_bn.2.running_var"})
    with pytest.raises(ValueError, match="unexpected"):
        lifter_from_videopose3d_state_dict({**state, "extra.weight": torch.zeros(1)})


def test_converter_dense_checkpoint():
    model = small_model([3, 3], channels=8, dense=True)
    loaded = lifter_from_videopose3d_state_dict(model.state_dict(), dense=True)
    assert loaded.config.filter_widths == [3, 3] and loaded.config.dense
    x = torch.randn(1, 12, J, 2)
    torch.testing.assert_close(loaded(x).poses_3d, model(x).poses_3d)


class NotATensor:
    """A custom class: weights_only=True must refuse to rebuild it."""

    def __init__(self):
        self.value = 1


@pytest.mark.parametrize(
    "payload", [NotATensor(), np.random.RandomState(0)], ids=["custom-class", "numpy-rng"]
)
def test_converter_refuses_pickled_objects_with_clear_message(tmp_path, payload):
    path = tmp_path / "with_objects.bin"
    torch.save(official_checkpoint(official_state_dict([3, 3, 3], 8), {"random_state": payload}), path)
    with pytest.raises(ValueError) as info:
        load_videopose3d_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "weights_only=True" in message
    assert "torch.save({'model_pos': model_pos.state_dict()}, 'clean.bin')" in message
    assert "weights_only=False" not in message  # no recipe for unpickling is ever printed
    assert "add_safe_globals" in message and "safe_globals=" in message
    assert "Unsupported global" in message  # torch's reason is passed on
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)


def test_converter_safe_globals_opt_in_is_scoped(tmp_path):
    path = tmp_path / "rng.bin"
    torch.save(
        official_checkpoint(official_state_dict([3, 3, 3], 8), {"random_state": np.random.RandomState(0)}),
        path,
    )
    trusted = [
        np.random.RandomState,
        np.random.MT19937,
        np.random._pickle.__randomstate_ctor,
        np.random._pickle.__bit_generator_ctor,
        np._core.multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        np.dtypes.UInt32DType,
    ]
    assert load_videopose3d_checkpoint(path, safe_globals=trusted).config.channels == 8
    with pytest.raises(ValueError, match="weights_only"):  # the allow-list did not leak into the process
        load_videopose3d_checkpoint(path)


def test_converter_rejects_non_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_videopose3d_checkpoint(garbage)
    other = tmp_path / "other.bin"
    torch.save({"epoch": 3, "weights": {}}, other)
    with pytest.raises(ValueError, match="model_pos"):
        load_videopose3d_checkpoint(other)
    with pytest.raises(FileNotFoundError):
        load_videopose3d_checkpoint(tmp_path / "missing.bin")


def test_convert_to_folder_and_cli(tmp_path, capsys):
    state = official_state_dict([3, 3, 3], 8)
    ckpt = tmp_path / "ckpt.bin"
    torch.save(official_checkpoint(state), ckpt)
    out = tmp_path / "lifter"
    convert_videopose3d(ckpt, out)
    loaded = AutoModel.from_pretrained(out)
    torch.testing.assert_close(loaded.expand_conv.weight, state["expand_conv.weight"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind

    assert main(["lift", "convert", str(ckpt), str(out)]) == 2  # exists and not empty
    assert "--force" in capsys.readouterr().err
    before = (out / "model.safetensors").stat().st_mtime_ns
    assert main(["lift", "convert", str(ckpt), str(out), "--force", "--filter-widths", "3", "3", "3"]) == 0
    assert (out / "model.safetensors").stat().st_mtime_ns >= before
    assert main(["lift", "convert", str(ckpt), str(tmp_path / "x"), "--channels", "4"]) == 2
    assert "gcnrefine lift: error: channels" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

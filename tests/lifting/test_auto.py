"""load_lifter: one entry point for the temporal lifter, SemGCN folders and SemGCN checkpoint files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_REFINER
from test_semgcn import upstream_checkpoint, upstream_state_dict

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.lifting import LifterConfig, SemGCNModel, TemporalLifterModel, load_lifter
from modeling_gcnrefine.lifting.convert_semgcn import semgcn_from_state_dict
from modeling_gcnrefine.recipes.backbone import load_pretrained_lifter


def test_folders_of_both_lifters_load_as_their_own_class(tmp_path):
    torch.manual_seed(0)
    temporal = TemporalLifterModel(LifterConfig(filter_widths=[3], channels=8))
    temporal.save_pretrained(tmp_path / "temporal")
    semgcn = semgcn_from_state_dict(upstream_state_dict(hidden=8, num_blocks=1))
    semgcn.save_pretrained(tmp_path / "semgcn")
    loaded = load_lifter(tmp_path / "temporal")
    assert type(loaded) is TemporalLifterModel and not loaded.training
    loaded = load_lifter(str(tmp_path / "semgcn"))
    assert type(loaded) is SemGCNModel and not loaded.training
    keypoints = np.random.default_rng(0).uniform(100, 900, (5, 17, 2)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.lift(keypoints, image_size=(1000, 1000)), semgcn.eval().lift(keypoints, image_size=(1000, 1000)), atol=1e-6
    )


def test_a_semgcn_checkpoint_file_is_converted_in_memory(tmp_path):
    state = upstream_state_dict(hidden=8, num_blocks=2, seed=3)
    path = tmp_path / "ckpt_semgcn.pth.tar"
    torch.save(upstream_checkpoint(state), path)
    model = load_pretrained_lifter(path)
    assert type(model) is SemGCNModel
    torch.testing.assert_close(model.output_conv.bias, state["gconv_output.bias"])


def test_another_model_type_is_refused_naming_it(tmp_path):
    GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).save_pretrained(tmp_path / "refiner")
    with pytest.raises(ValueError, match=r"pretrained_lifter: expected a lifter of model type .*got model type 'gcnrefine'"):
        load_lifter(tmp_path / "refiner")

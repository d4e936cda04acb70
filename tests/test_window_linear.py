"""`window_linear`: a whole-window linear map added to the refiner's output, zero until fitted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_REFINER

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel


def _pair(**extra):
    plain = GCNRefineModel(GCNRefineConfig(num_frames=5, predict_residual=True, **TINY_REFINER)).eval()
    mapped = GCNRefineModel(GCNRefineConfig(num_frames=5, predict_residual=True, window_linear=True, **TINY_REFINER, **extra)).eval()
    missing, unexpected = mapped.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["window_linear.bias", "window_linear.weight"] and not unexpected
    return plain, mapped


def test_off_by_default_and_validated():
    assert GCNRefineConfig().window_linear is False
    assert GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).window_linear is None
    with pytest.raises(ValueError, match=r"window_linear: expected True or False, got 'yes'"):
        GCNRefineConfig(window_linear="yes")


def test_starts_as_no_change_and_then_adds_its_map():
    plain, mapped = _pair()
    assert mapped.window_linear.weight.shape == (5 * 17 * 3, 5 * 17 * 3)
    assert not mapped.window_linear.weight.any() and not mapped.window_linear.bias.any()
    poses = torch.randn(2, 5, 17, 3) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(mapped(poses).refined, plain(poses).refined)
        mapped.window_linear.bias.fill_(0.01)  # a constant shift of every coordinate
        shifted = mapped(poses).refined
    expected = plain(poses).refined + 0.01
    expected[:, :, 0] = 0  # the root stays pinned
    torch.testing.assert_close(shifted, expected)


def test_round_trip_keeps_the_map(tmp_path):
    _, mapped = _pair()
    with torch.no_grad():
        mapped.window_linear.weight.normal_(0, 1e-3)
    mapped.save_pretrained(tmp_path)
    loaded = GCNRefineModel.from_pretrained(tmp_path)
    assert loaded.config.window_linear
    torch.testing.assert_close(loaded.window_linear.weight, mapped.window_linear.weight)
    sequence = np.random.default_rng(0).normal(0, 0.2, (30, 17, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.refine(sequence), mapped.refine(sequence), atol=1e-6)

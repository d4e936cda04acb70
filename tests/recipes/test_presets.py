"""The ablation's variant choice (no harm on clean validation input first, then occluded MPJPE) and
the presets it chooses among."""

from __future__ import annotations

import pytest

from modeling_gcnrefine import GCNRefineConfig
from modeling_gcnrefine.modeling_gcnrefine import DEFAULT_CHECKPOINT_NAME, SHIPPED_CHECKPOINTS_DIR
from modeling_gcnrefine.recipes.presets import (
    COMPACT_CHECKPOINT_NAME,
    PAPER_CHECKPOINT_NAME,
    RELEASED_VARIANT,
    choose_variant,
    refiner_config,
)


def _table(**rows):
    return {name: dict(zip(("backbone", "paper", "residual", "residual+confidence"), values)) for name, values in rows.items()}


def test_harmful_variants_lose_even_when_best_under_occlusion():
    table = _table(occluded=(75.0, 60.0, 72.0, 71.6), visible_only=(58.0, 70.0, 56.0, 56.5))
    assert choose_variant(table) == "residual"  # paper: best occluded but 21 % worse clean; 71.6 ties 72


def test_virtual_rows_count_for_harm_and_for_the_score():
    table = _table(
        occluded=(75.0, 74.0, 72.0, 70.0),
        visible_only=(58.0, 58.0, 56.0, 56.0),
        **{"virtual/occluded": (100.0, 99.0, 99.0, 98.0), "virtual/visible_only": (85.0, 84.0, 86.5, 84.0)},
    )
    # residual does harm on unseen viewpoints (86.5 > 1.01 x 85); residual+confidence wins on the mean.
    assert choose_variant(table) == "residual+confidence"


def test_table_without_any_variant_column_is_refused():
    with pytest.raises(ValueError, match="expected columns among"):
        choose_variant({"occluded": {"backbone": 75.0, "mystery": 70.0}})


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="variant: expected one of"):
        refiner_config("residual+magic")


@pytest.mark.parametrize(("name", "compact"), [(PAPER_CHECKPOINT_NAME, False), (COMPACT_CHECKPOINT_NAME, True)])
def test_shipped_checkpoints_are_the_released_presets(name, compact):
    # Guards the names: reproduce.py writes these folders from these presets.
    shipped = GCNRefineConfig.from_pretrained(SHIPPED_CHECKPOINTS_DIR / name).to_dict()
    preset = refiner_config(RELEASED_VARIANT, compact=compact).to_dict()
    fields = ("joint_channels", "part_channels", "fusion_channels", "non_local_channels", "predict_residual",
              "in_channels", "num_frames")
    assert {f: shipped[f] for f in fields} == {f: preset[f] for f in fields}


def test_default_checkpoint_is_the_long_range_lifter_bank_refiner():
    """README "One refiner for every lifter": long_range with the frozen 9-frame ridge map, confidence optional."""
    shipped = GCNRefineConfig.from_pretrained(SHIPPED_CHECKPOINTS_DIR / DEFAULT_CHECKPOINT_NAME)
    assert shipped.architecture == "long_range" and shipped.window_linear and shipped.window_linear_frames == 9
    assert shipped.in_channels == 4 and shipped.predict_residual and not shipped.causal
    assert shipped.receptive_field == 81
    # Chosen on the held-out subject (README): refine() keeps the input's bone lengths (one per bone and
    # sequence) and each frame's orientation, so the refiner corrects the articulation only.
    assert shipped.constant_bone_lengths and shipped.bone_lengths_from == "input" and shipped.keep_input_orientation
    # and smooths the result over time (sigma 4 frames, chosen on the held-out subject by the same rule).
    assert shipped.smoothing_sigma == 4.0
    # A sequence the refiner turns by more than 12 degrees (median) keeps its orientation and bones (same choice).
    assert shipped.global_correction_min_degrees == 12.0
    # It keeps three quarters of its change where it moves a sequence less than 50 mm (median joint), all of it
    # beyond (chosen on both held-out subjects, README "Keeping part of the lifter's estimate").
    assert (shipped.change_weight, shipped.full_change_min) == (0.75, 0.05)
    paper = GCNRefineConfig.from_pretrained(SHIPPED_CHECKPOINTS_DIR / PAPER_CHECKPOINT_NAME)
    assert not paper.constant_bone_lengths and paper.smoothing_sigma == 0  # the paper's model stays as the paper has it
    assert paper.change_weight == 1.0 and paper.full_change_min is None
    # SemGCN's own refiner smooths too (sigma 4, chosen on its held-out SS1/SS2 motions, README).
    assert GCNRefineConfig.from_pretrained(SHIPPED_CHECKPOINTS_DIR / "gcnrefine-semgcn-h36m").smoothing_sigma == 4.0

"""The ablation's variant choice: no harm on clean validation input first, then occluded MPJPE."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("ablation", REPO_ROOT / "benchmarks" / "ablation.py")
ablation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablation)


def _table(**rows):
    return {name: dict(zip(("backbone", "paper", "residual", "residual+confidence"), values)) for name, values in rows.items()}


def test_harmful_variants_lose_even_when_best_under_occlusion():
    table = _table(occluded=(75.0, 60.0, 72.0, 71.6), visible_only=(58.0, 70.0, 56.0, 56.5))
    assert ablation.choose_variant(table) == "residual"  # paper: best occluded but 21 % worse clean; 71.6 ties 72


def test_virtual_rows_count_for_harm_and_for_the_score():
    table = _table(
        occluded=(75.0, 74.0, 72.0, 70.0),
        visible_only=(58.0, 58.0, 56.0, 56.0),
        **{"virtual/occluded": (100.0, 99.0, 99.0, 98.0), "virtual/visible_only": (85.0, 84.0, 86.5, 84.0)},
    )
    # residual does harm on unseen viewpoints (86.5 > 1.01 x 85); residual+confidence wins on the mean.
    assert ablation.choose_variant(table) == "residual+confidence"

"""The model card is rendered from an evaluation report: YAML metadata and model-index included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard

from modeling_gcnrefine.evaluation.records import SequenceRecord, evaluate_records
from modeling_gcnrefine.recipes.model_card import render_model_card, write_model_card


def _report() -> dict:
    rng = np.random.default_rng(0)
    target = rng.normal(scale=0.2, size=(20, 17, 3))
    visibility = rng.random((20, 17)) > 0.3
    presets = {}
    for preset, noise in (("occluded", 0.05), ("visible_only", 0.02)):
        methods = {}
        for method, scale in (("backbone", 1.0), ("gcn", 0.6), ("gcn_compact", 0.65), ("savgol", 0.9)):
            predicted = target + rng.normal(scale=noise * scale, size=target.shape)
            methods[method] = evaluate_records([SequenceRecord("SS3", "Focus", 0, predicted, target, visibility)])
        presets[preset] = methods
    return {"presets": presets, "meta": {"throughput": {"gcn": 400.0, "gcn_compact": 2400.0}, "flip_test": True}}


def test_model_card_has_metadata_and_measured_results(tmp_path):
    report = _report()
    text = render_model_card(report, {"num_frames": 3, "joint_channels": [128, 128, 256], "part_channels": [512, 512]})
    card = ModelCard(text)
    assert card.data.license == "mit" and card.data.library_name == "transformers"
    results = card.data.eval_results
    assert results and {r.metric_type for r in results} >= {"mpjpe", "p_mpjpe"}
    gcn_mpjpe = report["presets"]["occluded"]["gcn"]["mean"]["mpjpe"]
    assert any(r.metric_type == "mpjpe" and abs(r.metric_value - round(gcn_mpjpe, 2)) < 1e-9 for r in results)
    for section in ("## Training data and procedure", "## Evaluation", "### Limits of this evaluation", "## Citation"):
        assert section in text
    assert "simulated" in text and "left and right" in text
    # The limits say where the gain comes from, from the report's own numbers.
    from modeling_gcnrefine.recipes.goals import occlusion_headroom

    headroom = occlusion_headroom(report)["mpjpe"]
    assert f"Occlusion adds {headroom['added_by_occlusion']:.1f} mm" in text
    assert f"closes {headroom['methods']['gcn']['gap_closed_pct']:.0f} % of that occluded-vs-clean gap" in text

    report_path, config_path = tmp_path / "report.json", tmp_path / "config.json"
    report_path.write_text(json.dumps(report))
    config_path.write_text(json.dumps({"num_frames": 3}))
    out = write_model_card(report_path, config_path, tmp_path / "card.md")
    assert ModelCard.load(out).data.eval_results


def test_model_card_says_where_a_long_range_model_departs_from_the_paper():
    report = _report()
    paper = render_model_card(report, {"num_frames": 3})
    assert "Architecture and training follow *3D Human Pose" in paper and "depart from the paper" not in paper
    long_range = render_model_card(report, {"architecture": "long_range", "num_frames": 121})
    assert "Architecture and training follow" not in long_range
    assert "Its neighbour-class graph and residual refinement follow *3D Human Pose" in long_range
    assert "training on several lifters' outputs depart from the paper" in long_range


def test_model_card_names_the_backbone_it_was_trained_on():
    report = _report()
    built_in = render_model_card(report, {"num_frames": 3})
    assert "built-in temporal lifter" in built_in and "the built-in lifter as the backbone" in built_in
    report["meta"]["backbone_metrics"] = {"settings": {"pretrained_lifter": "lifters/vp3d_h36m_cpn"}}
    pretrained = render_model_card(report, {"num_frames": 3})
    assert "built-in" not in pretrained and "out-of-fold" not in pretrained
    assert "trained outside BlendMimic3D (`lifters/vp3d_h36m_cpn`)" in pretrained
    assert "the lifter `lifters/vp3d_h36m_cpn` as the backbone" in pretrained


# ------------------------------------------------------------------ model-index: one result per preset
ROOT = Path(__file__).resolve().parents[2]
COMMITTED_CARDS = [ROOT / "model_card.md", ROOT / "modeling_gcnrefine" / "checkpoints" / "gcnrefine-blendmimic3d" / "README.md"]
METRIC_COLUMNS = {"mpjpe": "MPJPE", "p_mpjpe": "P-MPJPE", "mpjpe_occluded": "occluded-joint MPJPE"}


def _results_by_preset(card: ModelCard) -> dict[str, dict[str, float]]:
    """``{preset: {metric: value}}`` from the parsed model-index; each (preset, metric) exactly once."""
    by_preset: dict[str, dict[str, float]] = {}
    for result in card.data.eval_results:
        metrics = by_preset.setdefault(result.dataset_config, {})
        assert result.metric_type not in metrics, (result.dataset_config, result.metric_type)
        metrics[result.metric_type] = result.metric_value
    return by_preset


def _assert_presets_stay_apart(card: ModelCard) -> None:
    results = card.data.eval_results
    names = {r.dataset_config: r.dataset_name for r in results}
    assert set(names) == {"occluded", "visible_only"}
    assert len(set(names.values())) == 2, names  # the Hub shows the dataset name: different per preset
    for result in results:
        assert result.dataset_split == "test"
        assert result.dataset_args == {"data_config": "sequences", "detections": result.dataset_config}
        assert result.dataset_config in result.dataset_name
    # What the Hub reads: one model-index entry per preset, not one merged entry.
    entries = card.data.to_dict()["model-index"][0]["results"]
    assert [entry["dataset"]["config"] for entry in entries] == ["occluded", "visible_only"]
    assert [len(entry["metrics"]) for entry in entries] == [3, 3]


def test_model_index_keeps_the_detection_presets_apart():
    report = _report()
    card = ModelCard(render_model_card(report, {"num_frames": 3}))
    _assert_presets_stay_apart(card)
    assert len(card.data.eval_results) == 6
    expected = {
        preset: {metric: round(report["presets"][preset]["gcn"]["mean"][metric], 2) for metric in METRIC_COLUMNS}
        for preset in ("occluded", "visible_only")
    }
    assert _results_by_preset(card) == expected
    assert expected["occluded"]["mpjpe"] != expected["visible_only"]["mpjpe"]


def test_model_index_lists_only_the_presets_in_the_report():
    report = _report()
    del report["presets"]["visible_only"]
    results = ModelCard(render_model_card(report, {"num_frames": 3})).data.eval_results
    assert {r.dataset_config for r in results} == {"occluded"} and len(results) == 3


def _markdown_table(text: str) -> dict[str, dict[str, float]]:
    """``{method: {column: value}}`` from the card's results table (the one with a 'method' header)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    start = next(i for i, line in enumerate(lines) if line.startswith("| method |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    table = {}
    for line in lines[start + 2 :]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != len(header):
            break
        table[cells[0]] = {column: float(cell) for column, cell in zip(header[1:], cells[1:]) if cell != "n/a"}
    return table


@pytest.mark.parametrize("path", COMMITTED_CARDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_card_model_index_matches_its_results_table(path):
    text = path.read_text()
    card = ModelCard(text)
    _assert_presets_stay_apart(card)
    assert card.data.model_name == "gcnrefine-blendmimic3d" and len(card.data.eval_results) == 6
    gcn_row = _markdown_table(card.text)["gcn"]
    by_preset = _results_by_preset(card)
    for preset, metrics in by_preset.items():
        assert set(metrics) == set(METRIC_COLUMNS)
        for metric, value in metrics.items():
            # the table prints one decimal, the model-index two
            assert abs(value - gcn_row[f"{preset} {METRIC_COLUMNS[metric]}"]) <= 0.05 + 1e-9, (preset, metric)
    assert by_preset["occluded"]["mpjpe"] > by_preset["visible_only"]["mpjpe"]
    # The header is what the renderer writes for these numbers.
    report = {"presets": {p: {"gcn": {"mean": m}} for p, m in by_preset.items()}}
    rendered = render_model_card(report, {})
    assert text.split("\n---\n", 1)[0] == rendered.split("\n---\n", 1)[0]


def test_committed_cards_are_identical():
    assert COMMITTED_CARDS[0].read_text() == COMMITTED_CARDS[1].read_text()


def test_card_prints_no_unmeasured_number_about_swapped_labels():
    text = render_model_card(_report(), {"num_frames": 3})
    line = next(line for line in text.split("\n- ") if "left and right mirrored" in line)
    assert "mm" not in line and "anatomical convention" in line
    for path in COMMITTED_CARDS:
        assert "270 mm" not in path.read_text()


def test_model_card_prints_every_bank_lifter_when_given():
    from modeling_gcnrefine.recipes.model_card import bank_section

    row = {"alone": {"mpjpe": 200.0, "mpjpe_occluded": 180.0, "acceleration_error": 50.0},
           "refined": {"mpjpe": 150.0, "mpjpe_occluded": None, "acceleration_error": 5.0}}
    text = render_model_card(_report(), {"num_frames": 3}, bank_goals={"table": {"SemGCN": {"real": row}}})
    assert "| SemGCN | real | 200.0 → 150.0 | 25.0 % | - | 50.0 → 5.0 |" in text
    assert bank_section(None) == "" and "Every lifter" not in render_model_card(_report(), {"num_frames": 3})

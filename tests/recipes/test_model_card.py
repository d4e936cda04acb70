"""The model card is rendered from an evaluation report: YAML metadata and model-index included."""

from __future__ import annotations

import json

import numpy as np
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


def test_model_card_names_the_backbone_it_was_trained_on():
    report = _report()
    built_in = render_model_card(report, {"num_frames": 3})
    assert "built-in temporal lifter" in built_in and "the built-in lifter as the backbone" in built_in
    report["meta"]["backbone_metrics"] = {"settings": {"pretrained_lifter": "lifters/vp3d_h36m_cpn"}}
    pretrained = render_model_card(report, {"num_frames": 3})
    assert "built-in" not in pretrained and "out-of-fold" not in pretrained
    assert "trained outside BlendMimic3D (`lifters/vp3d_h36m_cpn`)" in pretrained
    assert "the lifter `lifters/vp3d_h36m_cpn` as the backbone" in pretrained

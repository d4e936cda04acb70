"""The model card of a trained refiner, written from its evaluation report (no hand-typed numbers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..evaluation.records import GCN
from ..utils.io import write_atomic
from .goals import check_goals, occlusion_headroom

REPO_ID = "gcnrefine/gcnrefine-blendmimic3d"


DATASET_ID = "gcnrefine/blendmimic3d"

# The evaluated detection presets and how the card names them (headline and model-index).
PRESET_LABELS = {"occluded": "occluded detections", "visible_only": "clean detections"}


_BODY = """
# gcnrefine: ST-GCN refinement of 3D human poses under occlusion (BlendMimic3D)

A spatial-temporal graph convolutional network that takes any 2D-to-3D lifter's poses
(Human3.6M-17 joints, metres, camera frame) and returns refined poses, with no retraining of the
lifter. {origin} *3D Human Pose Estimation with Occlusions: Introducing
BlendMimic3D Dataset and GCN Refinement* (Lino, Santiago, Marques, CVPR 2024 Workshops), built on
Cai et al. (ICCV 2019); this is an independent implementation (the `gcnrefine` package).{departure}

**Measured on the test subject:** {headline}

## Use

```python
from transformers import AutoModel
refiner = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True)
refined = refiner.refine(poses)          # poses: (T, 17, 3) or (B, T, 17, 3), numpy or torch, metres
```

or, with the package installed, `GCNRefineModel.from_pretrained()` (this checkpoint ships with it)
and `gcnrefine refine poses.npy -o refined.npy`.

Intended use: research on 3D human pose estimation, refining a lifter's output where joints are
occluded. Input must be in metres, Human3.6M-17 order with anatomical left/right, camera frame
(y down). Not intended for safety-critical decisions about people.

## Model

{config_summary}

## Training data and procedure

- Data: BlendMimic3D SS1 + SS2 (SS3 is the test subject and was never read by training or model
  selection). {lifter_sentence} {detections}{virtual_views}
- Validation: whole motions held out from SS1 + SS2: {validation}.
- Augmentation: {augmentation}
- Optimiser: Adam with AMSGrad, lr 1e-3, x0.95 per epoch and x0.5 every 5th epoch; losses MPJPE +
  velocity + symmetry. Training details: {training}.

## Evaluation

Protocol: SS3, all 4 cameras, fixed detection seeds, {backbone_name} as the backbone; MPJPE is
the mean over 17 joints of root-relative errors, averaged per action and then over actions.
Flip test: {flip_test}. Classical filters were tuned on the validation motions, not on SS3.

{results_table}

Goals of the project, measured:

{goals_table}
{bank_section}
### Limits of this evaluation

- The `occluded`, `realistic` and `visible_only` detections are **simulated** from ground truth with an
  occlusion-aware error model (`realistic` calibrated on a real detector's errors on SS1/SS2); `real`
  rows are BlazePose on the upstream videos. Other detectors fail differently.
- {backbone_limit}
{headroom_line}- SS3 is small: 4 actions, 2,920 camera-frames.
- BlendMimic3D's upstream files label left and right mirrored against Human3.6M; the dataset was
  converted to the anatomical convention (scored in the other convention, even a perfect pose is
  wrong on every left/right joint).

## Citation

```bibtex
@inproceedings{{lino2024blendmimic3d,
  title     = {{3D Human Pose Estimation with Occlusions: Introducing BlendMimic3D Dataset and GCN Refinement}},
  author    = {{Lino, Filipa and Santiago, Carlos and Marques, Manuel}},
  booktitle = {{Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR) Workshops}},
  year      = {{2024}}
}}
```
"""


def _mean(report: dict, preset: str, method: str, metric: str) -> float | None:
    try:
        return report["presets"][preset][method]["mean"][metric]
    except KeyError:
        return None


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def results_table(report: dict) -> str:
    presets = [p for p in PRESET_LABELS if p in report["presets"]]
    methods = list(report["presets"][presets[0]]) if presets else []
    header = "| method | " + " | ".join(
        f"{p} MPJPE | {p} P-MPJPE | {p} occluded-joint MPJPE | {p} MPJVE" for p in presets
    ) + " |"
    lines = [header, "|" + "---|" * (1 + 4 * len(presets))]
    for method in methods:
        cells = []
        for preset in presets:
            cells += [_fmt(_mean(report, preset, method, m)) for m in ("mpjpe", "p_mpjpe", "mpjpe_occluded", "mpjve")]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "All values in mm, SS3 test subject.\n\n" + "\n".join(lines)


def goals_table(goals: list[dict]) -> str:
    lines = ["| goal | target | measured | status |", "|---|---|---|---|"]
    for goal in goals:
        status = {True: "PASS", False: "FAIL", None: "n/a"}[goal["passed"]]
        measured = goal["measured"]
        value = "n/a" if measured is None else f"{measured:.2f}{goal.get('unit', '')}"
        lines.append(f"| {goal['description']} | {goal['target']} | {value} | {status} |")
    return "\n".join(lines)


def headline(report: dict) -> str:
    """One sentence with the GCN's MPJPE change against the backbone on occluded and clean SS3 input."""
    parts = []
    for preset, label in PRESET_LABELS.items():
        base, gcn = _mean(report, preset, "backbone", "mpjpe"), _mean(report, preset, "gcn", "mpjpe")
        if base and gcn is not None:
            parts.append(f"{label}: {base:.1f} -> {gcn:.1f} mm ({100 * (gcn - base) / base:+.1f} %)")
    verdict = ""
    if parts:
        better = all(
            _mean(report, p, "gcn", "mpjpe") < _mean(report, p, "backbone", "mpjpe")
            for p in PRESET_LABELS
            if _mean(report, p, "backbone", "mpjpe")
        )
        verdict = " The refiner improves this backbone." if better else (
            " This release does **not** improve this backbone on the unseen test scene; see the goals below."
        )
    return "; ".join(parts) + "." + verdict if parts else "no evaluation report."


def bank_section(bank: dict | None) -> str:
    """The SS3 table of every bank lifter from ``benchmarks/studies/lifter_bank.py goals``' goals.json
    (``{"table": {lifter: {detections: {"alone": {...}, "refined": {...}}}}}``); "" without one."""
    if not bank or not bank.get("table"):
        return ""
    lines = [
        "",
        "Every lifter of the bank on SS3, this checkpoint with its defaults (`benchmarks/studies/lifter_bank.py goals`):",
        "MPJPE, occluded-joint MPJPE (mm) and acceleration error (mm/frame²), alone → refined.",
        "",
        "| lifter | detections | MPJPE | cut | occluded-joint MPJPE | acceleration error |",
        "|---|---|---|---|---|---|",
    ]
    for lifter, rows in bank["table"].items():
        for detections, row in rows.items():
            alone, refined = row["alone"], row["refined"]
            cut = 100 * (alone["mpjpe"] - refined["mpjpe"]) / alone["mpjpe"]
            lines.append(
                f"| {lifter} | {detections} | {alone['mpjpe']:.1f} → {refined['mpjpe']:.1f} | {cut:.1f} % "
                f"| {_fmt_pair(alone, refined, 'mpjpe_occluded')} | {_fmt_pair(alone, refined, 'acceleration_error')} |"
            )
    return "\n".join(lines) + "\n"


def _fmt_pair(alone: dict, refined: dict, key: str) -> str:
    if alone.get(key) is None or refined.get(key) is None:
        return "-"
    return f"{alone[key]:.1f} → {refined[key]:.1f}"


def render_model_card(
    report: dict, config: dict, training: dict | None = None, repo_id: str = REPO_ID, bank_goals: dict | None = None
) -> str:
    """Markdown with the Hub YAML header (license, library, tags, datasets, metrics, model-index).

    The model-index has one result per detection preset (``dataset.config`` is the preset name), so
    the Hub lists the occluded and the clean numbers apart.
    """
    eval_results = []
    for preset, label in PRESET_LABELS.items():
        for metric, name in (("mpjpe", "MPJPE"), ("p_mpjpe", "P-MPJPE"), ("mpjpe_occluded", "occluded-joint MPJPE")):
            value = _mean(report, preset, "gcn", metric)
            if value is not None:
                eval_results.append(
                    EvalResult(
                        task_type="keypoint-detection",
                        task_name="3D human pose refinement",
                        dataset_type=DATASET_ID,
                        # huggingface_hub merges results that share task, dataset type, config, split and
                        # revision, so each detection preset is its own config: one model-index entry each.
                        dataset_name=f"BlendMimic3D SS3 ({label}, preset {preset})",
                        dataset_config=preset,
                        dataset_split="test",
                        dataset_args={"data_config": "sequences", "detections": preset},
                        metric_type=metric,
                        metric_name=f"{name} (mm)",
                        metric_value=round(float(value), 2),
                    )
                )
    data = ModelCardData(
        license="mit",
        library_name="transformers",
        tags=["3d-human-pose-estimation", "pose-refinement", "graph-convolution", "occlusion", "gcnrefine"],
        datasets=[DATASET_ID],
        metrics=["mpjpe", "p_mpjpe", "mpjve"],
        pipeline_tag="keypoint-detection",
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results,
    )
    meta = report.get("meta", {})
    summary = _config_summary(config, meta)
    settings = meta.get("backbone_metrics", {}).get("settings", {})
    refiner_views = (training or {}).get("virtual_views_per_action", 0)
    bank = (training or {}).get("lifter_bank")
    long_range = config.get("architecture") == "long_range"
    body = _BODY.format(
        origin="Its neighbour-class graph and residual refinement follow" if long_range else "Architecture and training follow",
        departure=(
            " Its long temporal range and its training on several lifters' outputs depart from the paper (see Model)."
            if long_range
            else ""
        ),
        lifter_sentence=_bank_sentence(bank, (training or {}).get("fold_by", "motion")) if bank else _lifter_sentence(settings),
        backbone_limit=_backbone_limit(settings),
        headroom_line=_headroom_line(report),
        backbone_name=f"the lifter `{settings['pretrained_lifter']}`" if settings.get("pretrained_lifter") else "the built-in lifter",
        virtual_views=(
            f" The refiner also trains on {refiner_views} virtual camera views per SS1/SS2 action, viewpoints"
            " its lifters never saw (`modeling_gcnrefine.data.virtual_cameras`)."
            if refiner_views
            else ""
        ),
        headline=headline(report),
        detections=(training or {}).get(
            "detections", "Detections mix the `occluded` and `visible_only` presets over several seeds."
        ),
        augmentation=(training or {}).get(
            "augmentation",
            "random mirror and random viewpoint change (yaw over the full circle, tilt ±20°), the same for "
            "input and target.",
        ),
        repo_id=repo_id,
        config_summary=summary,
        validation=", ".join("/".join(m) for m in meta.get("validation_motions", [])) or "n/a",
        training=json.dumps(
            {k: v for k, v in (training or {}).items() if k not in ("lifter_bank", "detections", "augmentation", "fold_by")},
            sort_keys=True,
        ),
        flip_test=meta.get("flip_test"),
        results_table=results_table(report),
        goals_table=goals_table(report.get("goals") or check_goals(report)),
        bank_section=bank_section(bank_goals),
    )
    return str(ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n" + body))


def _config_summary(config: dict, meta: dict) -> str:
    """One line on the architecture, its size and its measured speed."""
    size = (
        f"{meta.get('parameters', {}).get('gcn', 'n/a')} parameters; "
        f"{_fmt(meta.get('throughput', {}).get('gcn'))} frames/s on a 2-core CPU."
    )
    if config.get("architecture") == "long_range":
        dilations = config.get("temporal_dilations", [])
        field = 1 + (config.get("temporal_kernel_size", 3) - 1) * sum(dilations)
        linear = (
            f", plus the ridge baseline as a frozen sliding map over {config.get('window_linear_frames')} frames"
            if config.get("window_linear") else ""
        )
        return (
            f"`GCNRefineConfig` long_range: a per-frame graph convolution over the paper's neighbour classes "
            f"(widths {config.get('spatial_channels')}), dilated temporal convolutions {dilations} "
            f"(receptive field {field} frames, {config.get('temporal_channels')} channels), sequence to sequence "
            f"(chunks of {config.get('chunk_length')} frames, overlaps blended){linear}; residual prediction: "
            f"{config.get('predict_residual', False)}, detector confidence optional (input channels "
            f"{config.get('in_channels', 3)}); {size}"
        )
    return (
        f"`GCNRefineConfig`: window of {config.get('num_frames')} frames, joint widths "
        f"{config.get('joint_channels')}, part widths {config.get('part_channels')}, "
        f"residual prediction: {config.get('predict_residual', False)}, input channels: {config.get('in_channels', 3)}; "
        + size
    )


def _bank_sentence(bank: list[str], fold_by: str = "motion") -> str:
    """Where the refiner's input poses came from when it trained on several lifters (``fold_by``: the
    backbone's fold scheme, ``"motion"`` or ``"subject"``)."""
    folds = (
        "predict each of SS1/SS2 with the lifter trained on the other subject, so the refiner sees the errors each"
        " makes on a person, scene and cameras it never saw"
        if fold_by == "subject"
        else "predict SS1/SS2 out of fold (trained on the other half of the actions), so the refiner sees the"
        " errors each makes on unseen motions"
    )
    return (
        f"Inputs are the 3D poses of a bank of {len(bank)} lifters ({', '.join(bank)}) run on simulated detections;"
        f" the lifters trained on BlendMimic3D {folds}."
    )


def _backbone_limit(settings: dict) -> str:
    if settings.get("pretrained_lifter"):
        return (
            f"The backbone is `{settings['pretrained_lifter']}` run on simulated detections, so absolute numbers"
            " are not comparable to the paper's table (VideoPose3D 175.0 → 112.7 mm with CPN detections)."
        )
    return (
        "The backbone is the package's own lifter trained on BlendMimic3D, not the published VideoPose3D trained"
        " on Human3.6M, so absolute numbers are not comparable to the paper's table (VideoPose3D 175.0 → 112.7 mm"
        " with CPN detections). Against a lifter that already knows the domain there is much less to correct."
    )


def _headroom_line(report: dict) -> str:
    """A limits bullet from :func:`evaluation.occlusion_headroom`: where the measured gain comes from."""

    headroom = occlusion_headroom(report)
    if headroom is None or GCN not in headroom["mpjpe"]["methods"]:
        return ""
    row = headroom["mpjpe"]
    closed = row["methods"][GCN].get("gap_closed_pct")
    closed_text = "" if closed is None else f"; the refiner closes {closed:.0f} % of that occluded-vs-clean gap"
    return (
        f"- Occlusion adds {row['added_by_occlusion']:.1f} mm to the backbone's SS3 MPJPE ({row['backbone_clean']:.1f}"
        f" → {row['backbone_occluded']:.1f} mm), so removing all of it would cut MPJPE by {row['bound_pct']:.1f} %"
        f"{closed_text}. The refiner learned to correct the errors of the lifter it was trained on; on another"
        " lifter's poses it may not help. Train it on your lifter's predictions (`gcnrefine train --backbone`).\n"
    )


def _lifter_sentence(settings: dict) -> str:
    """Where the refiner's input poses came from (backbone settings of the report)."""
    if settings.get("pretrained_lifter"):
        return (
            f"Inputs are the 3D poses of a lifter trained outside BlendMimic3D (`{settings['pretrained_lifter']}`),"
            " run on simulated detections, as in the paper's protocol: it never saw BlendMimic3D, so the refiner"
            " learns to correct its errors across the domain gap."
        )
    views = settings.get("lifter_views", 0)
    return (
        "Inputs are the 3D poses of the package's built-in temporal lifter (VideoPose3D architecture,"
        f" receptive field 27{f', trained with {views} extra virtual camera views per action' if views else ''})"
        " run on simulated detections; SS1/SS2 predictions come from out-of-fold lifters (trained on the other"
        " half of the actions), so the refiner sees realistic errors."
    )


def write_model_card(
    report_json: str | Path, config_json: str | Path, out: str | Path, training: dict | None = None,
    overwrite: bool = False, bank_goals: dict | None = None,
) -> Path:
    """Write the card for the refiner whose ``config.json`` and evaluation ``report.json`` are given
    (``bank_goals``: lifter_bank.py goals' goals.json, for the per-lifter table)."""
    report = json.loads(Path(report_json).read_text())
    config = json.loads(Path(config_json).read_text())
    text = render_model_card(report, config, training, bank_goals=bank_goals)
    return write_atomic(out, lambda tmp: Path(tmp).write_text(text), overwrite=overwrite)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", required=True, help="report.json from gcnrefine evaluate")
    parser.add_argument("--config", required=True, help="the refiner's config.json")
    parser.add_argument("--training", default=None, help="JSON file with the training settings to quote")
    parser.add_argument("--bank-goals", default=None, help="goals.json of benchmarks/studies/lifter_bank.py goals")
    parser.add_argument("-o", "--out", required=True)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    training = json.loads(Path(args.training).read_text()) if args.training else None
    bank_goals = json.loads(Path(args.bank_goals).read_text()) if args.bank_goals else None
    print(write_model_card(args.report, args.config, args.out, training, overwrite=args.force, bank_goals=bank_goals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

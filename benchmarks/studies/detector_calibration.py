"""How close are the simulated detections to a real detector's? Error statistics per joint class and subject.

For the real detections (MediaPipe BlazePose on the BlendMimic3D videos) and each simulator preset on
the same frames (those where the real detector found the person): mean, median, 90th percentile and
share above 50 px of the 2D error, in px per 1000 px of image size ((w + h) / 2), for visible and for
occluded joints (the dataset's labels). Each preset's statistics are divided by the real ones and
judged against --tolerance on SS1 + SS2 pooled (the calibration data; per subject for information).
SS3, the test subject, is printed last and separately, for information only: no verdict is given
there, and nothing may be chosen on it.

    python benchmarks/studies/detector_calibration.py --data ../shared/blendmimic3d \
        --real ../shared/real_detections/blendmimic3d_blazepose.npz
"""

from __future__ import annotations

import argparse

from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.detections import PRESETS
from modeling_gcnrefine.data.real_detections import REAL, load_real_detections
from modeling_gcnrefine.data.sequences import camera_sequences
from modeling_gcnrefine.evaluation.detector_errors import (
    CLASSES,
    detector_errors,
    error_statistics,
    pooled,
    statistic_ratios,
    within,
)

CALIBRATION_SUBJECTS = ("SS1", "SS2")
TEST_SUBJECT = "SS3"


def _figures(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.1f} / {stats['median']:.1f} / {stats['p90']:.1f} / {stats['over_50']:.1f} %"


def _ratios(ratios: dict[str, float]) -> str:
    return " / ".join(f"{r:.2f}" for r in ratios.values())


def _table(title: str, groups, errors, presets, tolerance: float | None) -> list[str]:
    """One Markdown table: rows per frame group, joint class and source; verdicts where ``tolerance``."""
    verdict = "" if tolerance is None else f" | within {tolerance:.0%}"
    lines = [
        f"### {title}",
        "",
        "| frames | joints | detections | mean / median / p90 / share > 50 px | ratio to real" + verdict + " |",
        "|---|---|---|---|---|" + ("---|" if tolerance is not None else ""),
    ]
    for label, subjects in groups:
        for joint_class in CLASSES:
            real = error_statistics(pooled(errors[REAL], subjects)[joint_class])
            lines.append(f"| {label} | {joint_class} | real | {_figures(real)} | |" + (" |" if tolerance is not None else ""))
            for preset in presets:
                stats = error_statistics(pooled(errors[preset], subjects)[joint_class])
                ratios = statistic_ratios(stats, real)
                cell = "" if tolerance is None else f" {'PASS' if within(ratios, tolerance) else 'FAIL'} |"
                lines.append(f"| {label} | {joint_class} | `{preset}` | {_figures(stats)} | {_ratios(ratios)} |{cell}")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="BlendMimic3D source (default: $GCNREFINE_BLENDMIMIC3D_DIR)")
    parser.add_argument(
        "--real", default=None, help="real detections .npz (default: $GCNREFINE_REAL_DETECTIONS, else beside --data)"
    )
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3], help="detection seeds, pooled")
    parser.add_argument("--tolerance", type=float, default=0.2, help="largest relative gap of a statistic")
    args = parser.parse_args()

    covered = set(load_real_detections(args.real))
    dataset = load_blendmimic3d(args.data)
    sequences = [s for split in ("train", "test") for s in camera_sequences(dataset[split]) if s.key in covered]
    calibration = [s for s in sequences if s.subject in CALIBRATION_SUBJECTS]
    test = [s for s in sequences if s.subject == TEST_SUBJECT]
    errors = {}
    for preset in (REAL, *args.presets):
        by_subject = detector_errors(calibration, preset, args.seeds, args.real)
        # SS3 in a separate call: nothing computed on the calibration subjects depends on it.
        by_subject.update(detector_errors(test, preset, args.seeds, args.real))
        errors[preset] = by_subject

    frames = {s: sum(len(q.keypoints_2d) for q in sequences if q.subject == s) for s in ("SS1", "SS2", "SS3")}
    print(
        f"{len(calibration)} SS1/SS2 and {len(test)} SS3 camera sequences with real detections "
        f"({frames['SS1']} / {frames['SS2']} / {frames['SS3']} frames); simulated seeds {args.seeds} pooled; "
        "error in px per 1000 px of image size, frames where the real detector found the person.\n"
    )
    lines = _table(
        "Calibration subjects: SS1 + SS2 pooled (the verdict), then each",
        [("SS1+SS2", CALIBRATION_SUBJECTS), ("SS1", ("SS1",)), ("SS2", ("SS2",))],
        errors,
        args.presets,
        args.tolerance,
    )
    lines += _table(
        "SS3, the test subject: for information only (no verdict; choose nothing on it)",
        [("SS3", (TEST_SUBJECT,))],
        errors,
        args.presets,
        None,
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Occlusion-aware simulation of a top-down 2D keypoint detector.

From ground-truth 2D keypoints, visibility labels and the image size, :func:`simulate_detections`
returns the keypoints and per-keypoint confidences that a CPN-like detector would plausibly return.
It lets lifters and the refiner be trained and evaluated on BlendMimic3D without running a detector
on the videos, with error levels that can be varied at will.

Error model (every number is a field of :class:`DetectionNoiseConfig`; lengths are fractions of
the image size ``S = (width + height) / 2``, the normalisation of the follow-up benchmark below):

- Every keypoint gets *jitter*: isotropic Gaussian noise with per-axis standard deviation
  ``visible_sigma * S``, correlated over time as a stationary AR(1) (discrete Ornstein-Uhlenbeck)
  process with correlation time ``jitter_correlation_frames``. Consecutive video frames look almost
  alike, so a per-frame detector errs alike on them. The mean Euclidean error of 2D Gaussian noise
  is ``sigma * sqrt(pi / 2)``, so the default 0.0048 gives about 6 px at S = 1000 px, the calibration
  target the project adopted for CPN-quality detections of visible joints. That figure is
  an assumption of this project, not a number read from one of the sources below.
- A keypoint is *hidden* when its visibility label is False (BlendMimic3D's labels come from ray
  casting and mean "occluded or out of frame") or when its ground truth lies outside
  ``[0, width) x [0, height)``. Each maximal run of consecutive hidden frames of one joint gets one
  error mode, drawn once per run so that the error persists through the run:

  * *drift* (the default mode): a smooth AR(1) displacement with per-axis standard deviation
    ``occluded_sigma * S`` and correlation time ``occluded_correlation_frames``; with probability
    ``severe_run_probability`` the run is *severe* and its drift is ``severe_sigma_scale`` times
    larger. Labels cannot tell self-occlusion from occlusion by objects, so this two-level mixture
    stands for both: most runs moderate (about twice the visible error, as for self-occlusion),
    some far worse (object occlusion);
  * *inversion* (probability ``inversion_probability``): the detector reports the left/right
    partner joint instead, i.e. the partner's ground truth plus jitter (the "inversion" class of
    Ruggero Ronchi & Perona); joints without a partner drift instead;
  * *stick* (probability ``stick_probability``): the keypoint stays at the joint's ground truth of
    the last frame before the run where it was visible and in frame, plus jitter (a detector that
    holds on to the last evidence); runs that start the sequence drift instead.

- With ``clamp_to_image`` the output is clipped to ``[0, width - 1] x [0, height - 1]``: a detector
  reports locations inside the image, so an out-of-frame joint lands on the border.
- Confidence is ``confidence_visible``, ``confidence_occluded`` (hidden, in frame) or
  ``confidence_out_of_frame``, plus Gaussian noise of ``confidence_noise``, clipped to [0, 1].

Random draws are made in a fixed order whose sizes depend only on the input shape and visibility,
never on the configuration, so two configurations run with one seed share their random numbers
(common random numbers): a severity sweep differs only by the noise level, not by luck. Only the
per-run draws, made last, depend on the visibility, so the ``visible_only`` preset returns the same
output whatever the visibility.

Sources:

- Y. Chen et al., "Cascaded Pyramid Network for Multi-Person Pose Estimation", CVPR 2018: the
  top-down detector (CPN) whose Human3.6M detections, released with D. Pavllo et al.,
  "3D human pose estimation in video with temporal convolutions and semi-supervised training",
  CVPR 2019, are the usual 2D input of lifters; the "visible" level models that input.
- M. Ruggero Ronchi and P. Perona, "Benchmarking and Error Diagnosis in Multi-Instance Pose
  Estimation", ICCV 2017: a taxonomy of keypoint localisation errors into jitter (near the right
  location), inversion (near a wrong body part of the same person, typically the left/right
  partner), swap (a body part of another person) and miss (near no body part). Jitter, inversion
  and drift (a miss that wanders) are modelled here; swaps between people are not.
- Y. Cheng et al., "Occlusion-Aware Networks for 3D Human Pose Estimation in Video", ICCV 2019:
  estimates of occluded keypoints are unreliable and can be flagged by their heatmap confidence,
  hence the lowered confidence of hidden keypoints.
- F. Lino, C. Santiago, M. Marques, "Benchmarking 3D Human Pose Estimation Models under
  Occlusions", arXiv:2504.10350 (2025), the follow-up to the BlendMimic3D paper: it adds Gaussian
  noise to the occluded keypoints of BlendMimic3D with ``sigma = level * mean(width, height)`` for
  the levels in :data:`SEVERITY_LEVELS`. :func:`severity_config` gives that sweep within this model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ..skeleton import H36M, SkeletonLayout

# Keypoint classes returned by :func:`keypoint_classes`.
VISIBLE, OCCLUDED, OUT_OF_FRAME = 0, 1, 2


SEVERITY_LEVELS: tuple[float, ...] = (0.0, 0.001, 0.005, 0.01, 0.03, 0.05)


# Run modes, as drawn per hidden run.
_DRIFT, _INVERSION, _STICK = 0, 1, 2


@dataclass(frozen=True)
class DetectionNoiseConfig:
    """Every parameter of the detector error model (see the module docstring for the model).

    Lengths are fractions of the image size ``S = (width + height) / 2``; sigmas are per-axis
    standard deviations (mean Euclidean error = sigma * sqrt(pi / 2) * S for Gaussian noise).
    """

    visible_sigma: float = 0.0048
    """Per-axis std of the jitter added to every keypoint (about 6 px mean error at S = 1000 px)."""

    jitter_correlation_frames: float = 2.0
    """Correlation time of the jitter in frames (lag-k autocorrelation exp(-k / this)); 0 = white."""

    occluded_sigma: float = 0.0083
    """Per-axis std of the drift of hidden keypoints in a moderate run, on top of the jitter (with the
    default jitter, a moderate run's mean error is about 12 px at S = 1000 px, twice the visible)."""

    occluded_correlation_frames: float = 15.0
    """Correlation time of the drift in frames; long, so the error persists through a run."""

    severe_run_probability: float = 0.3
    """Probability that a drifting run is severe (object occlusion rather than self-occlusion)."""

    severe_sigma_scale: float = 5.0
    """Factor applied to ``occluded_sigma`` in a severe run."""

    inversion_probability: float = 0.1
    """Probability that a hidden run reports the left/right partner joint instead (inversion)."""

    stick_probability: float = 0.1
    """Probability that a hidden run stays at the last position where the joint was visible."""

    clamp_to_image: bool = True
    """Clip outputs to ``[0, width - 1] x [0, height - 1]`` (out-of-frame joints land on the border)."""

    confidence_visible: float = 0.9
    """Mean confidence of visible, in-frame keypoints."""

    confidence_occluded: float = 0.45
    """Mean confidence of hidden keypoints whose ground truth is inside the image."""

    confidence_out_of_frame: float = 0.1
    """Mean confidence of keypoints whose ground truth is outside the image."""

    confidence_noise: float = 0.05
    """Std of the Gaussian noise added to every confidence before clipping to [0, 1]."""

    def __post_init__(self) -> None:
        for name in (
            "visible_sigma",
            "jitter_correlation_frames",
            "occluded_sigma",
            "occluded_correlation_frames",
            "severe_sigma_scale",
            "confidence_noise",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        for name in (
            "severe_run_probability",
            "inversion_probability",
            "stick_probability",
            "confidence_visible",
            "confidence_occluded",
            "confidence_out_of_frame",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
        if self.inversion_probability + self.stick_probability > 1:
            raise ValueError(
                "inversion_probability + stick_probability: expected at most 1, got "
                f"{self.inversion_probability} + {self.stick_probability}"
            )
        if not isinstance(self.clamp_to_image, bool):
            raise ValueError(f"clamp_to_image: expected a bool, got {self.clamp_to_image!r}")


def severity_config(sigma_fraction: float) -> DetectionNoiseConfig:
    """The occluded preset reduced to a single severity knob, for the follow-up benchmark's sweep.

    Hidden keypoints drift with per-axis std ``sigma_fraction * S`` (no severe runs, inversions or
    sticking, so the level alone sets the occluded error); visible keypoints keep the occluded
    preset's jitter, and confidence and clamping are as in that preset. The drift stays temporally
    correlated; for the benchmark's independent per-frame noise on ground truth use
    ``dataclasses.replace(severity_config(s), visible_sigma=0, occluded_correlation_frames=0)``.
    """
    if not (isinstance(sigma_fraction, int | float) and np.isfinite(sigma_fraction) and sigma_fraction >= 0):
        raise ValueError(f"sigma_fraction: expected a finite number >= 0, got {sigma_fraction!r}")
    return dataclasses.replace(
        PRESETS["occluded"],
        occluded_sigma=float(sigma_fraction),
        severe_run_probability=0.0,
        inversion_probability=0.0,
        stick_probability=0.0,
    )


PRESETS: dict[str, DetectionNoiseConfig] = {
    # Ground truth: no noise, confidence exactly 1, no clamping.
    "none": DetectionNoiseConfig(
        visible_sigma=0.0,
        occluded_sigma=0.0,
        severe_run_probability=0.0,
        inversion_probability=0.0,
        stick_probability=0.0,
        clamp_to_image=False,
        confidence_visible=1.0,
        confidence_occluded=1.0,
        confidence_out_of_frame=1.0,
        confidence_noise=0.0,
    ),
    # Jitter everywhere and nothing that depends on occlusion, like clean Human3.6M input: no occlusion
    # errors, no clamping, one confidence level for every keypoint.
    "visible_only": DetectionNoiseConfig(
        occluded_sigma=0.0,
        severe_run_probability=0.0,
        inversion_probability=0.0,
        stick_probability=0.0,
        clamp_to_image=False,
        confidence_occluded=0.9,
        confidence_out_of_frame=0.9,
    ),
    # The benchmark default: the full occlusion-aware model.
    "occluded": DetectionNoiseConfig(),
}


PRESETS.update({f"severity_{level:g}": severity_config(level) for level in SEVERITY_LEVELS})


def resolve_preset(preset: str | DetectionNoiseConfig) -> DetectionNoiseConfig:
    """A preset name (a key of :data:`PRESETS`) or a config, as a config."""
    if isinstance(preset, DetectionNoiseConfig):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    raise ValueError(f"preset: expected a DetectionNoiseConfig or one of {sorted(PRESETS)}, got {preset!r}")


def _check_image_size(image_size) -> tuple[float, float]:
    try:
        width, height = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (width, height), got {image_size!r}") from None
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"image_size: expected positive finite (width, height), got {image_size!r}")
    return width, height


def _check_inputs(keypoints_2d, visibility, num_joints: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(T, J, 2)`` keypoints (J = ``num_joints`` unless None) and ``(T, J)`` visibility."""
    keypoints = np.asarray(keypoints_2d)
    joints = "J" if num_joints is None else num_joints
    if (
        keypoints.ndim != 3
        or keypoints.shape[-1] != 2
        or keypoints.shape[0] < 1
        or (num_joints is not None and keypoints.shape[1] != num_joints)
    ):
        raise ValueError(f"keypoints_2d: expected shape (T, {joints}, 2) with T >= 1, got {keypoints.shape}")
    if not np.issubdtype(keypoints.dtype, np.number) or np.issubdtype(keypoints.dtype, np.complexfloating):
        raise ValueError(f"keypoints_2d: expected real numbers, got dtype {keypoints.dtype}")
    keypoints = keypoints.astype(np.float64)
    if not np.isfinite(keypoints).all():
        raise ValueError(f"keypoints_2d: expected finite values, got {int((~np.isfinite(keypoints)).sum())} non-finite")
    visible = np.asarray(visibility)
    if visible.shape != keypoints.shape[:2]:
        raise ValueError(f"visibility: expected shape {keypoints.shape[:2]} (T, J), got {visible.shape}")
    if visible.dtype != np.bool_:
        # Upstream BlendMimic3D stores visibility as float 0/1: accept exactly those values.
        if not np.issubdtype(visible.dtype, np.number) or not np.isin(visible, (0, 1)).all():
            raise ValueError(
                f"visibility: expected bool (or only 0/1 values), got dtype {visible.dtype} "
                f"with values {np.unique(visible)[:5]}"
            )
        visible = visible == 1
    return keypoints, visible


def _check_seed(seed) -> int | list[int]:
    def ok(value) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0

    if ok(seed):
        return int(seed)
    if isinstance(seed, Sequence) and not isinstance(seed, str) and len(seed) > 0 and all(ok(s) for s in seed):
        return [int(s) for s in seed]
    raise ValueError(f"seed: expected an int >= 0 or a non-empty sequence of them, got {seed!r}")


def _in_frame(keypoints: np.ndarray, width: float, height: float) -> np.ndarray:
    """True where a keypoint lies inside ``[0, width) x [0, height)``."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def keypoint_classes(keypoints_2d, visibility, image_size) -> np.ndarray:
    """Class of every keypoint, ``(T, J)`` int8: VISIBLE (0), OCCLUDED (1: hidden but inside the
    image) or OUT_OF_FRAME (2: ground truth outside ``[0, width) x [0, height)``, whatever the label).
    """
    width, height = _check_image_size(image_size)
    keypoints, visible = _check_inputs(keypoints_2d, visibility, None)
    in_frame = _in_frame(keypoints, width, height)
    classes = np.where(visible, VISIBLE, OCCLUDED).astype(np.int8)
    classes[~in_frame] = OUT_OF_FRAME
    return classes


def _ar1_noise(white: np.ndarray, correlation_frames: float) -> np.ndarray:
    """Stationary unit-variance AR(1) along axis 0 driven by ``white`` (standard normal draws).

    ``y[0] = white[0]``, ``y[t] = rho y[t-1] + sqrt(1 - rho^2) white[t]``, ``rho = exp(-1 / tau)``.
    """
    if correlation_frames == 0:
        return white
    rho = float(np.exp(-1.0 / correlation_frames))
    gain = float(np.sqrt(1.0 - rho * rho))
    # lfilter gives y[0] = gain * white[0] + zi; this zi makes y[0] = white[0] (already stationary).
    initial = (1.0 - gain) * white[:1]
    filtered, _ = lfilter([gain], [1.0, -rho], white, axis=0, zi=initial)
    return filtered


def simulate_detections(
    keypoints_2d,
    visibility,
    image_size: tuple[float, float],
    preset: str | DetectionNoiseConfig = "occluded",
    seed: int | Sequence[int] = 0,
    layout: SkeletonLayout = H36M,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate a top-down 2D detector on one sequence (error model: module docstring).

    Args:
        keypoints_2d: ground-truth pixels ``(T, J, 2)``.
        visibility: ``(T, J)`` bool, True = visible (0/1 numbers are accepted).
        image_size: ``(width, height)`` in pixels.
        preset: a name from :data:`PRESETS` ("none", "visible_only", "occluded", "severity_<level>")
            or a :class:`DetectionNoiseConfig`.
        seed: int >= 0 or a sequence of them (e.g. ``(subject, action, camera)`` indices); the same
            seed and inputs give the same output.
        layout: joint layout of ``J`` joints, for the left/right partners of inversions.

    Returns:
        ``(keypoints, confidence)``: float32 ``(T, J, 2)`` pixels and float32 ``(T, J)`` in [0, 1].
    """
    config = resolve_preset(preset)
    width, height = _check_image_size(image_size)
    keypoints, visible = _check_inputs(keypoints_2d, visibility, layout.num_joints)
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)
    num_frames, num_joints = visible.shape
    size = (width + height) / 2.0

    in_frame = _in_frame(keypoints, width, height)
    hidden = ~visible | ~in_frame

    # Fixed draw order with sizes independent of the config (common random numbers); the per-run draws
    # come last because only their count depends on the visibility.
    jitter = _ar1_noise(rng.standard_normal((num_frames, num_joints, 2)), config.jitter_correlation_frames)
    drift = _ar1_noise(rng.standard_normal((num_frames, num_joints, 2)), config.occluded_correlation_frames)
    confidence_draw = rng.standard_normal((num_frames, num_joints))

    # Label every maximal hidden run of each joint with a global run index.
    starts = hidden & ~np.vstack([np.zeros((1, num_joints), dtype=bool), hidden[:-1]])
    runs_per_joint = starts.sum(axis=0)
    first_run = np.concatenate([[0], np.cumsum(runs_per_joint)[:-1]])
    run_index = first_run[None, :] + np.cumsum(starts, axis=0) - 1  # meaningful where hidden
    num_runs = int(runs_per_joint.sum())
    mode_draw = rng.random(num_runs)
    severe_draw = rng.random(num_runs)

    # Last frame (<= t) where each joint was visible and in frame; -1 if none yet.
    frame_index = np.broadcast_to(np.arange(num_frames)[:, None], hidden.shape)
    last_seen = np.maximum.accumulate(np.where(hidden, -1, frame_index), axis=0)
    partner = np.asarray(layout.flip_permutation)
    has_partner = partner != np.arange(num_joints)

    t_idx, j_idx = np.nonzero(hidden)
    runs = run_index[t_idx, j_idx]
    mode = np.full(runs.shape, _DRIFT)
    mode[mode_draw[runs] < config.inversion_probability] = _INVERSION
    sticky = (mode_draw[runs] >= config.inversion_probability) & (
        mode_draw[runs] < config.inversion_probability + config.stick_probability
    )
    mode[sticky] = _STICK
    # Modes that cannot apply fall back to drift; both conditions are constant within a run.
    mode[(mode == _INVERSION) & ~has_partner[j_idx]] = _DRIFT
    mode[(mode == _STICK) & (last_seen[t_idx, j_idx] < 0)] = _DRIFT

    base = keypoints.copy()
    is_drift = mode == _DRIFT
    scale = np.where(severe_draw[runs] < config.severe_run_probability, config.severe_sigma_scale, 1.0)
    amplitude = config.occluded_sigma * size * scale[is_drift]
    base[t_idx[is_drift], j_idx[is_drift]] += amplitude[:, None] * drift[t_idx[is_drift], j_idx[is_drift]]
    is_inv = mode == _INVERSION
    base[t_idx[is_inv], j_idx[is_inv]] = keypoints[t_idx[is_inv], partner[j_idx[is_inv]]]
    is_stick = mode == _STICK
    base[t_idx[is_stick], j_idx[is_stick]] = keypoints[last_seen[t_idx[is_stick], j_idx[is_stick]], j_idx[is_stick]]

    detected = base + (config.visible_sigma * size) * jitter
    if config.clamp_to_image:
        np.clip(detected[..., 0], 0.0, width - 1.0, out=detected[..., 0])
        np.clip(detected[..., 1], 0.0, height - 1.0, out=detected[..., 1])

    level = np.where(hidden, config.confidence_occluded, config.confidence_visible)
    level = np.where(in_frame, level, config.confidence_out_of_frame)
    confidence = np.clip(level + config.confidence_noise * confidence_draw, 0.0, 1.0)
    return detected.astype(np.float32), confidence.astype(np.float32)

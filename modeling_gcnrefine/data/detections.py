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
  With ``jitter_scale_spread`` (off by default) the jitter's std varies over keypoints and time by a
  log-normal factor, for the heavy tails of real detectors on joints they see.
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

- *Definition offsets* (``definition_offsets``, off by default): a detector trained on another
  dataset, or whose keypoints are mapped to these joints, places some joints elsewhere than this
  dataset does (BlazePose's mid-ears for the head top, its mid-hips for the pelvis). Each listed
  joint is reported a fixed fraction of the way towards a reference joint, in every frame and before
  every other error, so the offset follows the body's size and turn in the image.
- *Gross-error bursts* on visible keypoints (``visible_burst_probability``, off by default): a real
  detector sometimes locks onto a wrong heatmap maximum even where the joint can be seen, and holds it
  for a few frames. A burst starts at a visible frame of a joint with that probability, lasts a
  geometric number of frames of mean ``visible_burst_frames`` (visible frames only; a new burst
  replaces the current one) and has one mode: *inversion* (``burst_inversion_probability``: the
  left/right partner, for a person seen from behind), *snap* (``burst_snap_probability``: the nearest
  other joint in the image at the burst's first frame, as a wrist hanging by the hip is taken for
  it), else a *miss*: a displacement held through the burst, per-axis std ``burst_sigma * S``.
  Joints without a partner miss instead of inverting.
- With ``clamp_to_image`` the output is clipped to ``[0, width - 1] x [0, height - 1]``: a detector
  reports locations inside the image, so an out-of-frame joint lands on the border.
- Confidence is ``confidence_visible``, ``confidence_occluded`` (hidden, in frame) or
  ``confidence_out_of_frame``, plus Gaussian noise of ``confidence_noise``, clipped to [0, 1].

Random draws are made in a fixed order whose sizes depend only on the input shape and visibility,
never on the configuration, so two configurations run with one seed share their random numbers
(common random numbers): a severity sweep differs only by the noise level, not by luck. Only the
per-run draws, made last, depend on the visibility, so the ``visible_only`` preset returns the same
output whatever the visibility. The bursts and the jitter-scale factor draw from a second stream
spawned from the seed, so adding them left every earlier preset's output unchanged, bit for bit.

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
- The ``realistic`` preset is calibrated against MediaPipe BlazePose run on the BlendMimic3D videos
  of SS1 and SS2 (the project's shared real detections; SS3 is the test subject and was not used):
  see the comment above :data:`PRESETS` and ``benchmarks/studies/detector_calibration.py``.
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

    jitter_scale_spread: float = 0.0
    """Std of the log of a per-keypoint factor on the jitter's std, correlated over time as the jitter
    is (0: constant jitter). Real errors of seen joints are heavier-tailed than Gaussian: some frames are
    harder (motion blur, an unusual pose), so the jitter is a scale mixture whose median stays near
    ``visible_sigma``'s."""

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

    definition_offsets: tuple[tuple[int, int, float], ...] = ()
    """``(joint, reference, fraction)`` triples: ``joint`` is reported at its ground truth moved
    ``fraction`` of the way to ``reference``'s (negative: away from it), in every frame. Empty: none."""

    visible_burst_probability: float = 0.0
    """Probability per visible frame and joint that a gross-error burst starts there (0: no bursts)."""

    visible_burst_frames: float = 1.0
    """Mean length of a burst in frames (geometric, at least 1)."""

    burst_inversion_probability: float = 0.0
    """Probability that a burst reports the left/right partner joint (a left/right confusion)."""

    burst_snap_probability: float = 0.0
    """Probability that a burst reports the nearest other joint in the image (a limb snapping to it)."""

    burst_sigma: float = 0.0
    """Per-axis std of the displacement held through a burst that is neither an inversion nor a snap."""

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
            "jitter_scale_spread",
            "burst_sigma",
            "confidence_noise",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        for name in (
            "severe_run_probability",
            "inversion_probability",
            "stick_probability",
            "visible_burst_probability",
            "burst_inversion_probability",
            "burst_snap_probability",
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
        if self.burst_inversion_probability + self.burst_snap_probability > 1:
            raise ValueError(
                "burst_inversion_probability + burst_snap_probability: expected at most 1, got "
                f"{self.burst_inversion_probability} + {self.burst_snap_probability}"
            )
        frames = self.visible_burst_frames
        if not (isinstance(frames, int | float) and np.isfinite(frames) and frames >= 1):
            raise ValueError(f"visible_burst_frames: expected a finite number >= 1, got {frames!r}")
        # Lists are accepted and stored as tuples, so configs stay hashable and compare by value.
        object.__setattr__(self, "definition_offsets", _check_offsets(self.definition_offsets))
        if not isinstance(self.clamp_to_image, bool):
            raise ValueError(f"clamp_to_image: expected a bool, got {self.clamp_to_image!r}")


def _check_offsets(offsets) -> tuple[tuple[int, int, float], ...]:
    def index(value) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 0

    try:
        entries = [tuple(entry) for entry in offsets]
    except TypeError:
        raise ValueError(
            f"definition_offsets: expected (joint, reference, fraction) triples, got {offsets!r}"
        ) from None
    out = []
    for entry in entries:
        ok = len(entry) == 3 and index(entry[0]) and index(entry[1]) and entry[0] != entry[1]
        if not (ok and isinstance(entry[2], int | float | np.number) and np.isfinite(entry[2])):
            raise ValueError(
                "definition_offsets: expected (joint, reference, fraction) triples of two different joint "
                f"indices >= 0 and a finite number, got {entry!r}"
            )
        out.append((int(entry[0]), int(entry[1]), float(entry[2])))
    if len({joint for joint, _, _ in out}) != len(out):
        raise ValueError(f"definition_offsets: expected each joint at most once, got {offsets!r}")
    return tuple(out)


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
    # A real detector's errors: MediaPipe BlazePose on the BlendMimic3D videos (the shared real
    # detections), fitted on SS1 + SS2 only (11 videos, the frames where it found the person; SS3 is
    # the test subject and played no part). Error statistics in px per 1000 px of image size,
    # S = (w + h) / 2, visible / occluded keypoints by the dataset's labels:
    #   real     mean 9.6 / median 5.8 / p90 22.8 / 0.8 % over 50 px;  15.5 / 11.5 / 31.2 / 2.8 %
    #   this     9.4 / 6.2 / 21.2 / 0.8 %;  15.3 / 11.0 / 32.5 / 3.1 %  (seeds 0-3 pooled)
    # Fitted in this order, each step on those frames:
    # - definition_offsets: per joint, the fraction along one skeleton neighbour that minimises the
    #   median distance of the visible real detections to the moved ground truth (a search over
    #   fractions, left/right averaged): BlazePose's mid-hips sit below the dataset's pelvis, its
    #   mid-ears below the head top, its nose beyond the neck/nose joint; spine and thorax follow.
    #   Median errors of head and pelvis drop from 30 and 17 px to 6 and 3 px.
    # - the visible error: successive grids over visible_sigma (0.0022-0.0033), jitter_scale_spread
    #   (0-1.2), visible_burst_probability (0.002-0.008), visible_burst_frames (3-6) and burst_sigma
    #   (0.02-0.035), a fifth of the bursts inversions (about the share of the real gross errors on
    #   visible joints that lie nearest the partner joint) and a fifth snaps (by hand); kept: the
    #   smallest worst gap of a statistic to the real one, seeds 0-3 pooled;
    # - the occluded error, the same way: occluded_sigma (0.004-0.008), severe_run_probability
    #   (0.05-0.4), severe_sigma_scale (3-5), inversion_probability (0.05-0.15), stick_probability
    #   (0-0.1), last grid on seeds 0-5 pooled. Sticking to the last seen position made the tail far
    #   heavier than the real one (and its share over 50 px swing with the seed).
    # One seed alone is noisier: on occluded joints the share over 50 px moves by up to ~20 % with it.
    # - confidences: the real mean scores of visible and occluded keypoints (0.96, 0.76).
    # Per subject it is too harsh on SS1 (self-occlusion only) and too mild on SS2 (objects); SS3's
    # real errors are larger still (benchmarks/studies/detector_calibration.py prints all of it).
    "realistic": DetectionNoiseConfig(
        visible_sigma=0.0026,
        jitter_scale_spread=0.9,
        occluded_sigma=0.005,
        severe_run_probability=0.2,
        severe_sigma_scale=4.0,
        inversion_probability=0.05,
        stick_probability=0.0,
        definition_offsets=(
            (0, 7, -0.42),  # pelvis, away from the spine
            (1, 2, 0.07),  # right hip, towards the right knee
            (4, 5, 0.07),  # left hip, towards the left knee
            (7, 0, 0.17),  # spine, towards the pelvis
            (8, 7, 0.22),  # thorax, towards the spine
            (9, 8, -0.56),  # neck/nose, away from the thorax (BlazePose's nose)
            (10, 9, 0.685),  # head, towards the neck/nose (mid-ears, not the head top)
            (11, 12, -0.12),  # left shoulder, away from the left elbow
            (14, 15, -0.12),  # right shoulder, away from the right elbow
        ),
        visible_burst_probability=0.003,
        visible_burst_frames=4.0,
        burst_inversion_probability=0.2,
        burst_snap_probability=0.2,
        burst_sigma=0.025,
        confidence_visible=0.96,
        confidence_occluded=0.76,
        confidence_noise=0.1,
    ),
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


def _second_stream_draws(seed, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The draws of the jitter-scale and burst mechanisms, all of them whichever is on (common random
    numbers), from a stream of their own: the main stream's draws, hence every preset that uses
    neither mechanism, stay as they were before the mechanisms existed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    return {
        "scale": rng.standard_normal(shape),
        "start": rng.random(shape),
        "length": rng.random(shape),
        "mode": rng.random(shape),
        "shift": rng.standard_normal((*shape, 2)),
    }


def _add_bursts(base, target, keypoints, seen, config: DetectionNoiseConfig, size: float, partner, draws) -> None:
    """Gross-error bursts on the ``seen`` (visible, in-frame) keypoints of ``base``, in place."""
    num_frames, num_joints = seen.shape
    start_draw, length_draw, mode_draw, shift_draw = draws["start"], draws["length"], draws["mode"], draws["shift"]
    starts = seen & (start_draw < config.visible_burst_probability)
    if config.visible_burst_frames > 1:
        # Geometric on {1, 2, ...} with mean visible_burst_frames, by inversion of its distribution.
        continue_log = np.log1p(-1.0 / config.visible_burst_frames)
        length = np.maximum(np.ceil(np.log1p(-length_draw) / continue_log), 1.0)
    else:
        length = np.ones_like(length_draw)
    frame_index = np.broadcast_to(np.arange(num_frames)[:, None], seen.shape)
    begin = np.maximum.accumulate(np.where(starts, frame_index, -1), axis=0)  # latest start <= t
    joint_index = np.broadcast_to(np.arange(num_joints), seen.shape)
    safe_begin = np.maximum(begin, 0)
    active = seen & (begin >= 0) & (frame_index < begin + length[safe_begin, joint_index])
    t_idx, j_idx = np.nonzero(active)
    if t_idx.size == 0:
        return
    b_idx = begin[t_idx, j_idx]
    mode = mode_draw[b_idx, j_idx]
    inverts = (mode < config.burst_inversion_probability) & (partner[j_idx] != j_idx)
    snaps = (mode >= config.burst_inversion_probability) & (
        mode < config.burst_inversion_probability + config.burst_snap_probability
    )
    misses = ~inverts & ~snaps

    base[t_idx[inverts], j_idx[inverts]] = target[t_idx[inverts], partner[j_idx[inverts]]]
    # Nearest other joint at the burst's first frame, held through the burst.
    gaps = np.linalg.norm(keypoints[b_idx[snaps], :, :] - keypoints[b_idx[snaps], j_idx[snaps], None, :], axis=-1)
    gaps[np.arange(len(gaps)), j_idx[snaps]] = np.inf
    base[t_idx[snaps], j_idx[snaps]] = target[t_idx[snaps], np.argmin(gaps, axis=-1)]
    shift = (config.burst_sigma * size) * shift_draw[b_idx[misses], j_idx[misses]]
    base[t_idx[misses], j_idx[misses]] = target[t_idx[misses], j_idx[misses]] + shift


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
        preset: a name from :data:`PRESETS` ("none", "visible_only", "occluded", "realistic",
            "severity_<level>") or a :class:`DetectionNoiseConfig`.
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
    for joint, reference, _ in config.definition_offsets:
        if max(joint, reference) >= layout.num_joints:
            raise ValueError(
                f"definition_offsets: expected joint indices below {layout.num_joints}, got {(joint, reference)}"
            )
    rng = np.random.default_rng(seed)
    num_frames, num_joints = visible.shape
    size = (width + height) / 2.0

    in_frame = _in_frame(keypoints, width, height)
    hidden = ~visible | ~in_frame
    # Where the detector means each joint to be; the errors below are made around it.
    target = keypoints.copy()
    for joint, reference, fraction in config.definition_offsets:
        target[:, joint] += fraction * (keypoints[:, reference] - keypoints[:, joint])

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

    base = target.copy()
    is_drift = mode == _DRIFT
    scale = np.where(severe_draw[runs] < config.severe_run_probability, config.severe_sigma_scale, 1.0)
    amplitude = config.occluded_sigma * size * scale[is_drift]
    base[t_idx[is_drift], j_idx[is_drift]] += amplitude[:, None] * drift[t_idx[is_drift], j_idx[is_drift]]
    is_inv = mode == _INVERSION
    base[t_idx[is_inv], j_idx[is_inv]] = target[t_idx[is_inv], partner[j_idx[is_inv]]]
    is_stick = mode == _STICK
    base[t_idx[is_stick], j_idx[is_stick]] = target[last_seen[t_idx[is_stick], j_idx[is_stick]], j_idx[is_stick]]
    if config.visible_burst_probability > 0 or config.jitter_scale_spread > 0:
        draws = _second_stream_draws(seed, visible.shape)
        if config.visible_burst_probability > 0:
            _add_bursts(base, target, keypoints, ~hidden, config, size, partner, draws)
        if config.jitter_scale_spread > 0:
            log_scale = _ar1_noise(draws["scale"], config.jitter_correlation_frames)
            jitter = jitter * np.exp(config.jitter_scale_spread * log_scale)[..., None]

    detected = base + (config.visible_sigma * size) * jitter
    if config.clamp_to_image:
        np.clip(detected[..., 0], 0.0, width - 1.0, out=detected[..., 0])
        np.clip(detected[..., 1], 0.0, height - 1.0, out=detected[..., 1])

    level = np.where(hidden, config.confidence_occluded, config.confidence_visible)
    level = np.where(in_frame, level, config.confidence_out_of_frame)
    confidence = np.clip(level + config.confidence_noise * confidence_draw, 0.0, 1.0)
    return detected.astype(np.float32), confidence.astype(np.float32)

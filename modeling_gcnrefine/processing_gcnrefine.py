"""The numpy side of `GCNRefineModel.refine`: input validation, the unit check, NaN filling, the
long-range refiner's chunk plan (`chunk_plan`), what may follow the network (constant bone lengths,
the input's orientation, the systematic-turn measure, the weight of the refiner's change, smoothing
over time), and turning the refined array back into the caller's type.

Missing keypoints (NaN) are filled before refinement, from the data wherever there is any:

* a coordinate that is NaN in some frames is interpolated linearly over time from the same
  coordinate of the same joint in the other frames (the nearest value is held at the ends); a
  missing y says nothing about x, and another joint's position says nothing about this one's;
* a joint never observed in a sequence (or one of its coordinates never observed) has no timeline
  to interpolate, so it is placed by the skeleton: its parent's position plus a typical length of its
  bone (``skeleton.H36M_BONE_LENGTHS_METRES``) along the parent's own bone direction (parent minus
  grandparent), and a warning names it. This is a guess of plausible shape, not a measurement.

A model file: it travels with a saved checkpoint (``auto_map``) and imports only its siblings (and
numpy, torch and scipy).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from .configuration_gcnrefine import GCNRefineConfig, is_nonnegative_number
from .skeleton import (
    H36M_BONE_LENGTHS_METRES,
    H36M_JOINT_NAMES,
    H36M_JOINTS_LEFT,
    H36M_JOINTS_RIGHT,
    H36M_PARENTS,
)

# The unit check compares the median bone length with a person's. An adult's is ~0.24 m (the median
# of H36M_BONE_LENGTHS_METRES); children and very tall people span about 0.1 - 0.45 m. Beyond
# [MIN, MAX] (half of a small child's, 2.5x an adult's) the input is not metres of a person, and the
# refiner would quietly return poses unlike anything it learned, so it is refused; between the two
# ranges it is only unusual (a small child, a noisy lifter, a slightly wrong scale), so it is warned about.
TYPICAL_MEDIAN_BONE_LENGTH_METRES = 0.24
MIN_MEDIAN_BONE_LENGTH_METRES = 0.05
MAX_MEDIAN_BONE_LENGTH_METRES = 0.6
HUMAN_MEDIAN_BONE_LENGTH_METRES = (0.1, 0.45)
# Units a wrongly scaled input is most likely in, as (metres -> unit factor, name); a median within 3x
# of TYPICAL * factor is reported as that unit (mm and cm are 10x apart, so the ranges do not overlap).
_LIKELY_UNITS = ((1000.0, "millimetres"), (100.0, "centimetres"))

# Direction of a placed bone when the skeleton offers none (a child of the root without an observed
# mirror partner): up in a camera frame whose y axis points down, as Human3.6M's and image coordinates.
_UP = np.array([0.0, -1.0, 0.0])

# Frames to blame in `warnings.warn` for a call through refine(): the warning points at the user's call.
_REFINE_STACKLEVEL = 4

_AXES = "xyz"


class UnitsError(ValueError):
    """`refine` refuses poses that are not a person's in metres (median bone length outside
    [MIN_MEDIAN_BONE_LENGTH_METRES, MAX_MEDIAN_BONE_LENGTH_METRES]). A ``ValueError``, so existing
    handlers keep working; its own type lets a caller that keeps the input in that case (a benchmark
    scoring a lifter gone off scale) tell it from every other bad argument."""


def flip_permutation(config: GCNRefineConfig) -> list[int]:
    perm = list(range(config.num_joints))
    for left, right in zip(config.joints_left, config.joints_right):
        perm[left], perm[right] = right, left
    return perm


def _as_sequences(array: np.ndarray) -> tuple[np.ndarray, bool]:
    """``(B, T, V, 3)`` view of a validated input and whether it is one person's sequence.

    ``(T, V, 3)`` and ``(T, 1, V, 3)`` (VideoPose3D's output: one person, T frames) are one sequence;
    other 4-D inputs are batches ``(B, T, V, 3)``. A batch of one-frame sequences would be
    indistinguishable from the latter, and is of no use to a temporal refiner anyway.
    """
    if array.ndim == 3:
        return array[None], True
    if array.shape[1] == 1:
        return array[:, 0][None], True
    return array, False


def _validated_poses(poses, config: GCNRefineConfig) -> tuple[np.ndarray, bool]:
    """Check type, shape, dtype and content of `refine`'s input; return it as float64 numpy
    ``(B, T, V, 3)`` and whether it was one sequence (see `_as_sequences`)."""
    joints = config.num_joints
    if isinstance(poses, torch.Tensor):
        if not poses.is_floating_point():
            raise ValueError(f"poses: expected a floating-point tensor (metres), got dtype {poses.dtype}")
        array = poses.detach().to("cpu", torch.float64).numpy()
    elif isinstance(poses, np.ndarray):
        if not np.issubdtype(poses.dtype, np.floating):
            raise ValueError(f"poses: expected a floating-point array (metres), got dtype {poses.dtype}")
        array = poses.astype(np.float64)
    else:
        raise ValueError(f"poses: expected a numpy array or torch tensor, got {type(poses).__name__}")
    if array.ndim not in (3, 4):
        raise ValueError(
            f"poses: expected shape (T, {joints}, 3), (T, 1, {joints}, 3) or (B, T, {joints}, 3), got {array.shape}"
        )
    if array.shape[-2] != joints:
        raise ValueError(f"poses: expected {joints} joints in axis -2 (shape (..., {joints}, 3)), got {array.shape}")
    if array.shape[-1] != 3:
        raise ValueError(f"poses: expected 3 coordinates in the last axis (shape (..., {joints}, 3)), got {array.shape}")
    if array.shape[-3] < 1 or (array.ndim == 4 and array.shape[0] < 1):
        raise ValueError(f"poses: expected at least one sequence of at least one frame, got {array.shape}")
    if np.isinf(array).any():
        raise ValueError("poses: expected finite values or NaN for missing keypoints, got +-inf")
    batch, single = _as_sequences(array)
    missing = np.isnan(batch).all(axis=(1, 2))  # (B, 3): a coordinate never observed in a sequence
    empty = [int(i) for i in np.flatnonzero(missing.all(axis=1))]
    if empty:
        raise ValueError(f"poses: expected at least one observed keypoint per sequence, got all-NaN sequence(s) {empty}")
    if missing.any():
        b, c = (int(i) for i in np.argwhere(missing)[0])
        raise ValueError(
            f"poses: expected every coordinate observed for some joint and frame of each sequence, got "
            f"{_AXES[c]} NaN everywhere in sequence {b}"
        )
    return batch, single


def _check_metres(sequences: np.ndarray, parents, stacklevel: int = 2) -> None:
    """Refuse poses whose median observed bone length is not a person's in metres; warn when unusual
    (``stacklevel`` as in `warnings.warn`)."""
    children = [c for c, p in enumerate(parents) if p >= 0]
    lengths = np.linalg.norm(sequences[..., children, :] - sequences[..., [parents[c] for c in children], :], axis=-1)
    lengths = lengths[np.isfinite(lengths)]  # before filling: placed joints would pull it to metres
    if lengths.size == 0:
        return  # no bone with both ends observed: nothing to measure
    median = float(np.median(lengths))
    expected = (
        f"poses: expected metres, a median bone length in [{MIN_MEDIAN_BONE_LENGTH_METRES}, "
        f"{MAX_MEDIAN_BONE_LENGTH_METRES}] m (an adult's is ~{TYPICAL_MEDIAN_BONE_LENGTH_METRES} m), "
        f"got median bone length {median:.4g}"
    )
    ratio = median / TYPICAL_MEDIAN_BONE_LENGTH_METRES
    if median > MAX_MEDIAN_BONE_LENGTH_METRES:
        for factor, unit in _LIKELY_UNITS:
            if factor / 3 <= ratio <= factor * 3:
                raise UnitsError(
                    f"{expected}; the input looks like {unit} (~{factor:g}x metres): "
                    f"divide by {factor:g} to convert to metres"
                )
        raise UnitsError(f"{expected}, about {ratio:.3g}x an adult's: check the units and scale (divide by ~{ratio:.2g})")
    if median < MIN_MEDIAN_BONE_LENGTH_METRES:
        raise UnitsError(
            f"{expected}, about 1/{1 / ratio:.3g} of an adult's: the input looks scaled down (a unit converted "
            f"with the wrong factor?); check the units and scale (multiply by ~{1 / ratio:.2g})"
        )
    low, high = HUMAN_MEDIAN_BONE_LENGTH_METRES
    if not low <= median <= high:
        warnings.warn(
            f"poses: median bone length {median:.3g} m is outside a person's usual {low}-{high} m "
            f"(an adult's is ~{TYPICAL_MEDIAN_BONE_LENGTH_METRES} m); check that the input is metres",
            stacklevel=stacklevel,
        )


def _topological_order(parents) -> list[int]:
    """Joints ordered so that every parent comes before its children."""
    order = [j for j, p in enumerate(parents) if p < 0]
    for joint in order:  # grows while iterating: breadth first
        order.extend(c for c, p in enumerate(parents) if p == joint)
    return order


def constant_bone_lengths(sequences: np.ndarray, parents, mirror_pairs=(), lengths_from=None) -> np.ndarray:
    """``(B, T, V, 3)`` poses with each bone at one length per sequence; returns a new float64 array.

    A bone's length becomes its median over the frames of the sequence, or of ``lengths_from`` (another
    ``(B, T', V, 3)`` batch, e.g. a refiner's input, whose person's proportions are to be kept) when given
    (for a ``(left, right)`` pair of ``mirror_pairs``, the mean of the two medians: a person is
    symmetric); its direction in each frame is kept, and the skeleton is rebuilt from the root outwards,
    so the root trajectory is unchanged. A bone of zero length in a frame stays zero there (no direction
    to keep).
    """
    parents = [int(p) for p in parents]
    poses = np.asarray(sequences, np.float64)
    source = poses if lengths_from is None else np.asarray(lengths_from, np.float64)
    if source.ndim != 4 or source.shape[0] != poses.shape[0] or source.shape[2:] != poses.shape[2:]:
        raise ValueError(f"lengths_from: expected shape ({poses.shape[0]}, T, {poses.shape[2]}, 3), got {source.shape}")
    out = np.empty_like(poses)
    bones = {j: poses[:, :, j] - poses[:, :, p] for j, p in enumerate(parents) if p >= 0}  # (B, T, 3) each
    lengths = {j: np.linalg.norm(b, axis=-1) for j, b in bones.items()}  # (B, T)
    target = {
        j: np.median(np.linalg.norm(source[:, :, j] - source[:, :, p], axis=-1), axis=1)  # (B,)
        for j, p in enumerate(parents)
        if p >= 0
    }
    for left, right in mirror_pairs:
        if left in target and right in target:
            target[left] = target[right] = (target[left] + target[right]) / 2
    for joint in _topological_order(parents):
        parent = parents[joint]
        if parent < 0:
            out[:, :, joint] = poses[:, :, joint]
            continue
        length = lengths[joint]
        scale = np.divide(target[joint][:, None], length, out=np.zeros_like(length), where=length > 0)
        out[:, :, joint] = out[:, :, parent] + bones[joint] * scale[..., None]
    return out


# align_orientation and orientation_change_degrees work through this many frames at a time (bounds
# their temporaries).
ALIGN_FRAMES = 4096


def align_orientation(sequences: np.ndarray, reference: np.ndarray, root: int = 0) -> np.ndarray:
    """Each frame of ``(B, T, V, 3)`` poses turned about its root joint to the orientation of the same
    frame of ``reference`` (same shape); returns a new float64 array.

    The rotation is the least-squares one over all joints, root-relative (Kabsch, without scaling or
    reflection), so a frame's articulation and bone lengths are kept and only its global orientation
    (where the body faces and how it leans towards the camera) becomes the reference's. Computed for all
    frames at once with a batched SVD (scipy's ``Rotation.align_vectors`` takes one frame per call, the
    same solution).
    """
    poses, target = _checked_pair(sequences, reference, root)
    out = np.empty_like(poses)
    # Frame by frame independent: slices of frames bound the temporaries for hour-long inputs.
    for start in range(0, poses.shape[1], ALIGN_FRAMES):
        part = slice(start, start + ALIGN_FRAMES)
        origin = poses[:, part, root : root + 1]
        moved = poses[:, part] - origin  # (B, t, V, 3)
        rotation = _frame_rotations(moved, target[:, part] - target[:, part, root : root + 1])
        out[:, part] = np.einsum("btij,btvj->btvi", rotation, moved) + origin
    return out


def _checked_sequences(sequences, root) -> np.ndarray:
    """``sequences`` as float64 ``(B, T, V, 3)`` (no copy when it already is), ``root`` a joint index of it."""
    poses = np.asarray(sequences, np.float64)
    if poses.ndim != 4 or poses.shape[-1] != 3:
        raise ValueError(f"sequences: expected shape (B, T, V, 3), got {poses.shape}")
    if isinstance(root, bool) or not isinstance(root, int | np.integer) or not 0 <= root < poses.shape[2]:
        raise ValueError(f"root: expected a joint index in [0, {poses.shape[2]}), got {root!r}")
    return poses


def _checked_pair(sequences, reference, root) -> tuple[np.ndarray, np.ndarray]:
    """`_checked_sequences` of ``sequences`` and ``reference`` of the same shape, both float64."""
    poses = _checked_sequences(sequences, root)
    target = np.asarray(reference, np.float64)
    if target.shape != poses.shape:
        raise ValueError(f"reference: expected shape {poses.shape}, got {target.shape}")
    return poses, target


def _frame_rotations(moved: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """``(B, t, 3, 3)`` least-squares rotations (Kabsch, no reflection) taking each root-relative frame of
    ``moved`` ``(B, t, V, 3)`` onto the same frame of ``fixed``."""
    covariance = np.einsum("btvi,btvj->btij", moved, fixed)  # (B, t, 3, 3)
    u, _, vt = np.linalg.svd(covariance)
    # A reflection is never a rotation: flip the weakest axis where the best orthogonal map has det -1.
    sign = np.sign(np.linalg.det(np.einsum("btji,btkj->btik", vt, u)))
    sign[sign == 0] = 1.0
    correction = np.ones((*sign.shape, 3))
    correction[..., 2] = sign
    return np.einsum("btji,btj,btkj->btik", vt, correction, u)  # V diag(1, 1, d) U^T


def orientation_change_degrees(sequences: np.ndarray, reference: np.ndarray, root: int = 0) -> np.ndarray:
    """``(B, T)`` angle in degrees of the least-squares rotation about the root between each frame of
    ``(B, T, V, 3)`` poses and the same frame of ``reference``: how far the poses turned the whole body
    (the rotation `align_orientation` would undo)."""
    poses, target = _checked_pair(sequences, reference, root)
    angles = np.empty(poses.shape[:2])
    for start in range(0, poses.shape[1], ALIGN_FRAMES):
        part = slice(start, start + ALIGN_FRAMES)
        rotation = _frame_rotations(
            poses[:, part] - poses[:, part, root : root + 1], target[:, part] - target[:, part, root : root + 1]
        )
        # atan2 of the rotation's sine (its skew part) and cosine (its trace): exact near 0 and 180 degrees.
        skew = rotation - np.swapaxes(rotation, -1, -2)
        sine = np.linalg.norm(np.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1), axis=-1) / 2.0
        cosine = (np.trace(rotation, axis1=-2, axis2=-1) - 1.0) / 2.0
        angles[:, part] = np.degrees(np.arctan2(sine, cosine))
    return angles


def smooth_over_time(sequences: np.ndarray, sigma: float, root: int = 0) -> np.ndarray:
    """Gaussian low-pass along time (``scipy.ndimage.gaussian_filter1d``, ``sigma`` in frames, the end
    frames repeated) of every joint's position relative to the root joint, of ``(B, T, V, 3)`` poses;
    the root trajectory is kept as it is. Returns a new float64 array (``sigma == 0``: a copy).

    Works joint by joint, so its temporaries are one joint's trajectory, whatever the length.
    """
    poses = _checked_sequences(sequences, root)
    if not is_nonnegative_number(sigma):
        raise ValueError(f"sigma: expected a finite number >= 0 (frames), got {sigma!r}")
    out = poses.copy()
    if sigma == 0:
        return out
    origin = out[:, :, root]  # (B, T, 3), a view: the root stays
    for joint in range(out.shape[2]):
        if joint == root:
            continue
        relative = out[:, :, joint] - origin  # (B, T, 3)
        out[:, :, joint] = gaussian_filter1d(relative, float(sigma), axis=1, mode="nearest") + origin
    return out


def median_change(sequences: np.ndarray, reference: np.ndarray, root: int = 0) -> np.ndarray:
    """``(B,)`` median over frames and non-root joints of the length of each joint's change (relative to
    the root) from ``reference`` to ``(B, T, V, 3)`` poses: how far a refiner moved a whole sequence."""
    poses, target = _checked_pair(sequences, reference, root)
    joints = [j for j in range(poses.shape[2]) if j != root]
    out = np.zeros(len(poses))
    if not joints:
        return out
    lengths = np.empty((poses.shape[1], len(joints)))  # one sequence's (T, V - 1) at a time
    for b in range(len(poses)):
        for start in range(0, poses.shape[1], ALIGN_FRAMES):  # slices of frames bound the temporaries
            moved, fixed = poses[b, start : start + ALIGN_FRAMES], target[b, start : start + ALIGN_FRAMES]
            change = (moved[:, joints] - moved[:, root : root + 1]) - (fixed[:, joints] - fixed[:, root : root + 1])
            lengths[start : start + ALIGN_FRAMES] = np.linalg.norm(change, axis=-1)
        out[b] = np.median(lengths)
    return out


def weigh_changes(
    sequences: np.ndarray, reference: np.ndarray, weight: float, full_change_min: float | None = None, root: int = 0
) -> np.ndarray:
    """``reference + weight * (sequences - reference)`` for each ``(T, V, 3)`` sequence of ``(B, T, V, 3)``
    poses, except a sequence whose `median_change` exceeds ``full_change_min`` (metres), kept as it is
    (``None``: every sequence weighed). With the same root trajectory in both, the root is kept. Returns a
    new float64 array."""
    poses, target = _checked_pair(sequences, reference, root)
    out = poses.copy()
    _weigh_in_place(out, target, weight, full_change_min, root)
    return out


def _weigh_in_place(poses: np.ndarray, target: np.ndarray, weight, full_change_min, root: int) -> None:
    """`weigh_changes` writing into float64 ``poses`` (refine() owns its array: no copy of an hour's poses)."""
    if not (is_nonnegative_number(weight) and weight <= 1):
        raise ValueError(f"weight: expected a number in [0, 1], got {weight!r}")
    if full_change_min is not None and not is_nonnegative_number(full_change_min):
        raise ValueError(f"full_change_min: expected None or a finite number >= 0 (metres), got {full_change_min!r}")
    weighed = np.ones(len(poses), bool) if full_change_min is None else median_change(poses, target, root) <= full_change_min
    for b in np.flatnonzero(weighed):
        for start in range(0, poses.shape[1], ALIGN_FRAMES):
            part = poses[b, start : start + ALIGN_FRAMES]  # a view: updated in place
            fixed = target[b, start : start + ALIGN_FRAMES]
            part -= fixed
            part *= weight
            part += fixed


def fill_missing(
    poses: np.ndarray,
    parents,
    bone_lengths=None,
    mirror_pairs=None,
    joint_names=None,
    stacklevel: int = 2,
) -> np.ndarray:
    """Fill NaN keypoints of ``(B, T, V, 3)`` poses; returns a new float64 array without NaN.

    A coordinate NaN in some frames: linear interpolation over time of that joint's coordinate (the
    nearest observed value held at the ends). A joint with a coordinate never observed in its
    sequence: placed by the skeleton (those coordinates only), with a warning naming it. A non-root
    joint goes at its parent plus ``bone_lengths[joint]`` along the parent's bone (parent minus
    grandparent); for a child of the root, away from its observed mirror partner, else up (-y). The
    root goes at the mean of its observed mirror-paired children (the hips), else of all its observed
    children, else of all observed joints.

    Args:
        parents: parent of each joint, -1 for the root.
        bone_lengths: typical length of the bone ending at each joint, metres; default: the
            Human3.6M-17 table for the Human3.6M-17 layout, else each sequence's median observed bone.
        mirror_pairs: ``(left, right)`` joint pairs; default: Human3.6M-17's for that layout.
        joint_names: names for the warning; default: Human3.6M-17's for that layout, else indices.
        stacklevel: frames up from this function that the warning blames (as `warnings.warn`).
    """
    parents = [int(p) for p in parents]
    h36m = tuple(parents) == H36M_PARENTS
    if bone_lengths is None and h36m:
        bone_lengths = H36M_BONE_LENGTHS_METRES
    if mirror_pairs is None:
        mirror_pairs = zip(H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT) if h36m else ()
    if joint_names is None:
        joint_names = H36M_JOINT_NAMES if h36m else [f"joint {j}" for j in range(len(parents))]
    partner = {}
    for left, right in mirror_pairs:
        partner[left], partner[right] = right, left
    order = _topological_order(parents)
    children = [c for c, p in enumerate(parents) if p >= 0]

    filled = np.array(poses, dtype=np.float64)  # a copy
    num_sequences, length, _, _ = filled.shape
    time = np.arange(length)
    placed: dict[int, list[int]] = {}
    for b in range(num_sequences):
        sequence = filled[b]  # a view: filled in place
        holes = np.isnan(sequence).any(axis=0)  # (V, 3)
        for v, c in np.argwhere(holes):
            observed = ~np.isnan(sequence[:, v, c])
            if observed.any():
                sequence[:, v, c] = np.interp(time, time[observed], sequence[observed, v, c])
        never = [int(v) for v in np.flatnonzero(np.isnan(sequence).any(axis=0).any(axis=1))]
        if not never:
            continue
        if bone_lengths is None:
            bones = np.linalg.norm(sequence[:, children] - sequence[:, [parents[c] for c in children]], axis=-1)
            bones = bones[np.isfinite(bones)]
            typical = float(np.median(bones)) if bones.size else TYPICAL_MEDIAN_BONE_LENGTH_METRES
            lengths = [typical] * len(parents)
        else:
            lengths = bone_lengths
        for v in order:
            if v in never:
                _place_joint(sequence, v, parents, partner, lengths, never)
        placed[b] = never
    if placed:
        shown = [f"sequence {b}: " + ", ".join(joint_names[v] for v in joints) for b, joints in list(placed.items())[:5]]
        more = f"; and {len(placed) - 5} more sequences" if len(placed) > 5 else ""
        warnings.warn(
            "poses: joints never observed in a sequence were placed by the skeleton (parent plus a typical "
            f"bone length along the parent's bone), not measured: {'; '.join(shown)}{more}",
            stacklevel=stacklevel,
        )
    return filled


def _place_joint(sequence: np.ndarray, joint: int, parents, partner: dict, lengths, never: list[int]) -> None:
    """Fill the NaN coordinates of ``sequence[:, joint]`` ``(T, V, 3)`` from the skeleton, in place."""
    parent = parents[joint]
    if parent < 0:
        kids = [c for c, p in enumerate(parents) if p == joint and c not in never]
        paired = [c for c in kids if partner.get(c) in kids]
        observed = [v for v in range(sequence.shape[1]) if v not in never]
        source = paired or kids or observed
        with warnings.catch_warnings():  # an all-NaN column here is filled by the children's placement
            warnings.simplefilter("ignore", RuntimeWarning)
            guess = np.nanmean(sequence[:, source or list(range(sequence.shape[1]))], axis=1)
    else:
        grandparent = parents[parent]
        if grandparent >= 0:
            direction = sequence[:, parent] - sequence[:, grandparent]
        elif joint in partner and parents[partner[joint]] == parent:
            direction = sequence[:, parent] - sequence[:, partner[joint]]  # NaN if not placed yet: up
        else:
            direction = np.full_like(sequence[:, parent], np.nan)
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        usable = np.isfinite(norm) & (norm > 1e-9)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(usable, direction / np.where(usable, norm, 1.0), _UP)
        guess = sequence[:, parent] + float(lengths[joint]) * unit
    column = sequence[:, joint]
    column[:] = np.where(np.isnan(column), guess, column)


def prepare_sequences(poses, confidence, config: GCNRefineConfig) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Validate ``refine``'s input and return ``(poses (B, T, V, 3) float64 without NaN, confidence
    (B, T, V) float32 or None, whether the input was one sequence)``. Called by `refine` only (the
    warnings blame the frame that called `refine`).

    The confidence is used with ``in_channels == 4`` only: required for "paper" (NaN read as 0),
    optional for "long_range" (None, or NaN entries, mean withheld and stay so)."""
    array, single = _validated_poses(poses, config)  # float64 numpy (B, T, V, 3)
    # Measured before filling: placed joints have metre-scale bones whatever the input's unit.
    _check_metres(array, config.joint_parents, stacklevel=_REFINE_STACKLEVEL)
    if np.isnan(array).any():
        array = fill_missing(
            array,
            config.joint_parents,
            mirror_pairs=list(zip(config.joints_left, config.joints_right)),
            joint_names=config.joint_names,
            stacklevel=_REFINE_STACKLEVEL,
        )
    conf = None
    if config.in_channels == 4:
        shape = tuple(poses.shape[:-1])
        if confidence is None:
            if not config.confidence_required:
                return array, None, single  # "long_range": withheld, the model's learned stand-in
            raise ValueError(f"confidence: expected an array of shape {shape} (poses.shape[:-1]) with in_channels=4, got None")
        conf = np.asarray(confidence.detach().cpu() if isinstance(confidence, torch.Tensor) else confidence, np.float32)
        accepted = {shape, tuple(array.shape[1:-1])} if single else {shape}  # (T, 1, V) input: (T, V) too
        if conf.shape not in accepted:
            raise ValueError(f"confidence: expected shape {shape} (poses.shape[:-1]), got {conf.shape}")
        conf = conf.reshape(array.shape[:-1])
        # "paper": NaN reads as 0 (no confidence); "long_range": NaN means withheld (ConfidenceInput).
        conf = np.nan_to_num(conf, nan=0.0) if config.confidence_required else np.ascontiguousarray(conf)
    return array, conf, single


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def chunk_plan(
    length: int, chunk_length: int, overlap: int, context: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """How the long-range refiner covers a ``length``-frame sequence with chunks, and how it blends them.

    Chunks of ``chunk_length`` frames start every ``chunk_length - overlap`` frames; the last one is
    shifted back to end at the sequence's end, so every chunk has the same length (batched in one
    forward) and the last overlap may be longer than ``overlap``. A sequence of at most
    ``chunk_length`` frames is one chunk of ``length`` frames.

    ``context = (past, future)``: how many earlier and later input frames one output frame depends on
    (``GCNRefineConfig.temporal_context``). An output frame of a chunk equals the one-pass output when
    its whole context lies inside the chunk or the context leaves the sequence itself (where one pass
    pads too). So in each overlap of two consecutive chunks ``a`` and ``b`` (``o`` frames):

    * with ``o >= past + future``: ``b``'s first ``past`` frames and ``a``'s last ``future`` frames
      (wrong: their context was cut by the chunk's own edge) get weight 0, and the rest of the overlap
      is cross-faded linearly (``a`` from 1 down to 0, ``b`` from 0 up to 1, both strictly between 0
      and 1 there). Every frame with a positive weight is then exact, so the blend equals one pass
      over the whole sequence, up to float rounding;
    * with a smaller overlap, ``o // 2`` frames are discarded, split between ``b``'s start and ``a``'s
      end in proportion to ``past`` and ``future``, and the other frames are cross-faded: close to, but
      not equal to, one pass.

    Weights are normalised per frame (they matter where more than two chunks overlap, with
    ``overlap > chunk_length / 2``), so for every frame the weights of the chunks holding it sum to 1.

    Args:
        length: frames in the sequence, ``>= 1``.
        chunk_length: frames per chunk, ``>= 1``.
        overlap: frames shared by consecutive chunks, ``0 <= overlap < chunk_length``.
        context: ``(past, future)``, both ``>= 0``.

    Returns:
        ``(chunks, weights)``: ``chunks`` ``(N, 2)`` int64 ``(start, stop)`` of each chunk, starts
        increasing; ``weights`` ``(N, stop - start)`` float64, ``weights[i, j]`` the weight of chunk ``i``'s
        output frame ``start_i + j``.
    """
    length = _check_count("length", length, 1)
    chunk_length = _check_count("chunk_length", chunk_length, 1)
    overlap = _check_count("overlap", overlap, 0)
    if overlap >= chunk_length:
        raise ValueError(f"overlap: expected fewer frames than chunk_length = {chunk_length}, got {overlap}")
    if not isinstance(context, tuple | list) or len(context) != 2:
        raise ValueError(f"context: expected (past, future), got {context!r}")
    past, future = (_check_count(f"context[{i}]", c, 0) for i, c in enumerate(context))

    size = min(chunk_length, length)
    if length <= chunk_length:
        starts = [0]
    else:
        step = chunk_length - overlap
        starts = [*range(0, length - chunk_length, step), length - chunk_length]
    starts = np.asarray(starts, dtype=np.int64)
    chunks = np.stack([starts, starts + size], axis=1)

    # Hand-over i (from chunk i-1 to chunk i) cross-fades frames [fade[i, 0], fade[i, 1]); ramp_i(t) is
    # how far it has gone at frame t: 0 before, 1 after. Hand-over 0 is done before the sequence starts,
    # hand-over N never begins.
    fade = np.zeros((len(chunks) + 1, 2), dtype=np.int64)
    fade[0] = -1
    fade[-1] = length + 1
    for i, ((_, stop_a), (start_b, _)) in enumerate(itertools.pairwise(chunks), start=1):
        shared = int(stop_a - start_b)
        if shared >= past + future:
            skip_b, skip_a = past, future
        else:
            discard = shared // 2
            skip_a = round(discard * future / (past + future))
            skip_b = discard - skip_a
        fade[i] = (start_b + skip_b, stop_a - skip_a)

    def ramp(i: int, frames: np.ndarray) -> np.ndarray:
        first, end = fade[i]
        return np.clip((frames - first + 1) / (end - first + 1), 0.0, 1.0)

    # Chunk i: the hand-over from i-1 done so far, times what is not yet handed over to i+1; then
    # normalised per frame (O(length) memory for any number of chunks).
    weights = np.stack([ramp(i, np.arange(a, b)) * (1.0 - ramp(i + 1, np.arange(a, b))) for i, (a, b) in enumerate(chunks)])
    total = np.zeros(length)
    for (a, b), w in zip(chunks, weights):
        total[a:b] += w
    weights /= np.stack([total[a:b] for a, b in chunks])  # > 0: the last chunk handed over to holds each frame
    return chunks, weights


def restore_output(refined: np.ndarray, poses, single: bool):
    """``refined (B, T, V, 3)`` in the type, shape, dtype and device of ``refine``'s input ``poses``."""
    refined = (refined[0] if single else refined).reshape(tuple(poses.shape))
    if isinstance(poses, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(refined)).to(device=poses.device, dtype=poses.dtype)
    return refined.astype(np.asarray(poses).dtype, copy=False)

"""Ground-truth-free measures of a pose sequence, and of what a refiner changed in one.

Without ground truth (an in-the-wild video, the shipped example) MPJPE cannot be computed, but a
refiner should still move joints only a little, keep each bone's length steady over time (a real
person's bones do not stretch), keep left and right limbs equally long (a real person's are) and
remove jitter. These numbers say so:

- :func:`mean_displacement`: how far the refiner moved the joints, on average (mm);
- :func:`bone_length_spread`: the mean over bones of the standard deviation over time of the bone's
  length (mm); 0 for a rigid skeleton;
- :func:`left_right_asymmetry`: the mean over frames and left/right bone pairs of the difference
  between the left and the right bone's length (mm); 0 for a symmetric skeleton;
- :func:`jitter`: the mean magnitude of the second difference over time (mm/frame²); 0 for
  motion at constant velocity. :func:`acceleration` is the same function under its older name.

Poses are ``(T, J, 3)`` in metres (``(T, 1, J, 3)``, one person, is accepted too); results are in
millimetres. Non-finite keypoints (a frame where no person was found) are left out of every mean; a
measure with nothing left to average is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..skeleton import H36M_JOINTS_LEFT, H36M_JOINTS_RIGHT, H36M_PARENTS

MM_PER_METRE = 1000.0


def _check_poses(poses, name: str, min_frames: int = 1) -> np.ndarray:
    array = np.asarray(poses)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[-1] != 3 or array.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (T, J, 3) or (T, 1, J, 3), got {array.shape}")
    if array.shape[0] < min_frames:
        raise ValueError(f"{name}: expected at least {min_frames} frames, got {array.shape[0]}")
    return array.astype(np.float64)


def _finite_mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def mean_displacement(before, after) -> float:
    """Mean distance (mm) between each joint in ``before`` and the same joint in ``after``.

    Args:
        before: poses ``(T, J, 3)`` in metres, e.g. a lifter's output.
        after: poses of the same shape, e.g. the refiner's output for ``before``.
    """
    before = _check_poses(before, "before")
    after = _check_poses(after, "after")
    if before.shape != after.shape:
        raise ValueError(f"after: expected the shape of before {before.shape}, got {after.shape}")
    return _finite_mean(np.linalg.norm(after - before, axis=-1)) * MM_PER_METRE


def _check_parents(parents: Sequence[int], joints: int) -> list[int]:
    parents = [int(p) for p in parents]
    if len(parents) != joints:
        raise ValueError(f"parents: expected {joints} entries (one per joint), got {len(parents)}")
    return parents


def bone_length_spread(poses, parents: Sequence[int] = H36M_PARENTS) -> float:
    """Mean over bones of the standard deviation over time of the bone's length (mm).

    Args:
        poses: ``(T, J, 3)`` in metres, at least 2 frames.
        parents: each joint's parent index (-1 for the root), ``J`` entries; Human3.6M-17 by default.
    """
    poses = _check_poses(poses, "poses", min_frames=2)
    parents = _check_parents(parents, poses.shape[1])
    children = [child for child, parent in enumerate(parents) if parent >= 0]
    if not children:
        raise ValueError(f"parents: expected at least one bone (a parent >= 0), got {parents}")
    lengths = np.linalg.norm(poses[:, children] - poses[:, [parents[c] for c in children]], axis=-1)
    spreads = []
    for bone in lengths.T:
        bone = bone[np.isfinite(bone)]
        if bone.size >= 2:
            spreads.append(bone.std())
    return float(np.mean(spreads)) * MM_PER_METRE if spreads else float("nan")


def left_right_asymmetry(
    poses,
    parents: Sequence[int] = H36M_PARENTS,
    joints_left: Sequence[int] = H36M_JOINTS_LEFT,
    joints_right: Sequence[int] = H36M_JOINTS_RIGHT,
) -> float:
    """Mean over frames and left/right bone pairs of ``|length(left bone) - length(right bone)|`` (mm).

    Bone ``j`` joins joint ``j`` to its parent; ``joints_left[i]`` and ``joints_right[i]`` end the
    ``i``-th pair (Human3.6M-17 by default: hips, knees, ankles, shoulders, elbows, wrists).

    Args:
        poses: ``(T, J, 3)`` in metres.
        parents: each joint's parent index (-1 for the root), ``J`` entries.
        joints_left: the joints that end the left bones.
        joints_right: the joints that end the matching right bones, in the same order.
    """
    poses = _check_poses(poses, "poses")
    parents = _check_parents(parents, poses.shape[1])
    left = [int(j) for j in joints_left]
    right = [int(j) for j in joints_right]
    if not left:
        raise ValueError(f"joints_left: expected at least one joint, got {left}")
    if len(right) != len(left):
        raise ValueError(f"joints_right: expected {len(left)} joints (as many as joints_left), got {len(right)}")
    for name, joints in (("joints_left", left), ("joints_right", right)):
        bad = [j for j in joints if not 0 <= j < len(parents) or parents[j] < 0]
        if bad:
            raise ValueError(
                f"{name}: expected joints in 0..{len(parents) - 1} that have a parent, got {bad}"
            )

    def lengths(joints: list[int]) -> np.ndarray:
        return np.linalg.norm(poses[:, joints] - poses[:, [parents[j] for j in joints]], axis=-1)

    return _finite_mean(np.abs(lengths(left) - lengths(right))) * MM_PER_METRE


def jitter(poses) -> float:
    """Mean magnitude (mm/frame²) of the second difference over time, over all frames and joints.

    Args:
        poses: ``(T, J, 3)`` in metres, at least 3 frames.
    """
    poses = _check_poses(poses, "poses", min_frames=3)
    second = poses[2:] - 2.0 * poses[1:-1] + poses[:-2]
    return _finite_mean(np.linalg.norm(second, axis=-1)) * MM_PER_METRE


# The older name, kept for callers that still use it.
acceleration = jitter


def plausibility_change(
    before,
    after,
    parents: Sequence[int] = H36M_PARENTS,
    joints_left: Sequence[int] = H36M_JOINTS_LEFT,
    joints_right: Sequence[int] = H36M_JOINTS_RIGHT,
) -> dict[str, tuple[float, float] | float]:
    """What a refiner changed: ``{"displacement_mm": d, "bone_spread_mm": (b0, b1), "asymmetry_mm":
    (s0, s1), "jitter_mm": (j0, j1), "acceleration_mm": (j0, j1)}``.

    The first of each pair measures ``before`` and the second ``after`` (see the functions above);
    ``acceleration_mm`` repeats ``jitter_mm`` under its older key. Both need at least 3 frames.
    """
    displacement = mean_displacement(before, after)
    jitters = (jitter(before), jitter(after))

    def asymmetry(poses) -> float:
        return left_right_asymmetry(poses, parents, joints_left, joints_right)

    return {
        "displacement_mm": displacement,
        "bone_spread_mm": (bone_length_spread(before, parents), bone_length_spread(after, parents)),
        "asymmetry_mm": (asymmetry(before), asymmetry(after)),
        "jitter_mm": jitters,
        "acceleration_mm": jitters,
    }

"""Joint layouts: the one source of truth for joint names, parents, left/right and body parts.

This module travels with saved checkpoints (the model files import it relatively), so it
depends on numpy only and never on the rest of the package.

Human3.6M-17 order, anatomical convention (the joint called "left hip" is the person's left hip):

    0 pelvis, 1 right hip, 2 right knee, 3 right ankle, 4 left hip, 5 left knee, 6 left ankle,
    7 spine, 8 thorax, 9 neck/nose, 10 head, 11 left shoulder, 12 left elbow, 13 left wrist,
    14 right shoulder, 15 right elbow, 16 right wrist.

The upstream BlendMimic3D files store the same slots mirrored (the person's left leg in slots
1-3 and so on, see ``BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

H36M_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)


H36M_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)


H36M_JOINTS_LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)


H36M_JOINTS_RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)


H36M_ROOT = 0


# Typical length of the bone ending at each joint (root: 0), metres. Used to place a joint never
# observed in a sequence, so it needs a plausible adult, not a particular subject: these are the
# means over the BlendMimic3D ground truth (all 34,746 frames of S1-S3, anatomical order), the data
# the shipped refiner learned from; they agree within ~7 cm with the Human3.6M subjects' and the
# shipped in-the-wild example's. Median over the bones: 0.239 m.
H36M_BONE_LENGTHS_METRES: tuple[float, ...] = (
    0.0,  # pelvis (root)
    0.107,  # pelvis - right hip
    0.439,  # right thigh
    0.388,  # right shin
    0.107,  # pelvis - left hip
    0.439,  # left thigh
    0.388,  # left shin
    0.196,  # pelvis - spine
    0.257,  # spine - thorax
    0.088,  # thorax - neck
    0.212,  # neck - head
    0.177,  # thorax - left shoulder
    0.239,  # left upper arm
    0.246,  # left forearm
    0.177,  # thorax - right shoulder
    0.239,  # right upper arm
    0.246,  # right forearm
)


H36M_SPINE = 7


# Body parts used by the refiner's coarse graph, in the order of its part nodes.
H36M_PARTS: dict[str, tuple[int, ...]] = {
    "left_arm": (11, 12, 13),
    "right_arm": (14, 15, 16),
    "left_leg": (4, 5, 6),
    "right_leg": (1, 2, 3),
    "torso": (0, 7, 8, 9, 10),
}


# Left/right body-part pairs (by part name) that are joined as symmetric partners in the part graph.
H36M_PART_PAIRS: tuple[tuple[str, str], ...] = (("left_arm", "right_arm"), ("left_leg", "right_leg"))


# Slot permutation that turns upstream BlendMimic3D arrays into the anatomical convention
# (checked on the upstream files: the extractor writes the person's left leg into Human3.6M's right-leg slots
# and so on). It swaps every left/right pair, so it is its own inverse.
BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL: tuple[int, ...] = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)


COCO_JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@dataclass(frozen=True)
class SkeletonLayout:
    """A joint layout: names, parent of each joint (-1 for the root), left/right joint lists.

    ``joints_left[i]`` and ``joints_right[i]`` are mirror partners.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]
    root: int = 0
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError(f"parents: expected {n} entries (one per joint), got {len(self.parents)}")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError(
                f"joints_left/joints_right: expected equal lengths, got {len(self.joints_left)} "
                f"and {len(self.joints_right)}"
            )

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs, in child order."""
        return [(p, c) for c, p in enumerate(self.parents) if p >= 0]

    @property
    def flip_permutation(self) -> list[int]:
        """Index list that swaps every left joint with its right partner."""
        perm = list(range(self.num_joints))
        for left, right in zip(self.joints_left, self.joints_right):
            perm[left], perm[right] = right, left
        return perm


H36M = SkeletonLayout(
    name="h36m17",
    joint_names=H36M_JOINT_NAMES,
    parents=H36M_PARENTS,
    joints_left=H36M_JOINTS_LEFT,
    joints_right=H36M_JOINTS_RIGHT,
    root=H36M_ROOT,
    parts=H36M_PARTS,
)


def flip_permutation(joints_left, joints_right, num_joints: int) -> list[int]:
    """Index list that swaps each ``joints_left[i]`` with ``joints_right[i]``."""
    perm = list(range(num_joints))
    for left, right in zip(joints_left, joints_right):
        perm[left], perm[right] = right, left
    return perm


def flip_poses(poses, joints_left=H36M_JOINTS_LEFT, joints_right=H36M_JOINTS_RIGHT):
    """Mirror camera-frame poses ``(..., J, 3)`` (numpy or torch): negate x and swap left/right joints.

    Applying it twice gives the input back.
    """
    perm = flip_permutation(joints_left, joints_right, poses.shape[-2])
    flipped = poses[..., perm, :]
    if isinstance(flipped, np.ndarray):
        flipped = flipped.copy()
    else:  # torch: advanced indexing already copied
        pass
    flipped[..., 0] = -flipped[..., 0]
    return flipped


def bone_lengths(poses, parents=H36M_PARENTS):
    """Bone lengths ``(..., J-1)`` of poses ``(..., J, 3)``, one per non-root joint in joint order (numpy)."""
    poses = np.asarray(poses)
    children = [c for c, p in enumerate(parents) if p >= 0]
    parent_idx = [parents[c] for c in children]
    return np.linalg.norm(poses[..., children, :] - poses[..., parent_idx, :], axis=-1)


def mirror_blendmimic3d(array, axis: int = -2):
    """Swap left/right joint slots of an upstream BlendMimic3D array along ``axis`` (numpy).

    Works for 2D ``(T, 17, 2)``, 3D ``(T, 17, 3)`` (axis=-2) and visibility ``(T, 17)`` (axis=-1).
    The permutation is its own inverse, so this also maps anatomical back to upstream labels.
    """
    return np.take(np.asarray(array), BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL, axis=axis)

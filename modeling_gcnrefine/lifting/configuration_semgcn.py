"""Configuration of the built-in SemGCN lifter (Zhao et al., CVPR 2019: semantic graph convolutions).

This file travels with saved checkpoints (``auto_map``), so it imports nothing from the rest of the
package: the Human3.6M skeleton defaults below are plain constants.
"""

from __future__ import annotations

from dataclasses import field

from transformers import PreTrainedConfig

# SemGCN's 16-joint Human3.6M skeleton: Human3.6M-17 without index 9 (neck/nose), renumbered.
_SEMGCN_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14)
# Human3.6M-17 index of each of the 16 joints inside the network.
_SEMGCN_JOINT_MAP = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16)
# Neck/nose (9) is not predicted: it is placed halfway between thorax (8) and head (10).
_SEMGCN_MIDPOINT_JOINTS = ((9, 8, 10),)
# Human3.6M-17, anatomical convention (same values as the temporal lifter's defaults).
_H36M_JOINTS_LEFT = (4, 5, 6, 11, 12, 13)
_H36M_JOINTS_RIGHT = (1, 2, 3, 14, 15, 16)


def _is_int(value) -> bool:
    # bool is an int subclass; a config value of True where a count is expected is a mistake.
    return isinstance(value, int) and not isinstance(value, bool)


class SemGCNConfig(PreTrainedConfig):
    r"""Configuration of :class:`SemGCNModel`, the single-frame semantic graph convolutional lifter.

    The network maps normalised 2D keypoints of one frame ``(B, num_joints, in_features)`` to
    root-relative camera-frame 3D joints in metres ``(B, num_joints, out_features)``. Its graph is the
    skeleton given by ``parents`` with a self-loop on every joint; each graph convolution learns one
    weight per non-zero entry of that adjacency matrix (``num_adjacency_entries``: 46 for the default
    16 joints). The defaults are those of the published Human3.6M checkpoint (269,656 values: 267,343
    trainable parameters plus BatchNorm statistics).

    ``lift`` works on ``num_boundary_joints`` joints (Human3.6M-17): ``joint_map`` picks the network's
    joints out of them on the way in, and on the way out the boundary joints the network does not have
    are placed by ``midpoint_joints``. By default Human3.6M index 9 (neck/nose) is dropped on input and
    placed halfway between the thorax (8) and the head (10) on output.

    Args:
        num_joints (`int`, defaults to 16):
            Joints inside the network (the nodes of the graph).
        parents (`list[int]`, defaults to `[-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14]`):
            Parent of each network joint, ``-1`` for the root (joint 0, the pelvis; outputs are relative
            to it). Every other parent must come earlier in the list, so the graph is one tree.
        in_features (`int`, defaults to 2):
            Features per input joint (2 for normalised 2D keypoints).
        out_features (`int`, defaults to 3):
            Features per output joint (3 for x, y, z in metres).
        hidden_size (`int`, defaults to 128):
            Features per joint of every hidden graph convolution.
        num_blocks (`int`, defaults to 4):
            Residual blocks between the input and output convolutions; each block is two graph
            convolutions (with BatchNorm and ReLU) and adds its input to its output.
        dropout (`float` or `None`, defaults to `None`):
            Dropout probability after each hidden ReLU, in ``[0, 1)``; ``None`` (the published model) has
            no dropout layers at all.
        num_boundary_joints (`int`, defaults to 17):
            Joints at the ``lift`` boundary, in and out (Human3.6M-17).
        joint_map (`list[int]`, defaults to `[0, 1, ..., 8, 10, ..., 16]`):
            For each network joint, its boundary joint index (distinct). The default drops Human3.6M
            index 9 (neck/nose).
        midpoint_joints (`list[list[int]]`, defaults to `[[9, 8, 10]]`):
            ``[target, a, b]`` triples: boundary joint ``target`` is output as the mean of boundary joints
            ``a`` and ``b``, which must be in ``joint_map``. Every boundary joint outside ``joint_map``
            needs exactly one triple. The default puts neck/nose halfway between thorax and head.
        joints_left (`list[int]`, defaults to Human3.6M-17's left joints):
            Left boundary joints; ``joints_left[i]`` mirrors ``joints_right[i]``. Used by ``lift``'s flip
            test-time augmentation.
        joints_right (`list[int]`, defaults to Human3.6M-17's right joints):
            Right partners of ``joints_left``.

    Example:

    ```python
    >>> from modeling_gcnrefine.lifting import SemGCNConfig, SemGCNModel
    >>> config = SemGCNConfig(hidden_size=32, num_blocks=2)
    >>> config.num_adjacency_entries
    46
    >>> model = SemGCNModel(config)
    ```
    """

    model_type = "gcnrefine_semgcn"

    num_joints: int = 16
    parents: list[int] = field(default_factory=lambda: list(_SEMGCN_PARENTS))
    in_features: int = 2
    out_features: int = 3
    hidden_size: int = 128
    num_blocks: int = 4
    dropout: float | None = None
    num_boundary_joints: int = 17
    joint_map: list[int] = field(default_factory=lambda: list(_SEMGCN_JOINT_MAP))
    midpoint_joints: list[list[int]] = field(
        default_factory=lambda: [list(t) for t in _SEMGCN_MIDPOINT_JOINTS]
    )
    joints_left: list[int] = field(default_factory=lambda: list(_H36M_JOINTS_LEFT))
    joints_right: list[int] = field(default_factory=lambda: list(_H36M_JOINTS_RIGHT))

    def __post_init__(self, **kwargs) -> None:
        for name in ("num_joints", "in_features", "out_features", "hidden_size", "num_boundary_joints"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if not _is_int(self.num_blocks) or self.num_blocks < 0:
            raise ValueError(f"num_blocks: expected a non-negative int, got {self.num_blocks!r}")
        if self.dropout is not None and (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, int | float)
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"dropout: expected None or a float in [0, 1), got {self.dropout!r}")
        self._check_parents()
        self._check_boundary()
        super().__post_init__(**kwargs)

    def _check_parents(self) -> None:
        parents = self.parents
        if (
            not isinstance(parents, list | tuple)
            or len(parents) != self.num_joints
            or not all(_is_int(p) for p in parents)
            or parents[0] != -1
            or not all(0 <= p < i for i, p in enumerate(parents) if i > 0)
        ):
            raise ValueError(
                f"parents: expected {self.num_joints} ints, -1 first (the root) and every other parent an "
                f"earlier joint, got {parents!r}"
            )
        # Tuples (from Python callers) become lists so config.json round-trips to an equal config.
        self.parents = list(parents)

    def _check_boundary(self) -> None:
        n = self.num_boundary_joints
        if (
            not isinstance(self.joint_map, list | tuple)
            or len(self.joint_map) != self.num_joints
            or not all(_is_int(j) and 0 <= j < n for j in self.joint_map)
            or len(set(self.joint_map)) != len(self.joint_map)
        ):
            raise ValueError(
                f"joint_map: expected {self.num_joints} distinct boundary joint indices in [0, {n}), "
                f"got {self.joint_map!r}"
            )
        self.joint_map = list(self.joint_map)
        mapped = set(self.joint_map)
        triples = self.midpoint_joints
        if not isinstance(triples, list | tuple) or not all(
            isinstance(t, list | tuple) and len(t) == 3 and all(_is_int(j) and 0 <= j < n for j in t)
            for t in triples
        ):
            raise ValueError(
                f"midpoint_joints: expected [target, a, b] triples of boundary joint indices in [0, {n}), "
                f"got {triples!r}"
            )
        targets = [t[0] for t in triples]
        unplaced = sorted(set(range(n)) - mapped)
        if sorted(targets) != unplaced or any(a not in mapped or b not in mapped for _, a, b in triples):
            raise ValueError(
                f"midpoint_joints: expected exactly one triple for each boundary joint outside joint_map "
                f"({unplaced}), with both sources in joint_map, got {triples!r}"
            )
        self.midpoint_joints = [list(t) for t in triples]
        self.joints_left = self._joint_list("joints_left", self.joints_left)
        self.joints_right = self._joint_list("joints_right", self.joints_right)
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError(
                f"joints_right: expected as many entries as joints_left ({len(self.joints_left)}), "
                f"got {len(self.joints_right)}"
            )
        flipped = self.joints_left + self.joints_right
        if len(set(flipped)) != len(flipped):
            raise ValueError(
                f"joints_left/joints_right: expected distinct joints, got {self.joints_left} and {self.joints_right}"
            )

    def _joint_list(self, name: str, value) -> list[int]:
        if not isinstance(value, list | tuple) or not all(
            _is_int(j) and 0 <= j < self.num_boundary_joints for j in value
        ):
            raise ValueError(
                f"{name}: expected a list of boundary joint indices in [0, {self.num_boundary_joints}), "
                f"got {value!r}"
            )
        return list(value)

    @property
    def adjacency_entries(self) -> list[tuple[int, int]]:
        """Non-zero ``(row, column)`` entries of the skeleton adjacency with self-loops, row-major order
        (the order of each graph convolution's edge weights)."""
        entries = {(i, i) for i in range(self.num_joints)}
        for child, parent in enumerate(self.parents):
            if parent >= 0:
                entries |= {(child, parent), (parent, child)}
        return sorted(entries)

    @property
    def num_adjacency_entries(self) -> int:
        """Edge weights per graph convolution: ``num_joints`` self-loops plus two per bone (46 by default)."""
        return self.num_joints + 2 * (self.num_joints - 1)

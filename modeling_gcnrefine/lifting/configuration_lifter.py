"""Configuration of the built-in temporal lifter (VideoPose3D's dilated temporal convolutions).

This file travels with saved checkpoints (``auto_map``), so it imports nothing from the rest of the
package: the Human3.6M-17 left/right defaults below are plain constants, and a test checks that they
equal ``modeling_gcnrefine.skeleton.H36M``.
"""

from __future__ import annotations

from dataclasses import field

from transformers import PreTrainedConfig

# Human3.6M-17, anatomical convention (same values as skeleton.H36M_JOINTS_LEFT/RIGHT, checked by a test).
_H36M_JOINTS_LEFT = (4, 5, 6, 11, 12, 13)


_H36M_JOINTS_RIGHT = (1, 2, 3, 14, 15, 16)


def _is_int(value) -> bool:
    # bool is an int subclass; a config value of True where a count is expected is a mistake.
    return isinstance(value, int) and not isinstance(value, bool)


class LifterConfig(PreTrainedConfig):
    r"""Configuration of :class:`TemporalLifterModel`, the VideoPose3D temporal convolutional lifter.

    The network maps a window of normalised 2D keypoints ``(B, T_in, num_joints, in_features)`` to
    root-relative camera-frame 3D joints in metres ``(B, T_in - receptive_field + 1, num_joints,
    out_features)``. The receptive field is ``prod(filter_widths)`` frames: ``[3, 3, 3]`` gives 27,
    ``[3, 3, 3, 3]`` 81 and ``[3, 3, 3, 3, 3]`` 243.

    Args:
        num_joints (`int`, defaults to 17):
            Joints in and out (Human3.6M-17 order for the defaults of ``joints_left``/``joints_right``).
        in_features (`int`, defaults to 2):
            Features per input joint (2 for normalised 2D keypoints).
        out_features (`int`, defaults to 3):
            Features per output joint (3 for x, y, z in metres).
        filter_widths (`list[int]`, defaults to `[3, 3, 3]`):
            Temporal kernel width of each block; odd and positive. The first is the expand convolution,
            every later one a residual block whose dilation is the product of the widths before it.
        channels (`int`, defaults to 1024):
            Width of every hidden convolution.
        dropout (`float`, defaults to 0.25):
            Dropout probability after every hidden convolution, in ``[0, 1)``.
        causal (`bool`, defaults to `False`):
            Causal mode: each output frame aligns with the *last* frame of its input window instead of
            the centre (for real-time use). Only the residual slicing changes, so weights are shared.
        dense (`bool`, defaults to `False`):
            VideoPose3D's ablation: undilated convolutions of width ``(w - 1) * dilation + 1`` instead of
            dilated ones (same receptive field, many more parameters).
        joints_left (`list[int]`, defaults to Human3.6M-17's left joints):
            Left joints; ``joints_left[i]`` mirrors ``joints_right[i]``. Used by flip test-time
            augmentation and flip training augmentation.
        joints_right (`list[int]`, defaults to Human3.6M-17's right joints):
            Right partners of ``joints_left``.
        bn_momentum (`float`, defaults to 0.1):
            BatchNorm momentum at construction (VideoPose3D decays it during training; see
            ``TemporalLifterModel.set_bn_momentum``).

    Example:

    ```python
    >>> from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel
    >>> config = LifterConfig(filter_widths=[3, 3, 3, 3, 3])  # 243 frames
    >>> config.receptive_field
    243
    >>> model = TemporalLifterModel(config)
    ```
    """

    model_type = "gcnrefine_lifter"

    num_joints: int = 17
    in_features: int = 2
    out_features: int = 3
    filter_widths: list[int] = field(default_factory=lambda: [3, 3, 3])
    channels: int = 1024
    dropout: float = 0.25
    causal: bool = False
    dense: bool = False
    joints_left: list[int] = field(default_factory=lambda: list(_H36M_JOINTS_LEFT))
    joints_right: list[int] = field(default_factory=lambda: list(_H36M_JOINTS_RIGHT))
    bn_momentum: float = 0.1

    def __post_init__(self, **kwargs) -> None:
        for name in ("num_joints", "in_features", "out_features", "channels"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        # Tuples (from Python callers) become lists so config.json round-trips to an equal config.
        self.filter_widths = (
            list(self.filter_widths) if isinstance(self.filter_widths, list | tuple) else None
        )
        if not self.filter_widths or not all(
            _is_int(w) and w >= 1 and w % 2 == 1 for w in self.filter_widths
        ):
            raise ValueError(
                f"filter_widths: expected a non-empty list of odd positive ints, got {self.filter_widths!r}"
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, int | float)
            or not 0 <= self.dropout < 1
        ):
            raise ValueError(f"dropout: expected a float in [0, 1), got {self.dropout!r}")
        if (
            isinstance(self.bn_momentum, bool)
            or not isinstance(self.bn_momentum, int | float)
            or not 0 <= self.bn_momentum <= 1
        ):
            raise ValueError(f"bn_momentum: expected a float in [0, 1], got {self.bn_momentum!r}")
        for name in ("causal", "dense"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected a bool, got {getattr(self, name)!r}")
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
        super().__post_init__(**kwargs)

    def _joint_list(self, name: str, value) -> list[int]:
        if not isinstance(value, list | tuple) or not all(
            _is_int(j) and 0 <= j < self.num_joints for j in value
        ):
            raise ValueError(
                f"{name}: expected a list of joint indices in [0, {self.num_joints}), got {value!r}"
            )
        return list(value)

    @property
    def receptive_field(self) -> int:
        """Input frames that produce one output frame: ``1 + 2 * sum(pads)`` = ``prod(filter_widths)``."""
        frames, dilation = 1, 1
        for width in self.filter_widths:
            frames += (width - 1) * dilation
            dilation *= width
        return frames

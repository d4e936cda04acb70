"""Configuration of the ST-GCN pose refiner."""

from __future__ import annotations

from dataclasses import field

import numpy as np
from transformers import PreTrainedConfig

from .graph import NORMALIZATIONS
from .skeleton import (
    H36M_JOINT_NAMES,
    H36M_JOINTS_LEFT,
    H36M_JOINTS_RIGHT,
    H36M_PARENTS,
    H36M_PART_PAIRS,
    H36M_PARTS,
    H36M_ROOT,
    H36M_SPINE,
)

# Temporal-derivative loss weights (the paper's): 1 for wrists and ankles, 2.5 for elbows and knees, 4 elsewhere.
_VELOCITY_WEIGHTS = [4.0, 4.0, 2.5, 1.0, 4.0, 2.5, 1.0, 4.0, 4.0, 4.0, 4.0, 4.0, 2.5, 1.0, 4.0, 2.5, 1.0]

ARCHITECTURES = ("paper", "long_range")
BONE_LENGTH_SOURCES = ("refined", "input")


class GCNRefineConfig(PreTrainedConfig):
    r"""Configuration of [`GCNRefineModel`], the spatial-temporal graph convolutional refiner of
    Lino, Santiago and Marques (CVPR 2024), built on Cai et al. (ICCV 2019).

    The defaults reproduce the reference network (5,041,257 parameters), with two documented
    departures: `input_norm_eps` (the reference passes 0.1 by mistake) and the absolute symmetry loss.

    Joint layout (defaults: Human3.6M-17, anatomical left/right):
        joint_names (`list[str]`): one name per joint; its length is the number of joints.
        joint_parents (`list[int]`): parent of each joint, -1 for the root; defines the bones.
        joints_left (`list[int]`), joints_right (`list[int]`): mirror partners, pairwise; used for the
            symmetric graph edges, flip augmentation, flip test and the symmetry loss.
        root_joint (`int`): joint subtracted to make poses root-relative (pelvis).
        spine_joint (`int`): centre of the graph; bone classes follow the hop distance to it.
        parts (`dict[str, list[int]]`): body parts pooled into the coarse part graph, in part-node order.
        part_pairs (`list[list[str]]`): left/right part pairs joined as symmetric partners.
        center_part (`str`): the part every other part links to (the torso).

    Architecture:
        architecture (`str`, defaults to "paper"): which network the config builds.
            "paper": the paper's ST-GCN over windows of `num_frames` frames (joint graph, part graph,
            non-local attention over all T*V nodes); `refine` slides a centred window over every frame
            and keeps its centre. A config.json without this field means "paper".
            "long_range": a per-frame spatial graph convolution over the paper's spatial neighbour
            classes (self, farther from / closer to the spine, symmetric partner) followed by dilated
            temporal convolutions (VideoPose3D-style residual blocks, receptive field
            `receptive_field`, 81 frames by default), sequence to sequence: one forward on
            ``(B, T, V, 3)`` refines every frame, for any T (same padding, cost per frame independent of
            T); `refine` runs overlapping chunks of `chunk_length` frames and blends them.
            Not to be confused with transformers' `architectures` (the model class names).
            Presets: `GCNRefineConfig.paper()`, `GCNRefineConfig.long_range()`, `GCNRefineConfig.preset(name)`.

    Network (both architectures unless marked):
        num_frames (`int`, defaults to 3): "paper": window length T, which sizes the graph (paper: 3; the
            reference code's default is 5). "long_range": the training window length only (the network
            takes any T); windows of at least `receptive_field` frames let most frames see full context.
        in_channels (`int`, defaults to 3): per-joint input features: xyz, or xyz + detector confidence (4).
            "paper": with 4 the confidence is required. "long_range": with 4 the confidence is optional;
            withheld confidence (None, or NaN entries) is replaced by a learned per-joint value and a
            "given" flag of 0, so one model serves lifters with and without confidence.
        joint_channels (`list[int]`, defaults to `[128, 128, 256]`): widths of the joint-graph units.
        part_channels (`list[int]`, defaults to `[512, 512]`): widths of the part-graph units.
        fusion_channels (`int`, defaults to 256): width after fusing global and part features.
        non_local_channels (`int`, defaults to 256): width of the attention's theta, phi and g.
        temporal_kernel_size (`int`, defaults to 3): odd kernel of the temporal convolution over frames
            ("paper": the one convolution of the global feature; "long_range": every dilated convolution).
        unit_dropout (`float`, defaults to 0.05): dropout inside each graph unit.
        temporal_dropout (`float`, defaults to 0.25): dropout after the temporal convolution(s).
        fusion_dropout (`float`, defaults to 0.1): dropout after the fusion convolution.
        output_dropout (`float`, defaults to 0.1): dropout before the output projection.
        adjacency_normalization (`str`, defaults to "reference"): "reference" divides the union
            adjacency by the receiver's degree (the published numbers); "symmetric" is the paper's
            equation (2), D^-1/2 A_k D^-1/2 per class.
        input_norm_eps (`float`, defaults to 1e-5): eps of the input BatchNorm. The reference code passes
            its momentum (0.1) into eps by mistake; set 0.1 to match it exactly.
        batch_norm_momentum (`float`, defaults to 0.1): momentum of every BatchNorm.
        use_non_local (`bool`, defaults to True): "paper" only: the non-local attention over all joints and frames.
        predict_residual (`bool`, defaults to False): predict a correction added to the input pose instead
            of the pose itself (not in the paper; the network then starts close to the identity).
        window_linear (`bool`, defaults to False): add a linear map of the whole root-relative window
            (``T*V*3`` in, ``T*V*3`` out, plus a bias) to the output, zero-initialised so the network
            is unchanged until it is set. `gcnrefine train` sets it from a ridge fit on the training
            predictions (`evaluation.ridge`, strength chosen on the validation motions) and freezes it,
            so the graph network learns what a linear map cannot. Not in the paper: a lifter meeting a
            new dataset makes largely systematic errors, which a linear map removes in closed form.
            "long_range": the same kind of map slid over the sequence instead, each output frame reading
            its own `window_linear_frames` neighbourhood (edges repeated, as the ridge fit does), so it
            stays sequence to sequence; not with `causal`.
        initializer_range (`float`, defaults to 0.02): unused by the default Kaiming-style init of
            convolutions; kept for transformers tooling.
        ("paper" only: joint_channels, part_channels, fusion_channels, non_local_channels, fusion_dropout,
        use_non_local, window_linear. "long_range" only: the fields below.)

    Long-range network (`architecture="long_range"`; ignored by "paper"):
        spatial_channels (`list[int]`, defaults to `[64, 64]`): widths of the per-frame joint-graph units
            (the first has no residual, as in the paper).
        temporal_channels (`int`, defaults to 256): width of the dilated temporal convolutions, which see
            all joints' spatial features of a frame at once (V * spatial_channels[-1] inputs).
        temporal_dilations (`list[int]`, defaults to `[1, 3, 9, 27]`): dilation of each temporal
            convolution: the first expands to `temporal_channels`, each later one is a residual block
            (dilated convolution, 1x1 convolution, each with BatchNorm, ReLU, dropout) as in VideoPose3D.
            Receptive field: ``1 + (temporal_kernel_size - 1) * sum(temporal_dilations)`` (81).
        temporal_joint_channels (`int`, defaults to 32): per-joint width the temporal feature is projected
            to and copied back to each joint, where it is concatenated with the joint's spatial feature
            and passed through one more per-frame graph unit before the output projection.
        window_linear_frames (`int`, defaults to 9): with `window_linear`, the odd number of frames the
            sliding linear map reads per output frame (not in the paper).
        causal (`bool`, defaults to False): pad the temporal convolutions on the left only, so no output
            frame depends on a later input frame (online use; the receptive field then lies wholly in
            the past). Not available for "paper" (its window is centred).
        confidence_dropout (`float`, defaults to 0.0): with `in_channels=4`, the probability, per
            sequence of a training batch, that its confidence is withheld in `forward` while training,
            so the model also learns to refine without it. Never applied in eval mode.

    Long-range inference (`architecture="long_range"`; ignored by "paper"):
        chunk_length (`int`, defaults to 1024): frames per forward in `refine`; a longer sequence runs as
            overlapping chunks of this length, so memory is bounded for any length. Must exceed the
            chunk overlap.
        chunk_overlap (`int` or `None`, defaults to None): frames shared by consecutive chunks. None:
            ``receptive_field - 1``, the smallest overlap for which chunked refinement equals one pass
            over the whole sequence (up to float rounding). In each overlap, the frames within the
            network's past context of a chunk's start and within its future context of a chunk's end
            are discarded, and the rest of the overlap is cross-faded linearly. With a smaller overlap,
            half of it is discarded (split in proportion to the past and future context) and the
            other half cross-faded: close to, but not equal to, one pass.

    Inference:
        flip_test (`bool`, defaults to False): default of `refine(flip_test=...)`: average the prediction
            with the un-flipped prediction of the mirrored input.
        constant_bone_lengths (`bool`, defaults to False): default of `refine(constant_bone_lengths=...)`:
            give each bone of a refined sequence one length, its median over the sequence (left and right
            partners averaged), keeping every bone's direction and the root trajectory
            (`processing_gcnrefine.constant_bone_lengths`). Not in the paper: a person's bones do not
            change length, while a lifter's (and a refiner's) per-frame estimates do.
        bone_lengths_from (`str`, defaults to "refined"): default of `refine(bone_lengths_from=...)`: with
            `constant_bone_lengths`, whose medians set the lengths: "refined" (the refiner's output) or
            "input" (the lifter's poses: the refiner then never changes the person's proportions, which
            a refiner trained on a few subjects would pull towards theirs). Not in the paper.
        keep_input_orientation (`bool`, defaults to False): default of `refine(keep_input_orientation=...)`:
            turn each refined frame about the root to the input frame's orientation (least-squares
            rotation over the joints, `processing_gcnrefine.align_orientation`), so the refiner corrects
            the articulation and leaves where the body faces and leans to the lifter, which saw the
            image (a refiner sees no camera). Not in the paper.
        global_correction_min_degrees (`float` or `None`, defaults to None): with `keep_input_orientation`
            or `bone_lengths_from="input"`, a sequence whose refined frames turn the whole body away from
            the input's by more than this median angle (degrees, `processing_gcnrefine.orientation_change_degrees`)
            keeps the refiner's orientation and bone lengths instead: the refiner sees a systematic error
            of the lifter (a Human3.6M lifter on another dataset's cameras and people tilts every frame),
            not the small per-frame turns it should leave alone. None: never. Not in the paper.
        change_weight (`float`, defaults to 1.0): default of `refine(change_weight=...)`: the share of the
            refiner's change kept, after the steps above and before smoothing: a refined sequence becomes
            ``input + change_weight * (refined - input)`` (`processing_gcnrefine.weigh_changes`); 1 keeps
            the refiner's output. Not in the paper: where the lifter is about as good as the refiner (a
            lifter of the refiner's training domain) the mean of the two estimates beats either.
        full_change_min (`float` or `None`, defaults to None): a sequence the refiner moves by more than
            this (metres, median over frames and non-root joints of each joint's change relative to the
            root, `processing_gcnrefine.median_change`) keeps the whole change whatever `change_weight`:
            a lifter that far off is one the refiner should correct in full. None: `change_weight` applies
            to every sequence. Not in the paper.
        smoothing_sigma (`float`, defaults to 0.0): default of `refine(smoothing_sigma=...)`: standard
            deviation, in frames, of a Gaussian low-pass along time applied last to every joint's position
            relative to the root (`processing_gcnrefine.smooth_over_time`; the root trajectory is kept);
            0 turns it off. In frames of the video the poses come from: a checkpoint's value holds for its
            training data's frame rate (BlendMimic3D: 50 fps assumed), so scale it with the rate
            (``sigma * fps / 50``; `refine(fps=...)` does it). Not in the paper: a single-frame lifter's
            jitter passes through a residual refiner, and the per-frame orientation kept by
            `keep_input_orientation` is the lifter's, jitter included.
        smoothing_fps (`float`, defaults to 50.0): the frame rate (frames/s) in whose frames
            `smoothing_sigma` is given: `refine(fps=F)` scales it by ``F / smoothing_fps``.

    Losses (weights of the terms summed into `loss`):
        loss_mpjpe_weight (`float`, defaults to 1.0): mean per-joint position error over all T frames.
        loss_velocity_weight (`float`, defaults to 1.0): squared error of frame-to-frame differences, per
            joint weighted by `velocity_joint_weights`.
        velocity_joint_weights (`list[float]`): 1 for wrists and ankles, 2.5 for elbows and knees, 4 elsewhere.
        loss_symmetry_weight (`float`, defaults to 1.0): absolute length difference of the left/right bone
            pairs (the reference uses the signed difference, which is unbounded below).
    """

    model_type = "gcnrefine"

    joint_names: list[str] = field(default_factory=lambda: list(H36M_JOINT_NAMES))
    joint_parents: list[int] = field(default_factory=lambda: list(H36M_PARENTS))
    joints_left: list[int] = field(default_factory=lambda: list(H36M_JOINTS_LEFT))
    joints_right: list[int] = field(default_factory=lambda: list(H36M_JOINTS_RIGHT))
    root_joint: int = H36M_ROOT
    spine_joint: int = H36M_SPINE
    parts: dict[str, list[int]] = field(default_factory=lambda: {k: list(v) for k, v in H36M_PARTS.items()})
    part_pairs: list[list[str]] = field(default_factory=lambda: [list(p) for p in H36M_PART_PAIRS])
    center_part: str = "torso"

    num_frames: int = 3
    in_channels: int = 3
    joint_channels: list[int] = field(default_factory=lambda: [128, 128, 256])
    part_channels: list[int] = field(default_factory=lambda: [512, 512])
    fusion_channels: int = 256
    non_local_channels: int = 256
    temporal_kernel_size: int = 3
    unit_dropout: float = 0.05
    temporal_dropout: float = 0.25
    fusion_dropout: float = 0.1
    output_dropout: float = 0.1
    adjacency_normalization: str = "reference"
    input_norm_eps: float = 1e-5  # reference: 0.1 (its BatchNorm momentum passed as eps by mistake)
    batch_norm_momentum: float = 0.1
    use_non_local: bool = True
    predict_residual: bool = False
    window_linear: bool = False  # not in the paper
    initializer_range: float = 0.02

    architecture: str = "paper"
    spatial_channels: list[int] = field(default_factory=lambda: [64, 64])
    temporal_channels: int = 256
    temporal_dilations: list[int] = field(default_factory=lambda: [1, 3, 9, 27])
    temporal_joint_channels: int = 32
    window_linear_frames: int = 9  # not in the paper
    causal: bool = False
    confidence_dropout: float = 0.0
    chunk_length: int = 1024
    chunk_overlap: int | None = None

    flip_test: bool = False
    constant_bone_lengths: bool = False  # not in the paper
    bone_lengths_from: str = "refined"  # not in the paper
    keep_input_orientation: bool = False  # not in the paper
    global_correction_min_degrees: float | None = None  # not in the paper
    change_weight: float = 1.0  # not in the paper
    full_change_min: float | None = None  # not in the paper
    smoothing_sigma: float = 0.0  # not in the paper
    smoothing_fps: float = 50.0  # BlendMimic3D's rate is not stated upstream; 50 fps assumed

    loss_mpjpe_weight: float = 1.0
    loss_velocity_weight: float = 1.0
    velocity_joint_weights: list[float] = field(default_factory=lambda: list(_VELOCITY_WEIGHTS))
    loss_symmetry_weight: float = 1.0  # absolute difference; the reference's signed one is unbounded below

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.validate_refiner()

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    # ------------------------------------------------------------------ presets

    @classmethod
    def preset(cls, name: str, **overrides) -> GCNRefineConfig:
        """The config of a named preset (a key of `REFINER_PRESETS`), with ``overrides`` on top."""
        if name not in REFINER_PRESETS:
            raise ValueError(f"name: expected one of {list(REFINER_PRESETS)}, got {name!r}")
        return cls(**{**REFINER_PRESETS[name], **overrides})

    @classmethod
    def paper(cls, **overrides) -> GCNRefineConfig:
        """The paper's network: T = 3 windows, 5,041,257 parameters (the defaults)."""
        return cls.preset("paper", **overrides)

    @classmethod
    def long_range(cls, **overrides) -> GCNRefineConfig:
        """The long-range, confidence-aware sequence-to-sequence refiner (receptive field 81)."""
        return cls.preset("long_range", **overrides)

    # ------------------------------------------------------------------ derived sizes

    @property
    def temporal_context(self) -> tuple[int, int]:
        """``(past, future)``: how many earlier and later input frames one output frame depends on.

        "paper": the centred window, ``(T // 2, T - 1 - T // 2)``. "long_range": half the dilated
        convolutions' span each side, or all of it in the past when `causal`.
        """
        if self.architecture == "paper":
            return self.num_frames // 2, self.num_frames - 1 - self.num_frames // 2
        span = (self.temporal_kernel_size - 1) * sum(self.temporal_dilations)
        if self.causal:
            return span, 0
        half = max(span // 2, self.window_linear_frames // 2 if self.window_linear else 0)
        return half, half

    @property
    def receptive_field(self) -> int:
        """Input frames one output frame depends on (81 for the long-range defaults, T for "paper")."""
        past, future = self.temporal_context
        return past + 1 + future

    @property
    def resolved_chunk_overlap(self) -> int:
        """`chunk_overlap`, with None read as ``receptive_field - 1`` (chunked == one pass)."""
        return self.receptive_field - 1 if self.chunk_overlap is None else self.chunk_overlap

    @property
    def confidence_required(self) -> bool:
        """Whether `forward` and `refine` need a confidence: "paper" with ``in_channels == 4``."""
        return self.in_channels == 4 and self.architecture == "paper"

    def validate_refiner(self) -> None:
        """Raise ValueError, quoting the bad value, for an inconsistent configuration."""
        n = len(self.joint_names)
        if len(self.joint_parents) != n:
            raise ValueError(f"joint_parents: expected {n} entries (one per joint name), got {len(self.joint_parents)}")
        roots = [j for j, p in enumerate(self.joint_parents) if p < 0]
        if roots != [self.root_joint]:
            raise ValueError(f"joint_parents: expected exactly one root, joint {self.root_joint}; got roots {roots}")
        if any(p >= n for p in self.joint_parents):
            raise ValueError(f"joint_parents: expected indices below {n}, got {self.joint_parents}")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError(
                f"joints_left/joints_right: expected equal lengths, got {self.joints_left} and {self.joints_right}"
            )
        for name in ("root_joint", "spine_joint"):
            value = getattr(self, name)
            if not 0 <= value < n:
                raise ValueError(f"{name}: expected a joint index in [0, {n}), got {value}")
        covered = sorted(j for joints in self.parts.values() for j in joints)
        if covered != list(range(n)):
            raise ValueError(f"parts: expected every joint in exactly one part, got {self.parts}")
        if self.center_part not in self.parts:
            raise ValueError(f"center_part: expected one of {list(self.parts)}, got {self.center_part!r}")
        for pair in self.part_pairs:
            if len(pair) != 2 or any(name not in self.parts for name in pair):
                raise ValueError(f"part_pairs: expected pairs of names from {list(self.parts)}, got {pair}")
        if not isinstance(self.num_frames, int) or self.num_frames < 1:
            raise ValueError(f"num_frames: expected an integer >= 1, got {self.num_frames!r}")
        if self.in_channels not in (3, 4):
            raise ValueError(f"in_channels: expected 3 (xyz) or 4 (xyz + confidence), got {self.in_channels!r}")
        for name in ("joint_channels", "part_channels"):
            widths = getattr(self, name)
            if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
                raise ValueError(f"{name}: expected a non-empty list of positive integers, got {widths!r}")
        for name in ("fusion_channels", "non_local_channels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")
        if self.temporal_kernel_size < 1 or self.temporal_kernel_size % 2 == 0:
            raise ValueError(f"temporal_kernel_size: expected an odd integer >= 1, got {self.temporal_kernel_size!r}")
        for name in ("unit_dropout", "temporal_dropout", "fusion_dropout", "output_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1), got {getattr(self, name)!r}")
        if self.adjacency_normalization not in NORMALIZATIONS:
            raise ValueError(
                f"adjacency_normalization: expected one of {NORMALIZATIONS}, got {self.adjacency_normalization!r}"
            )
        if not isinstance(self.constant_bone_lengths, bool):
            raise ValueError(f"constant_bone_lengths: expected a bool, got {self.constant_bone_lengths!r}")
        if self.bone_lengths_from not in BONE_LENGTH_SOURCES:
            raise ValueError(f"bone_lengths_from: expected one of {BONE_LENGTH_SOURCES}, got {self.bone_lengths_from!r}")
        if not isinstance(self.keep_input_orientation, bool):
            raise ValueError(f"keep_input_orientation: expected a bool, got {self.keep_input_orientation!r}")
        threshold = self.global_correction_min_degrees
        if threshold is not None and not (is_nonnegative_number(threshold) and threshold <= 180):
            raise ValueError(
                f"global_correction_min_degrees: expected None or an angle in [0, 180] degrees, got {threshold!r}"
            )
        if not (is_nonnegative_number(self.change_weight) and self.change_weight <= 1):
            raise ValueError(f"change_weight: expected a number in [0, 1], got {self.change_weight!r}")
        if self.full_change_min is not None and not is_nonnegative_number(self.full_change_min):
            raise ValueError(
                f"full_change_min: expected None or a finite number >= 0 (metres), got {self.full_change_min!r}"
            )
        if not is_nonnegative_number(self.smoothing_sigma):
            raise ValueError(f"smoothing_sigma: expected a finite number >= 0 (frames), got {self.smoothing_sigma!r}")
        if not is_nonnegative_number(self.smoothing_fps) or self.smoothing_fps == 0:
            raise ValueError(f"smoothing_fps: expected a finite number > 0 (frames/s), got {self.smoothing_fps!r}")
        if not isinstance(self.window_linear, bool):
            raise ValueError(f"window_linear: expected True or False, got {self.window_linear!r}")
        if not self.input_norm_eps > 0:
            raise ValueError(f"input_norm_eps: expected a positive float, got {self.input_norm_eps!r}")
        if len(self.velocity_joint_weights) != n:
            raise ValueError(
                f"velocity_joint_weights: expected {n} entries (one per joint), got {len(self.velocity_joint_weights)}"
            )
        for name in ("loss_mpjpe_weight", "loss_velocity_weight", "loss_symmetry_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a non-negative weight, got {getattr(self, name)!r}")
        self._validate_long_range()

    def _validate_long_range(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture: expected one of {ARCHITECTURES}, got {self.architecture!r}")
        for name in ("spatial_channels", "temporal_dilations"):
            values = getattr(self, name)
            if not isinstance(values, list) or not values or not all(_is_positive_int(v) for v in values):
                raise ValueError(f"{name}: expected a non-empty list of positive integers, got {values!r}")
        for name in ("temporal_channels", "temporal_joint_channels", "chunk_length"):
            if not _is_positive_int(getattr(self, name)):
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")
        frames = self.window_linear_frames
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1 or frames % 2 == 0:
            raise ValueError(f"window_linear_frames: expected an odd positive integer, got {frames!r}")
        if self.architecture == "long_range" and self.window_linear and self.causal:
            raise ValueError(
                "window_linear: expected False with causal=True (the sliding linear map is centred), "
                f"got {self.window_linear!r}"
            )
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal: expected True or False, got {self.causal!r}")
        if self.causal and self.architecture == "paper":
            raise ValueError(
                "causal: expected False for architecture='paper' (its window is centred; use "
                f"architecture='long_range' for a causal refiner), got {self.causal!r}"
            )
        if isinstance(self.confidence_dropout, bool) or not 0.0 <= self.confidence_dropout < 1.0:
            raise ValueError(f"confidence_dropout: expected a probability in [0, 1), got {self.confidence_dropout!r}")
        overlap = self.chunk_overlap
        if overlap is not None and (isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0):
            raise ValueError(f"chunk_overlap: expected None or an integer >= 0, got {overlap!r}")
        if self.architecture == "long_range" and self.resolved_chunk_overlap >= self.chunk_length:
            what = "chunk_overlap" if overlap is not None else "chunk_overlap=None (receptive_field - 1)"
            raise ValueError(
                f"chunk_length: expected more frames than {what} = {self.resolved_chunk_overlap}, "
                f"got {self.chunk_length!r}"
            )


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_nonnegative_number(value) -> bool:
    """A finite real number >= 0 (numpy scalars too; not a bool): a sigma, a frame rate, an angle."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and bool(np.isfinite(value))
        and value >= 0
    )


# `GCNRefineConfig.preset(name)`: named configurations as overrides of the defaults.
REFINER_PRESETS: dict[str, dict] = {
    # The paper's network, T = 3 (every default is the paper's).
    "paper": {"architecture": "paper"},
    # One refiner for every lifter: long-range (81 frames), confidence-aware with the confidence
    # optional (withheld for a quarter of the training sequences), residual.
    "long_range": {
        "architecture": "long_range",
        "num_frames": 121,
        "in_channels": 4,
        "confidence_dropout": 0.25,
        "predict_residual": True,
    },
}

"""gcnrefine Space: see what the ST-GCN refiner does to occluded 3D poses, and try it on your own.

Three tabs:

- BlendMimic3D: one camera sequence goes through 2D detections (simulated with a fixed seed, or the
  real BlazePose detections of the filmed sequences), a lifter (the built-in temporal lifter, or
  SemGCN trained on Human3.6M: the backbone) and the refiner. Where upstream has the sequence's video,
  its frame at the frame slider is shown with the 2D keypoints drawn on it (ground truth, the
  detections in use, occluded joints ringed), beside the 3D poses of that frame (ground truth,
  backbone, refined); frames are decoded on demand (PyAV, ``modeling_gcnrefine.video.frames``). Also an
  animated 3D overlay of the whole sequence, a per-frame MPJPE plot and a metrics table (errors
  against the ground truth, and the ground-truth-free plausibility figures).
- Your predictions: upload a lifter's 3D poses (.npy/.npz, metres), get them refined, with the
  ground-truth-free figures before and after and a per-frame map of how far each joint moved.
- Video: upload a clip of a person (at most ``MAX_VIDEO_FRAMES`` frames are processed); RT-DETR finds
  and follows the person, ViTPose gives its 2D keypoints, the lifter and refiner its 3D poses
  (``modeling_gcnrefine.video.process_video``); you get an overlay MP4 and an .npz of every array.

All model logic lives in the ``modeling_gcnrefine`` package; this file wires it to Gradio.
Configuration (each also a ``build_demo`` argument):

- ``GCNREFINE_CHECKPOINT``: refiner folder or Hub id (default: the shipped checkpoint);
- ``GCNREFINE_LIFTER_CHECKPOINT``: lifter folder (default ``checkpoints/lifter-blendmimic3d``);
- ``GCNREFINE_SEMGCN_CHECKPOINT``: SemGCN for the lifter choice: the published checkpoint file, a
  converted folder or a Hub id (default ``../shared/lifters/semgcn-h36m/ckpt_semgcn.pth.tar`` beside a
  checkout, when it exists);
- ``GCNREFINE_SEMGCN_REFINER``: the refiner used with SemGCN (default the shipped
  ``gcnrefine-semgcn-h36m``; while it is not shipped, the default refiner, and the page says so);
- ``GCNREFINE_BLENDMIMIC3D_DIR``: BlendMimic3D folder, raw or exported, or a Hub dataset id
  (default: the upstream annotations, downloaded once on a machine with internet); a raw folder's
  ``S?/Videos/*.mp4`` are the videos (missing ones are fetched from upstream, one file per sequence);
- ``GCNREFINE_REAL_DETECTIONS``: the real detections file (default
  ``real_detections/blendmimic3d_blazepose.npz`` beside the BlendMimic3D folder);
- ``GCNREFINE_EXAMPLE_PREDICTIONS``: the .npy behind the example button (hidden when missing);
- ``GCNREFINE_DETECTOR`` / ``GCNREFINE_POSE_MODEL``: the Video tab's person detector and ViTPose model,
  folders or Hub ids (defaults ``PekingU/rtdetr_r50vd_coco_o365`` / ``usyd-community/vitpose-base-simple``,
  downloaded on the first video request).

Models and data are loaded on first use, so building the app never fails for want of them; a
request that needs a missing one gets a message saying what to set. The queue's limits (frames per
upload, time budget, concurrency, queue size) are the constants below, from the rate measured by
``benchmarks/speed/bench_space.py``.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

import modeling_gcnrefine
from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.builder import is_raw_layout
from modeling_gcnrefine.data.detections import PRESETS, SEVERITY_LEVELS
from modeling_gcnrefine.data.real_detections import (
    ENV_VAR as REAL_DETECTIONS_ENV,
)
from modeling_gcnrefine.data.real_detections import (
    REAL,
    coverage,
    default_real_detections_path,
    load_real_detections,
)
from modeling_gcnrefine.data.sequences import camera_sequences, detect, root_relative
from modeling_gcnrefine.data.upstream import (
    NUM_CAMERAS,
    SPLIT_SUBJECTS,
    SUBJECTS,
    UPSTREAM_ACTIONS,
    default_download_dir,
)
from modeling_gcnrefine.data.videos import UPSTREAM_VIDEOS, fetch_video, find_video, has_upstream_video
from modeling_gcnrefine.evaluation.plausibility import bone_length_spread, jitter, left_right_asymmetry
from modeling_gcnrefine.evaluation.pose_figures import joint_displacement_figure, skeleton_frame_figure
from modeling_gcnrefine.evaluation.visualize import (
    gradio_frames_js,
    per_frame_error_figure,
    skeleton_animation,
)
from modeling_gcnrefine.lifting import TemporalLifterModel, load_lifter
from modeling_gcnrefine.recipes.backbone import lift_sequence
from modeling_gcnrefine.utils.hub import DEFAULT_LIFTER_NAME, resolve_model
from modeling_gcnrefine.utils.io import load_poses_file, save_poses_file
from modeling_gcnrefine.utils.metrics import acceleration_error, mpjpe, mpjve
from modeling_gcnrefine.video.decode import probe_video
from modeling_gcnrefine.video.frames import VideoFrames, draw_keypoints
from modeling_gcnrefine.video.models2d import (
    DEFAULT_DETECTOR,
    DEFAULT_POSE_MODEL,
    default_device,
    load_detector,
    load_pose_model,
)
from modeling_gcnrefine.video.pipeline import process_video

REPO_ROOT = Path(modeling_gcnrefine.__file__).resolve().parents[1]
REFINER_ENV = "GCNREFINE_CHECKPOINT"
LIFTER_ENV = "GCNREFINE_LIFTER_CHECKPOINT"
SEMGCN_ENV = "GCNREFINE_SEMGCN_CHECKPOINT"
SEMGCN_REFINER_ENV = "GCNREFINE_SEMGCN_REFINER"
DATA_ENV = "GCNREFINE_BLENDMIMIC3D_DIR"
EXAMPLE_ENV = "GCNREFINE_EXAMPLE_PREDICTIONS"
DETECTOR_ENV = "GCNREFINE_DETECTOR"
POSE_MODEL_ENV = "GCNREFINE_POSE_MODEL"
DEFAULT_LIFTER = DEFAULT_LIFTER_NAME  # shipped inside the package
DEFAULT_EXAMPLE = REPO_ROOT.parent / "shared" / "examples" / "in_the_wild_videopose3d_predictions.npy"
# The published SemGCN (Human3.6M), as the project keeps it beside a checkout (DATA.md); a Space sets
# GCNREFINE_SEMGCN_CHECKPOINT instead.
DEFAULT_SEMGCN = REPO_ROOT.parent / "shared" / "lifters" / "semgcn-h36m" / "ckpt_semgcn.pth.tar"
# The refiner trained on SemGCN's predictions, by its shipped name; until it ships, SemGCN's poses are
# refined by the default refiner and the summary says so.
SEMGCN_REFINER_NAME = "gcnrefine-semgcn-h36m"

# torch already uses both cores for one refine: a second at the same time would only halve the speed of
# each, so BlendMimic3D runs, uploads and the example share one worker; clips have their own, so that
# a clip of minutes does not hold up uploads.
REFINE_CONCURRENCY = 1
VIDEO_CONCURRENCY = 1
# Requests waiting beyond the running ones; more get Gradio's "queue is full". A full queue of uploads
# at the budget is a wait of QUEUE_MAX_SIZE x UPLOAD_TIME_BUDGET_S (5 minutes).
QUEUE_MAX_SIZE = 10
# Measured by benchmarks/speed/bench_space.py on the 2-core CPU (torch 2.13, 2 threads; a CPU-basic
# Space has 2 vCPUs): a whole upload request (read, refine with the shipped checkpoint and flip test,
# save, animation) took 4.66 s per 1,000 frames, the slowest of 1,000- and 3,000-frame uploads, best
# of 2, load average 0.7 (other runs: 4.02 at load 0.9; 6.23 with other jobs on the machine). One
# 10,000-frame request, the old limit, took 41.6 s (--frames 10000).
UPLOAD_S_PER_1000_FRAMES = 4.66
# A visitor waits at most about this long for a refined upload, and the refine worker is never held
# longer: work past it is stopped with a message (see _check_deadline).
UPLOAD_TIME_BUDGET_S = 30
# Windows per forward pass: the deadline is checked before each, so this bounds the overshoot to about
# a quarter of UPLOAD_S_PER_1000_FRAMES; bench_space.py found it no slower than refine()'s 1024.
REFINE_BATCH_SIZE = 256


def upload_frames_cap(budget_s: float, s_per_1000_frames: float) -> int:
    """The most frames an upload may have: what fits in ``budget_s`` at the measured rate, rounded down
    to 500, when a clip shares the CPU (one job per worker) and the upload runs at half speed."""
    jobs = REFINE_CONCURRENCY + VIDEO_CONCURRENCY
    return int(budget_s / (s_per_1000_frames * jobs) * 1000) // 500 * 500


# Longer files are refused up front (from the .npy header) rather than run into the deadline.
MAX_UPLOAD_FRAMES = upload_frames_cap(UPLOAD_TIME_BUDGET_S, UPLOAD_S_PER_1000_FRAMES)
# Passed to launch(): rejects oversized files before they are read. 10,000 float64 frames are 4.1 MB.
MAX_FILE_SIZE = "10mb"
# Fixed detection seed: the same sequence and preset always show the same numbers.
DETECTION_SEED = 0
DEFAULT_SEQUENCE = ("SS3", "TakesItem_multi", 0)  # test subject, multi-person scene, 41 % of joints hidden
# The detections the page opens with: the real ones where the real detections file is present (it
# covers every SS3 sequence), else the simulator's occlusion-aware preset (see default_preset).
DEFAULT_PRESET = "occluded"
OUTPUT_TTL_S = 3600  # refined files older than this are deleted from the app's output folder
# Video tab: only the first this many frames of a clip are processed (10 s at 30 fps). On a CPU Space
# each frame costs a detector and a ViTPose pass plus rendering, so a full clip takes minutes.
MAX_VIDEO_FRAMES = 300
VIDEO_THRESHOLD = 0.3  # default person-detector score threshold (process_video's default)
# BlendMimic3D tab: video frames are shown this wide (a 1280 x 720 frame becomes 640 x 360, a JPEG of
# about 60 kB), and up to VIDEO_CACHE_FRAMES decoded frames of the sequence shown are kept (about
# 17 MB at that size) so that scrubbing back and forth does not decode again.
FRAME_WIDTH = 640
VIDEO_CACHE_FRAMES = 24
# Sequences whose results are kept (arrays and figures, a few MB each): repeat visits cost nothing.
SEQUENCE_CACHE_SIZE = 16
# Colours of the 2D overlay (RGB): bright against the rendered scenes.
TRUTH_RGB = (40, 220, 90)
DETECTIONS_RGB = (255, 150, 0)
OCCLUDED_RGB = (235, 0, 0)

ACTIONS: dict[str, tuple[str, ...]] = {SUBJECTS[folder]: actions for folder, actions in UPSTREAM_ACTIONS.items()}
TEST_SUBJECTS = SPLIT_SUBJECTS["test"]
_PRESET_LABELS = {
    REAL: "real: MediaPipe BlazePose on the video (filmed sequences only)",
    "realistic": "realistic: simulated, calibrated on BlazePose's real errors (SS1/SS2)",
    "occluded": "occluded: simulated detector errors on hidden joints",
    "visible_only": "visible_only: detector jitter only, occlusion ignored",
    "none": "none: ground-truth 2D keypoints",
}
PRESET_CHOICES: list[tuple[str, str]] = [(label, name) for name, label in _PRESET_LABELS.items()] + [
    (f"severity {level:g}: hidden joints drift by {level:g} × image size", f"severity_{level:g}")
    for level in SEVERITY_LEVELS
]
DETECTION_SOURCES: tuple[str, ...] = (*PRESETS, REAL)
BUILTIN_LIFTER, SEMGCN_LIFTER = "builtin", "semgcn"
LIFTER_CHOICES: list[tuple[str, str]] = [
    ("built-in temporal lifter (trained on BlendMimic3D SS1 + SS2)", BUILTIN_LIFTER),
    ("SemGCN (trained on Human3.6M; Zhao et al., CVPR 2019)", SEMGCN_LIFTER),
]
LIFTER_NAMES = {BUILTIN_LIFTER: "the built-in temporal lifter", SEMGCN_LIFTER: "SemGCN (Human3.6M)"}
_LIFTER_SHORT = {BUILTIN_LIFTER: "built-in lifter", SEMGCN_LIFTER: "SemGCN"}
# Errors against the ground truth, then the figures that need none (evaluation.plausibility).
PLAUSIBILITY_HEADERS = ["bone-length spread (mm)", "left/right asymmetry (mm)", "jitter (mm/frame²)"]
METRIC_HEADERS = [
    "", "MPJPE (mm)", "occluded-joint MPJPE (mm)", "MPJVE (mm/frame)", "acceleration error (mm/frame²)",
    *PLAUSIBILITY_HEADERS,
]  # fmt: skip
UPLOAD_METRIC_HEADERS = ["", *PLAUSIBILITY_HEADERS]
# Filmed sequences shown as examples: the first is the page's default.
SEQUENCE_EXAMPLES = [
    [*DEFAULT_SEQUENCE, REAL, BUILTIN_LIFTER],
    ["SS3", "Focus_multi", 2, REAL, SEMGCN_LIFTER],
    ["SS1", "WalkCircle", 0, "realistic", BUILTIN_LIFTER],
    ["SS2", "GatheringObjects", 0, REAL, BUILTIN_LIFTER],
]


class _Lazy:
    """A value loaded on first use, once, thread-safely; a failed load is retried next time."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load, self._value, self._lock = load, None, threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._value is None:
                self._value = self._load()
            return self._value


class _OverBudget(Exception):
    """A request ran past its time budget (raised between two of the refiner's forward passes)."""


def _check_deadline(deadline: threading.local, module, args) -> None:
    # A forward pre-hook on the shared refiner: only the thread of an upload request sets a deadline,
    # so BlendMimic3D runs and clips using the same model in other threads are never stopped.
    at = getattr(deadline, "at", None)
    if at is not None and time.monotonic() > at:
        raise _OverBudget


@dataclass
class _SequenceRun:
    """One BlendMimic3D run: the arrays the frame view draws and the figures of the whole sequence."""

    subject: str
    action: str
    camera: int
    preset: str
    lifter: str
    truth: np.ndarray  # (T, 17, 3) root-relative, metres
    backbone: np.ndarray
    refined: np.ndarray
    occluded: np.ndarray  # (T, 17) bool
    truth_2d: np.ndarray  # (T, 17, 2) pixels
    detections_2d: np.ndarray  # (T, 17, 2) pixels, NaN where no person was found
    image_size: tuple[int, int]
    video: Path | None  # None: no video to show, for the reason in video_note
    video_note: str
    outputs: tuple  # (animation, errors, metrics table, summary)

    @property
    def num_frames(self) -> int:
        return len(self.truth)

    @property
    def title(self) -> str:
        return f"{self.subject} / {self.action} / camera {self.camera}"


class SpaceBackend:
    """The app's state: lazily loaded models and data, and the request handlers Gradio calls.

    Its two output folders are removed when it is garbage-collected or the process exits (or by
    :meth:`close`).
    """

    def __init__(
        self,
        refiner_path: str | os.PathLike | None = None,
        lifter_path: str | os.PathLike | None = None,
        data_source: str | os.PathLike | None = None,
        max_frames: int = MAX_UPLOAD_FRAMES,
        example_path: str | os.PathLike | None = None,
        detector: str | os.PathLike | None = None,
        pose_model: str | os.PathLike | None = None,
        max_video_frames: int = MAX_VIDEO_FRAMES,
        time_budget_s: float = UPLOAD_TIME_BUDGET_S,
        semgcn_path: str | os.PathLike | None = None,
        semgcn_refiner_path: str | os.PathLike | None = None,
    ) -> None:
        for name, value in (("max_frames", max_frames), ("max_video_frames", max_video_frames)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if isinstance(time_budget_s, bool) or not isinstance(time_budget_s, (int, float)) or not time_budget_s > 0:
            raise ValueError(f"time_budget_s: expected a positive number of seconds, got {time_budget_s!r}")
        self.refiner_path = refiner_path or os.environ.get(REFINER_ENV) or None
        self.lifter_path = str(lifter_path or os.environ.get(LIFTER_ENV) or DEFAULT_LIFTER)
        self.data_source = data_source or os.environ.get(DATA_ENV) or None
        self.semgcn_path = semgcn_path or os.environ.get(SEMGCN_ENV) or (DEFAULT_SEMGCN if DEFAULT_SEMGCN.is_file() else None)
        # None: the shipped SEMGCN_REFINER_NAME, or the default refiner while it is not shipped.
        self.semgcn_refiner_path = semgcn_refiner_path or os.environ.get(SEMGCN_REFINER_ENV) or None
        self.semgcn_refiner_name = SEMGCN_REFINER_NAME
        self.max_frames = max_frames
        example = Path(example_path or os.environ.get(EXAMPLE_ENV) or DEFAULT_EXAMPLE)
        self.example_path = example if example.is_file() else None
        self.detector = str(detector or os.environ.get(DETECTOR_ENV) or DEFAULT_DETECTOR)
        self.pose_model = str(pose_model or os.environ.get(POSE_MODEL_ENV) or DEFAULT_POSE_MODEL)
        self.max_video_frames = max_video_frames
        self.time_budget_s = float(time_budget_s)
        self._deadline = threading.local()
        self.refiner = _Lazy(self._load_refiner)
        self.lifter = _Lazy(self._load_lifter)
        self.semgcn = _Lazy(self._load_semgcn)
        self.semgcn_refiner = _Lazy(self._load_semgcn_refiner)
        self.dataset = _Lazy(self._load_dataset)
        self._output_dir = Path(tempfile.mkdtemp(prefix="gcnrefine-space-"))
        self._video_dir = Path(tempfile.mkdtemp(prefix="gcnrefine-space-video-"))
        # Gradio serves copies from its own cache (cleared by delete_cache), so nothing here outlives
        # the backend. finalize also runs at interpreter exit, and holds no reference to self.
        self._cleanup = [
            weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            for folder in (self._output_dir, self._video_dir)
        ]
        # Results depend only on the arguments (fixed seed), so repeat visits cost nothing. One run is
        # computed at a time (_compute_lock); lookups (_runs_lock) never wait for a computation, so the
        # frame slider of a sequence already run stays quick while another is computed.
        self._runs: OrderedDict[tuple, _SequenceRun] = OrderedDict()
        self._runs_lock = threading.Lock()
        self._compute_lock = threading.Lock()
        # The video of the sequence shown, open for seeking; another sequence's video replaces it.
        self._frames: VideoFrames | None = None
        self._frames_lock = threading.Lock()

    def close(self) -> None:
        """Remove the output folders now (files already served stay in Gradio's cache)."""
        for cleanup in self._cleanup:
            cleanup()
        with self._frames_lock:
            if self._frames is not None:
                self._frames.close()
                self._frames = None

    def default_preset(self) -> str:
        """The detections the page opens with: ``real`` where the real detections file is present,
        else :data:`DEFAULT_PRESET`."""
        return REAL if default_real_detections_path().is_file() else DEFAULT_PRESET

    # ------------------------------------------------------------------ loading

    def _load_refiner(self):
        try:
            refiner = GCNRefineModel.from_pretrained(resolve_model(self.refiner_path, "refiner"))
        except (OSError, ValueError) as error:
            raise gr.Error(
                f"The refiner could not be loaded from {self.refiner_path or 'the shipped checkpoint'}: {error}. "
                f"Set {REFINER_ENV} to a refiner folder or Hub id."
            ) from error
        refiner.register_forward_pre_hook(functools.partial(_check_deadline, self._deadline))
        return refiner

    def _load_lifter(self):
        # A shipped name, a folder with config.json, or a Hub id ("owner/name": a Space has no checkout).
        try:
            return TemporalLifterModel.from_pretrained(resolve_model(self.lifter_path, "lifter"))
        except (OSError, ValueError) as error:
            raise gr.Error(
                f"The lifter checkpoint could not be loaded from {self.lifter_path}: {error}. Set {LIFTER_ENV} "
                "to a saved TemporalLifterModel folder or Hub id."
            ) from error

    def _load_semgcn(self):
        how = (
            f"Set {SEMGCN_ENV} to the published SemGCN checkpoint file (ckpt_semgcn.pth.tar, re-saved in "
            "torch's zip format: it is read with weights_only, never unpickled), to a folder converted by "
            "`gcnrefine lift convert --format semgcn`, or to a Hub id."
        )
        if self.semgcn_path is None:
            raise gr.Error(f"Lifter 'semgcn': SemGCN (Human3.6M) is not available here. {how}")
        try:
            return load_lifter(self.semgcn_path)
        except (OSError, ValueError) as error:
            raise gr.Error(f"Lifter 'semgcn': SemGCN could not be loaded from {self.semgcn_path}: {error}. {how}") from error

    def _load_semgcn_refiner(self) -> tuple[Any, str]:
        """(refiner, note): the refiner trained on SemGCN's predictions, or the default one with a note."""
        if self.semgcn_refiner_path is not None:  # configured: a failure is an error, not a fallback
            try:
                return GCNRefineModel.from_pretrained(resolve_model(self.semgcn_refiner_path, "refiner")), ""
            except (OSError, ValueError) as error:
                raise gr.Error(
                    f"The refiner for SemGCN could not be loaded from {self.semgcn_refiner_path}: {error}. "
                    f"Set {SEMGCN_REFINER_ENV} to a refiner folder or Hub id trained on SemGCN predictions."
                ) from error
        try:
            path = resolve_model(self.semgcn_refiner_name, "refiner")
        except ValueError:  # not shipped (yet)
            note = (
                f"The refiner trained on SemGCN's predictions (`{self.semgcn_refiner_name}`) is not available "
                "here, so SemGCN's poses were refined by the default refiner, which learnt the built-in "
                f"lifter's errors, not SemGCN's (set {SEMGCN_REFINER_ENV} to use another)."
            )
            return self.refiner.get(), note
        return GCNRefineModel.from_pretrained(path), ""

    def _load_dataset(self):

        try:
            return load_blendmimic3d(self.data_source)
        except Exception as error:  # any failure (missing folder, no network) becomes one clear message
            where = self.data_source or "the upstream repository (download)"
            raise gr.Error(
                f"BlendMimic3D could not be loaded from {where}: {error}. Set {DATA_ENV} to a local folder."
            ) from error

    def _sequence(self, subject: str, action: str, camera: int):
        split = self.dataset.get()["test" if subject in TEST_SUBJECTS else "train"]
        keys = split.select_columns(["subject", "action", "camera"])[:]
        for i, key in enumerate(zip(keys["subject"], keys["action"], keys["camera"])):
            index = int(key[2]["index"]) if isinstance(key[2], dict) else int(key[2])
            if key[:2] == (subject, action) and index == camera:
                return camera_sequences(split.select([i]))[0]
        raise gr.Error(f"No BlendMimic3D sequence {subject} / {action} / camera {camera} in the loaded data.")

    # ------------------------------------------------------------------ BlendMimic3D tab

    def _check_choices(self, subject, action, camera, preset, lifter) -> tuple[str, str, int, str, str]:
        if subject not in ACTIONS:
            raise gr.Error(f"Subject: expected one of {list(ACTIONS)}, got {subject!r}.")
        if action not in ACTIONS[subject]:
            raise gr.Error(f"Action: {subject} has {list(ACTIONS[subject])}, got {action!r}.")
        try:
            camera = int(camera)
        except (TypeError, ValueError):
            camera = -1
        if not 0 <= camera < NUM_CAMERAS:
            raise gr.Error(f"Camera: expected 0 to {NUM_CAMERAS - 1}, got {camera!r}.")
        if preset not in DETECTION_SOURCES:
            raise gr.Error(f"Detections: expected one of {sorted(DETECTION_SOURCES)}, got {preset!r}.")
        if lifter not in LIFTER_NAMES:
            raise gr.Error(f"Lifter: expected one of {list(LIFTER_NAMES)}, got {lifter!r}.")
        return subject, action, camera, preset, lifter

    def run_sequence(
        self, subject: str, action: str, camera: int | str, preset: str, lifter: str = BUILTIN_LIFTER
    ):
        """Detections -> lifter -> refiner on one sequence: (animation, error plot, metrics, summary,
        frame slider, video frame, 3D of that frame, frame caption). The frame shown first is the one
        with the most occluded joints among those where the detector found the person: it shows at once
        what occlusion does to the detections."""
        run = self._run(*self._check_choices(subject, action, camera, preset, lifter))
        hidden = run.occluded.sum(axis=1).astype(np.float64)
        hidden[~np.isfinite(run.detections_2d).all(axis=(1, 2))] = -1  # a frame without detections shows none
        start = int(np.argmax(hidden))
        slider = gr.update(minimum=0, maximum=run.num_frames - 1, value=start, step=1)
        return (*run.outputs, slider, *self._frame_outputs(run, start))

    def show_frame(
        self, subject: str, action: str, camera: int | str, preset: str, lifter: str, frame: int | float | str
    ):
        """One frame of a sequence: (video frame with the 2D keypoints, 3D poses of that frame, caption).

        The sequence's results come from the cache when it was run before (computed otherwise).
        """
        run = self._run(*self._check_choices(subject, action, camera, preset, lifter))
        try:
            number = float(frame)
        except (TypeError, ValueError):
            number = float("nan")
        if not (number.is_integer() and 0 <= number < run.num_frames):
            raise gr.Error(f"Frame: expected a whole number from 0 to {run.num_frames - 1} for {run.title}, got {frame!r}.")
        return self._frame_outputs(run, int(number))

    def _run(self, subject: str, action: str, camera: int, preset: str, lifter: str) -> _SequenceRun:
        key = (subject, action, camera, preset, lifter)
        with self._runs_lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
        with self._compute_lock:
            with self._runs_lock:  # computed by another request while this one waited
                if key in self._runs:
                    return self._runs[key]
            run = self._compute_sequence(*key)
            with self._runs_lock:
                self._runs[key] = run
                while len(self._runs) > SEQUENCE_CACHE_SIZE:
                    self._runs.popitem(last=False)
        return run

    def _detections(self, sequence, preset: str) -> tuple[np.ndarray, np.ndarray]:
        if preset != REAL:
            return detect(sequence, preset, DETECTION_SEED)
        path = default_real_detections_path()
        try:
            available = load_real_detections(path)
        except FileNotFoundError:
            raise gr.Error(
                f"Detections 'real': the real detections file is not here ({path}). Set {REAL_DETECTIONS_ENV} "
                f"to it (blendmimic3d_blazepose.npz), or pick a simulated source such as 'realistic'."
            ) from None
        except ValueError as error:
            raise gr.Error(f"Detections 'real': {error}.") from error
        if sequence.key not in available:
            raise gr.Error(
                f"Detections 'real': real 2D detections exist only for the filmed sequences (those with a "
                f"video: {coverage(available)}); {sequence.subject} / {sequence.action} / camera "
                f"{sequence.camera} has none. Pick one of those, or a simulated source such as 'realistic'."
            )
        try:
            return detect(sequence, REAL, DETECTION_SEED)
        except ValueError as error:  # the file's detections do not fit this data (another labelling)
            raise gr.Error(f"Detections 'real': {error}.") from error

    def _models(self, lifter: str) -> tuple[Any, Any, str]:
        """(lifter, refiner, note for the summary)."""
        if lifter == SEMGCN_LIFTER:
            model = self.semgcn.get()  # first: a missing SemGCN is the message, not the refiner
            refiner, note = self.semgcn_refiner.get()
            return model, refiner, note
        return self.lifter.get(), self.refiner.get(), ""

    def _compute_sequence(self, subject: str, action: str, camera: int, preset: str, lifter: str) -> _SequenceRun:
        sequence = self._sequence(subject, action, camera)
        keypoints, confidence = self._detections(sequence, preset)  # checked before any model is loaded
        lifter_model, refiner, refiner_note = self._models(lifter)
        # The same detect -> lift as the backbone predictions the refiner was evaluated on (real
        # detections: frames without a person interpolated first).
        backbone = root_relative(lift_sequence(lifter_model, sequence, preset, DETECTION_SEED))
        extra = {"confidence": confidence} if getattr(refiner.config, "in_channels", 3) == 4 else {}
        refined = root_relative(np.asarray(refiner.refine(backbone, flip_test=True, **extra)))
        truth = root_relative(sequence.poses_3d)
        occluded = ~sequence.visibility
        poses = {"Backbone (lifter)": backbone, "Refined": refined}

        rows, per_frame = [], {}
        for name, predicted in poses.items():
            rows.append(
                [
                    name,
                    _mm(mpjpe(predicted, truth)),
                    _mm(mpjpe(predicted, truth, mask=occluded)),
                    _mm(mpjve(predicted, truth)),
                    _mm(acceleration_error(predicted, truth)) if len(truth) >= 3 else None,
                    *_plausibility(predicted),
                ]
            )
            per_frame[name] = mpjpe(predicted, truth, reduction="none") * 1000
        rows.append(["Change (%)", *(_change(b, r) for b, r in zip(rows[0][1:], rows[1][1:]))])
        # The ground truth's own figures: what a real person's bones and motion give (not zero: joints
        # are placed by the renderer's rig, and people accelerate).
        rows.append(["Ground truth", None, None, None, None, *_plausibility(truth)])
        animation = skeleton_animation(
            {**poses, "Ground truth": truth},
            occluded,
            occluded_on="Backbone (lifter)",
            title=f"{subject} / {action} / camera {camera}",
        )
        errors = per_frame_error_figure(per_frame, occluded, title="MPJPE per frame")
        before, after = rows[0][1], rows[1][1]
        if preset == REAL:
            found = int(np.isfinite(keypoints).all(axis=(1, 2)).sum())
            source = f"real BlazePose detections (a person found in {found} of {len(truth)} frames"
            source += ", the rest interpolated before lifting)" if found < len(truth) else ")"
        else:
            source = f"detections `{preset}` (seed {DETECTION_SEED})"
        summary = (
            f"**{subject} / {action} / camera {camera}**, {source}, lifted by {LIFTER_NAMES[lifter]}: "
            f"{len(truth)} frames, {occluded.mean():.0%} of joints occluded. "
            f"The refiner takes MPJPE from **{before} mm** to **{after} mm** ({_signed(rows[2][1])} %)."
        )
        if refiner_note:
            summary += f" **Note:** {refiner_note}"
        if subject not in TEST_SUBJECTS:
            summary += f" Note: {subject} is a training subject; only {', '.join(TEST_SUBJECTS)} is held out."
        video, video_note = self._video(subject, action, camera)
        return _SequenceRun(
            subject, action, camera, preset, lifter, truth, backbone, refined, occluded,
            np.asarray(sequence.keypoints_2d, np.float32), np.asarray(keypoints, np.float32),
            tuple(sequence.image_size), video, video_note,
            (animation, errors, {"headers": METRIC_HEADERS, "data": rows}, summary),
        )  # fmt: skip

    def _video_folders(self) -> list[Path]:
        # A raw BlendMimic3D folder holds S?/Videos beside the annotations; the download folder holds
        # what the app fetched (and the annotations, when no folder was given).
        folders = []
        if self.data_source is not None and Path(self.data_source).expanduser().is_dir():
            local = Path(self.data_source).expanduser()
            if is_raw_layout(local):
                folders.append(local)
        return [*folders, default_download_dir()]

    def _video(self, subject: str, action: str, camera: int) -> tuple[Path | None, str]:
        """The sequence's video, fetched from upstream if need be, or (None, why there is none)."""
        if not has_upstream_video(subject, action, camera):
            return None, (
                f"**No video for {subject} / {action} / camera {camera}**: upstream has the videos of only "
                f"{len(UPSTREAM_VIDEOS)} of the 128 camera sequences ({coverage(UPSTREAM_VIDEOS)}). The 3D "
                "view still follows the frame slider."
            )
        path = find_video(subject, action, camera, self._video_folders())
        if path is not None:
            return path, ""
        try:
            return fetch_video(subject, action, camera), ""
        except (OSError, ValueError) as error:
            return None, (
                f"**The video of {subject} / {action} / camera {camera} is not here** and could not be fetched "
                f"({error}). Set {DATA_ENV} to a BlendMimic3D folder holding S?/Videos/."
            )

    def _frame_outputs(self, run: _SequenceRun, t: int):
        """(video frame with keypoints or None, 3D figure of frame t, caption) of one run."""
        figure = skeleton_frame_figure(
            {"Backbone (lifter)": run.backbone, "Refined": run.refined, "Ground truth": run.truth},
            t,
            run.occluded,
            occluded_on="Backbone (lifter)",
            title=f"frame {t}",
        )
        hidden = int(run.occluded[t].sum())
        errors = {name: np.linalg.norm(p[t] - run.truth[t], axis=-1).mean() * 1000
                  for name, p in (("backbone", run.backbone), ("refined", run.refined))}  # fmt: skip
        caption = (
            f"**Frame {t}** of {run.num_frames}: {hidden} of 17 joints occluded in this view; MPJPE "
            f"backbone {errors['backbone']:.1f} mm, refined {errors['refined']:.1f} mm."
        )
        if not np.isfinite(run.detections_2d[t]).all():
            caption += " The detector found no person in this frame (interpolated before lifting)."
        image, note = self._video_frame(run, t)
        if image is not None:
            caption += (
                " On the video: green, the ground-truth 2D keypoints (red rings: occluded joints); orange, "
                "the detections in use (open circles at occluded joints)."
            )
        return image, figure, caption + (f"\n\n{note}" if note else "")

    def _video_frame(self, run: _SequenceRun, t: int) -> tuple[np.ndarray | None, str]:
        if run.video is None:
            return None, run.video_note
        try:
            # Held while decoding: another sequence's request would otherwise close this reader mid-read.
            with self._frames_lock:
                if self._frames is None or self._frames.path != run.video:
                    if self._frames is not None:
                        self._frames.close()
                    self._frames = None
                    self._frames = VideoFrames(run.video, width=FRAME_WIDTH, cache_size=VIDEO_CACHE_FRAMES)
                frames = self._frames
                if frames.num_frames != run.num_frames:  # never show a frame out of sync with the poses
                    return None, (
                        f"**The video {run.video.name} has {frames.num_frames} frames but the annotations "
                        f"{run.num_frames}**: it is not shown, since its frames would not match the poses."
                    )
                image = frames.frame(t)
        except ImportError:
            return None, "**Video frames need PyAV**, which is not installed here: pip install 'gcnrefine[video]'."
        except Exception as error:  # a broken or unreadable file: say so, keep serving
            return None, f"**The video {run.video.name} could not be read** ({error})."
        # The annotations' pixels onto the shown frame (the video may be scaled for display).
        scale = frames.size[0] / run.image_size[0]
        image = draw_keypoints(
            image, run.truth_2d[t], color=TRUTH_RGB, occluded=run.occluded[t], occluded_color=OCCLUDED_RGB, scale=scale
        )
        image = draw_keypoints(image, run.detections_2d[t], color=DETECTIONS_RGB, occluded=run.occluded[t], scale=scale)
        return image, ""

    # ------------------------------------------------------------------ your predictions tab

    def refine_upload(self, file: str | None, key: str | None = None):
        """Refine an uploaded pose file: (before/after animation, refined file, summary, ground-truth-free
        figures before and after, per-frame map of how far each joint moved)."""
        if not file:
            raise gr.Error("Upload a .npy or .npz file of 3D poses (T, 17, 3) or (T, 1, 17, 3) in metres first.")
        return self._refine_file(Path(file), (key or "").strip() or None)

    def refine_example(self):
        """The in-the-wild VideoPose3D example, refined."""
        if self.example_path is None:
            raise gr.Error(f"The example file is not available here; set {EXAMPLE_ENV} to a .npy of poses.")
        return self._refine_file(self.example_path, None)

    def _refine_file(self, path: Path, key: str | None):
        started = time.monotonic()
        try:
            try:
                # max_frames is checked from the file's header, before any data is read.
                poses = load_poses_file(path, key=key, max_frames=self.max_frames)
            except ValueError as error:
                if f"at most {self.max_frames} frames" not in str(error):
                    raise
                raise gr.Error(
                    f"{error}. The Space refines at most {self.max_frames:,} frames per request (about "
                    f"{UPLOAD_S_PER_1000_FRAMES:g} s per 1,000 frames on its CPU, within a budget of "
                    f"{self.time_budget_s:g} s); refine longer sequences locally with `gcnrefine refine`."
                ) from None
            shape = poses.shape
            flat = poses.reshape(shape[0], 17, 3)
            refiner = self.refiner.get()
            # From here, not from `started`: the first request's model load (a download, for a Hub id)
            # is not the visitor's upload being too long.
            refining = time.monotonic()
            self._deadline.at = refining + self.time_budget_s
            try:
                refined = refiner.refine(flat, flip_test=True, batch_size=REFINE_BATCH_SIZE)
            finally:
                self._deadline.at = None
        except ValueError as error:  # every validation message names the file and what was expected
            raise gr.Error(str(error)) from error
        except _OverBudget:
            raise gr.Error(
                f"{path.name}: stopped after {time.monotonic() - refining:.0f} s, the Space's time budget per "
                f"request ({self.time_budget_s:g} s), before its {shape[0]:,} frames were refined. Try again "
                "later, upload fewer frames, or refine locally with `gcnrefine refine`."
            ) from None
        out = self._output_path(path)
        save_poses_file(out, np.asarray(refined).reshape(shape))
        # Show both relative to the refined root (the input's, with gaps filled), so NaN roots still draw.
        root = refined[:, :1].astype(np.float64)
        animation = skeleton_animation(
            {"Your input": flat - root, "Refined": refined - root}, title=f"{path.name}: input vs refined"
        )
        change = np.linalg.norm(refined - flat, axis=-1) * 1000
        # No ground truth here: what can be judged is how plausible the poses are before and after.
        rows = [["Your input", *_plausibility(flat)], ["Refined", *_plausibility(refined)]]
        rows.append(["Change (%)", *(_change(b, r) for b, r in zip(rows[0][1:], rows[1][1:]))])
        moved = joint_displacement_figure(flat, refined, title="How far the refiner moved each joint (mm)")
        summary = (
            f"**{path.name}**: {shape[0]} frames of shape {tuple(shape[1:])}, refined with flip test "
            f"in {time.monotonic() - started:.1f} s. "
            f"Mean change {np.nanmean(change):.1f} mm (largest {np.nanmax(change):.1f} mm). "
            f"Jitter (mean joint acceleration): {_figure(rows[0][3], '.2f')} → {_figure(rows[1][3], '.2f')} mm/frame²."
        )
        return animation, str(out), summary, {"headers": UPLOAD_METRIC_HEADERS, "data": rows}, moved

    def _output_path(self, source: Path) -> Path:
        # Clear out old results: each is up to a few MB and a Space runs for days.
        cutoff = time.time() - OUTPUT_TTL_S
        for old in self._output_dir.glob("*/*"):
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
                old.parent.rmdir()  # one file per folder
        folder = self._output_dir / uuid.uuid4().hex[:12]  # keeps the user's file name, without clashes
        return folder / f"{source.stem}_refined{source.suffix}"

    # ------------------------------------------------------------------ video tab

    def run_video(
        self,
        video: str | None,
        threshold: float = VIDEO_THRESHOLD,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008  (Gradio's progress bar)
    ):
        """Detect, track, 2D keypoints, lift and refine one person in a clip: (overlay MP4, .npz, summary).

        Only the first ``max_video_frames`` frames are processed; the summary says when the clip was cut.
        """
        if not video:
            raise gr.Error("Upload a video clip (MP4, MOV, WebM, ...) of a person first.")
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            threshold = -1.0
        if not 0 <= threshold <= 1:
            raise gr.Error(f"Detector threshold: expected a number from 0 to 1, got {threshold!r}.")
        path = Path(video)
        try:
            import av  # the video extra
        except ImportError as error:
            raise gr.Error(
                "The Video tab needs PyAV, which is not installed here: pip install 'gcnrefine[video]'."
            ) from error
        try:
            info = probe_video(path)
        except ValueError as error:  # not a video, no video stream
            raise gr.Error(
                f"{path.name}: not a video that can be read (or it has no video stream). "
                "Upload a clip such as MP4, MOV or WebM."
            ) from error
        lifter, refiner = self.lifter.get(), self.refiner.get()
        device = default_device()
        # Loaded here, not inside process_video, so a missing model gets its own message (both are
        # cached per process: process_video then reuses them).
        for what, model_id, env, load in (
            ("person detector", self.detector, DETECTOR_ENV, load_detector),
            ("pose model", self.pose_model, POSE_MODEL_ENV, load_pose_model),
        ):
            try:
                load(model_id, device)
            except Exception as error:  # offline, unknown id, wrong architecture: one clear message
                raise gr.Error(
                    f"The {what} could not be loaded from {model_id}: {error}. The first video request "
                    f"downloads it from the Hub (needs internet); or set {env} to a local folder."
                ) from error
        out_dir = self._video_output_dir()
        try:
            result = process_video(
                path,
                lifter,
                refiner=refiner,
                out_dir=out_dir,
                detector=self.detector,
                pose_model=self.pose_model,
                device=device,
                threshold=threshold,
                max_frames=self.max_video_frames,
                crop_detection=False,  # one detector pass per frame: half the time on a CPU Space
                progress=True,  # tqdm bars, which the Progress above shows in the page
            )
        except av.FFmpegError as error:  # the header was fine but decoding the frames failed
            shutil.rmtree(out_dir, ignore_errors=True)
            raise gr.Error(f"{path.name}: the video could not be decoded ({error}).") from error
        except ValueError as error:  # e.g. no person found in any frame
            shutil.rmtree(out_dir, ignore_errors=True)
            hint = " If a person is visible, lower the detector threshold." * ("no person" in str(error))
            message = str(error).replace(str(path), path.name).removeprefix("path: ")
            raise gr.Error(f"{path.name}: {message}.{hint}") from error
        except BaseException:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise
        found = int(np.isfinite(result.boxes[:, 0]).sum())
        change = np.linalg.norm(result.poses_3d_refined - result.poses_3d, axis=-1) * 1000
        if found == result.num_frames:
            seen = "the person was found in every frame"
        else:  # process_video interpolated the 2D of the other frames before lifting
            seen = f"the person was found in {found} of them (the rest are interpolated)"
        summary = (
            f"**{path.name}**: {result.num_frames} frames at {result.fps:.3g} fps, "
            f"{result.image_size[0]}×{result.image_size[1]}; {seen}. "
            f"The refiner moved joints by {change.mean():.1f} mm on average."
        )
        if result.truncated:
            total = f" of {info.num_frames}" if info.num_frames else ""
            summary += (
                f" **Only the first {self.max_video_frames} frames{total} were processed** "
                f"(the Space's limit, {self.max_video_frames / result.fps:.1f} s at this frame rate)."
            )
        return str(result.video_path), str(result.npz_path), summary

    def _video_output_dir(self) -> Path:
        # Gradio copies the outputs into its own cache; the originals are removed after OUTPUT_TTL_S.
        cutoff = time.time() - OUTPUT_TTL_S
        for old in self._video_dir.iterdir():
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self._video_dir))


def _mm(value: float) -> float | None:
    value = float(value) * 1000
    return round(value, 1) if np.isfinite(value) else None  # NaN: no occluded joint in the sequence


def _change(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return round(100 * (after - before) / before, 1)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def _figure(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _plausibility(poses: np.ndarray) -> list[float | None]:
    """Bone-length spread, left/right asymmetry (mm) and jitter (mm/frame²), rounded; None where a
    figure cannot be computed (too few frames, or only NaN)."""
    out = []
    for measure in (bone_length_spread, left_right_asymmetry, jitter):
        try:
            value = float(measure(poses))
        except ValueError:  # fewer frames than the measure needs
            value = float("nan")
        out.append(round(value, 2) if np.isfinite(value) else None)
    return out


INTRO = """# gcnrefine: 3D human poses under occlusion, refined
A graph-convolutional refiner (ST-GCN, after Lino, Santiago and Marques, *3D Human Pose Estimation with
Occlusions: Introducing BlendMimic3D Dataset and GCN Refinement*, CVPR 2024 workshops) corrects the 3D
output of any lifter where joints are hidden. Poses are in metres, camera frame, Human3.6M-17 joint order."""


def build_demo(
    refiner_path: str | os.PathLike | None = None,
    lifter_path: str | os.PathLike | None = None,
    data_source: str | os.PathLike | None = None,
    max_frames: int = MAX_UPLOAD_FRAMES,
    example_path: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    pose_model: str | os.PathLike | None = None,
    max_video_frames: int = MAX_VIDEO_FRAMES,
    time_budget_s: float = UPLOAD_TIME_BUDGET_S,
    semgcn_path: str | os.PathLike | None = None,
    semgcn_refiner_path: str | os.PathLike | None = None,
) -> gr.Blocks:
    """The Space's ``gr.Blocks``, queued with its concurrency limits and queue size; nothing is loaded
    until a request needs it (see the module docstring).

    Launch it with ``demo.launch(max_file_size=MAX_FILE_SIZE)``.
    """
    backend = SpaceBackend(
        refiner_path,
        lifter_path,
        data_source,
        max_frames,
        example_path,
        detector=detector,
        pose_model=pose_model,
        max_video_frames=max_video_frames,
        time_budget_s=time_budget_s,
        semgcn_path=semgcn_path,
        semgcn_refiner_path=semgcn_refiner_path,
    )
    subject, action, camera = DEFAULT_SEQUENCE
    preset = backend.default_preset()
    with gr.Blocks(title="gcnrefine: occlusion-robust 3D pose refinement", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("BlendMimic3D"):
            gr.Markdown(
                "Pick a sequence, where the 2D detections come from and a lifter: the app lifts the detections "
                "to 3D (the *backbone*) and refines the result. Detections are the real ones of MediaPipe "
                "BlazePose where the sequence was filmed (`real`), or simulated with a fixed seed "
                f"({DETECTION_SEED}). Where upstream has the sequence's video, the frame slider shows its frame "
                "with the keypoints drawn on it beside the 3D poses of that frame. SS3 is the held-out test "
                "subject."
            )
            with gr.Row():
                subject_box = gr.Dropdown(
                    [(f"{s} ({'test' if s in TEST_SUBJECTS else 'train'})", s) for s in ACTIONS],
                    value=subject,
                    label="Subject",
                )
                # Choices follow the subject; run_sequence validates the pair itself (also for API calls).
                action_box = gr.Dropdown(list(ACTIONS[subject]), value=action, label="Action", allow_custom_value=True)
                camera_box = gr.Dropdown(list(range(NUM_CAMERAS)), value=camera, label="Camera")
                # As for the action: run_sequence's own check names the argument and the choices.
                preset_box = gr.Dropdown(PRESET_CHOICES, value=preset, label="Detections", allow_custom_value=True)
                lifter_box = gr.Dropdown(LIFTER_CHOICES, value=BUILTIN_LIFTER, label="Lifter", allow_custom_value=True)
            sequence_inputs = [subject_box, action_box, camera_box, preset_box, lifter_box]
            gr.Examples(
                SEQUENCE_EXAMPLES,
                sequence_inputs,
                label="Filmed sequences (video and real detections); SS3 is the test subject",
                # Short: Gradio cuts longer labels off with an ellipsis.
                example_labels=[f"{s} {a} cam {c}: {p}, {_LIFTER_SHORT[lift]}" for s, a, c, p, lift in SEQUENCE_EXAMPLES],
            )
            run_button = gr.Button("Run detections → lifter → refiner", variant="primary")
            summary = gr.Markdown()
            metrics = gr.Dataframe(
                headers=METRIC_HEADERS,
                label="Metrics (root-relative): errors against the ground truth, then figures that need none",
                interactive=False,
            )
            with gr.Row(equal_height=True):
                frame_image = gr.Image(
                    label="Video frame: ground truth (green, red rings: occluded), detections (orange)",
                    type="numpy",
                    format="jpeg",
                    interactive=False,
                    elem_id="video-frame",
                )
                frame_plot = gr.Plot(label="3D poses of this frame (root-relative)", elem_id="frame-3d")
            frame_slider = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="frame-slider")
            frame_caption = gr.Markdown(elem_id="frame-caption")
            animation = gr.Plot(
                label="The whole sequence: backbone, refined and ground truth (root-relative); red rings: occluded joints",
                elem_id="sequence-animation",
            )
            errors = gr.Plot(label="Per-frame MPJPE; grey bars: occluded joints per frame")
        with gr.Tab("Your predictions"):
            gr.Markdown(
                "Upload your lifter's 3D poses as `.npy` or `.npz`: shape `(T, 17, 3)` or `(T, 1, 17, 3)`, "
                "**metres**, camera frame (y down), Human3.6M-17 joint order, at most "
                f"**{max_frames:,} frames** (files up to {MAX_FILE_SIZE.upper()}). NaN marks missing joints. "
                "Files are read without pickle. You get the refined poses back in the same shape.\n\n"
                f"Uploads are refined one at a time, each within **{time_budget_s:g} s** "
                f"(about {UPLOAD_S_PER_1000_FRAMES:g} s per 1,000 frames on this CPU): a request still running "
                "then is stopped with a message. For longer sequences run `gcnrefine refine` locally."
            )
            with gr.Row():
                upload = gr.File(label="3D poses (.npy / .npz)", file_types=[".npy", ".npz"], type="filepath")
                key_box = gr.Textbox(label="Array name (only for an .npz holding several)", max_lines=1)
            with gr.Row():
                refine_button = gr.Button("Refine", variant="primary")
                example_button = gr.Button(
                    "Try the in-the-wild example (VideoPose3D, 396 frames)", visible=backend.example_path is not None
                )
            upload_summary = gr.Markdown()
            upload_metrics = gr.Dataframe(
                headers=UPLOAD_METRIC_HEADERS,
                label="Plausibility without ground truth: bone lengths should stay put, left and right "
                "match, motion be smooth (lower is better)",
                interactive=False,
            )
            upload_animation = gr.Plot(
                label="Your input and the refined poses (relative to the root)", elem_id="upload-animation"
            )
            upload_moved = gr.Plot(label="How far the refiner moved each joint, per frame", elem_id="upload-moved")
            refined_file = gr.File(label="Refined poses", interactive=False)
        with gr.Tab("Video"):
            gr.Markdown(
                "Upload a short clip of a person (MP4, MOV, WebM, ...; files up to "
                f"{MAX_FILE_SIZE.upper()}). Only the **first {max_video_frames} frames** are processed "
                f"({max_video_frames / 30:g} s at 30 fps). The app detects people with RT-DETR, follows the "
                "largest one, estimates its 2D keypoints with ViTPose, lifts them to 3D with the built-in "
                "lifter and refines them. You get a video with the 2D skeleton beside the 3D pose before "
                "and after refinement, and an `.npz` with every array (2D keypoints, scores, boxes, 3D "
                "poses in metres before and after). The first request downloads the two 2D models; on a "
                "CPU Space a full clip takes minutes."
            )
            with gr.Row():
                video_upload = gr.Video(label="Your clip", sources=["upload"])
                with gr.Column():
                    threshold_box = gr.Slider(
                        0, 1, value=VIDEO_THRESHOLD, step=0.05, label="Detector score threshold"
                    )
                    video_button = gr.Button("Detect → lift → refine", variant="primary")
            video_summary = gr.Markdown()
            with gr.Row():
                overlay_video = gr.Video(label="2D keypoints | 3D before | 3D after", interactive=False)
                poses_file = gr.File(label="Poses (.npz)", interactive=False)

        # The action stays when the new subject has it (an example sets both at once), else the first.
        subject_box.change(
            lambda s, a: gr.update(
                choices=list(ACTIONS.get(s, ())), value=a if a in ACTIONS.get(s, ()) else ACTIONS.get(s, (None,))[0]
            ),
            [subject_box, action_box],
            action_box,
            api_visibility="private",
        )
        frame_outputs = [frame_image, frame_plot, frame_caption]
        sequence_io = {
            "fn": backend.run_sequence,
            "inputs": sequence_inputs,
            "outputs": [animation, errors, metrics, summary, frame_slider, *frame_outputs],
        }
        # gr.Plot drops plotly frames; a client-side step adds them back so Play and the slider work.
        sequence_frames = {"fn": None, "inputs": animation, "js": gradio_frames_js("sequence-animation")}
        upload_frames = {"fn": None, "inputs": upload_animation, "js": gradio_frames_js("upload-animation")}
        # Every refine shares one worker (REFINE_CONCURRENCY); later requests wait in the queue.
        refine_queue = {"concurrency_limit": REFINE_CONCURRENCY, "concurrency_id": "refine"}
        run_button.click(**sequence_io, **refine_queue, api_name="run_sequence").success(**sequence_frames)
        # A visitor sees the default SS3 result without clicking (cached after the first visit).
        demo.load(**sequence_io, **refine_queue, api_visibility="private").success(**sequence_frames)
        # Moving the slider decodes one frame (cached results, no refine): its own worker, so it never
        # waits behind an upload; while one frame is drawn only the newest slider position is kept.
        frame_slider.input(
            backend.show_frame,
            [*sequence_inputs, frame_slider],
            frame_outputs,
            api_name="show_frame",
            concurrency_limit=1,
            concurrency_id="frame",
            trigger_mode="always_last",
            show_progress="hidden",
        )
        upload_outputs = [upload_animation, refined_file, upload_summary, upload_metrics, upload_moved]
        refine_button.click(
            backend.refine_upload, [upload, key_box], upload_outputs, **refine_queue, api_name="refine_upload"
        ).success(**upload_frames)
        example_button.click(
            backend.refine_example, None, upload_outputs, **refine_queue, api_name="refine_example"
        ).success(**upload_frames)
        # Clips have their own worker: each keeps the CPU busy for minutes, which uploads should not wait for.
        video_button.click(
            backend.run_video,
            [video_upload, threshold_box],
            [overlay_video, poses_file, video_summary],
            api_name="process_video",
            concurrency_limit=VIDEO_CONCURRENCY,
            concurrency_id="video",
        )
    # Passed explicitly so that GRADIO_DEFAULT_CONCURRENCY_LIMIT cannot raise the listeners' default.
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=REFINE_CONCURRENCY)
    demo.backend = backend  # for tests and scripts: the loaded models and settings
    return demo


demo = build_demo()

def exit_normally_on_sigterm() -> None:
    """A Space (or a service manager) stops the app with SIGTERM, whose default action skips atexit and
    so the backends' finalizers: exit through SystemExit instead, which runs them."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


if __name__ == "__main__":
    exit_normally_on_sigterm()
    demo.launch(max_file_size=MAX_FILE_SIZE)

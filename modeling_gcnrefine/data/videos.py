"""Where a BlendMimic3D camera sequence's video is, and fetching it from upstream.

The upstream repository holds, at :data:`~.upstream.UPSTREAM_COMMIT`, the rendered videos of 27 of the
128 camera sequences (:data:`UPSTREAM_VIDEOS`): all 16 of SS3, 8 of SS1 and 3 of SS2, one video frame
per annotation frame. They sit beside the annotations, in the upstream layout::

    S1/ S2/ S3/
      Videos/<Action>_<camera>.mp4

with two naming quirks handled here: the subject folders are ``S1``-``S3`` for the paper's ``SS1``-
``SS3``, and SS3's files say ``TakeItem`` where its annotations say ``TakesItem``.

:func:`find_video` looks in the folders it is given (a raw BlendMimic3D folder such as
``$GCNREFINE_BLENDMIMIC3D_DIR``, then the download folder); :func:`fetch_video` downloads one file
(1-4 MB) into the download folder, checked against its pinned SHA-256, and refuses to reach the network
when ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE`` is set. :func:`~.upstream.download_upstream` never
fetches videos: the annotations alone are what training and evaluation need.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..utils.io import set_default_mode
from .real_detections import coverage
from .upstream import (
    NUM_CAMERAS,
    SUBJECTS,
    UPSTREAM_COMMIT,
    _http_fetch,
    _sha256,
    default_download_dir,
    offline_env_var,
    upstream_url,
)

VIDEO_FOLDER = "Videos"

# The paper's subject name -> the upstream folder.
SUBJECT_FOLDERS: dict[str, str] = {paper: folder for folder, paper in SUBJECTS.items()}

# Annotation action names whose video files are named otherwise upstream (SS3 only).
_FILE_ACTIONS: dict[tuple[str, str], str] = {
    ("SS3", "TakesItem"): "TakeItem",
    ("SS3", "TakesItem_multi"): "TakeItem_multi",
}

# SHA-256 of each video upstream holds at UPSTREAM_COMMIT, by repository path. Computed from the
# project's copies of those files (the 27 that exist there; the other 101 sequences have none), so a
# fetched file that differs in any byte is refused. Regenerate only together with a new commit.
UPSTREAM_VIDEO_SHA256: dict[str, str] = {
    "S1/Videos/PickingObjects_0.mp4": "e3b51b54346a5e7b95b80ea9810de9268d77f60ab04afbe0ea2a90f1da1c327b",
    "S1/Videos/PickingObjects_1.mp4": "727afa26e93508001ed13619dd0004341c8a4f5f8701722e30b84097f1ef69ff",
    "S1/Videos/PickingObjects_2.mp4": "8dd1f800f989bb0b5b4b0332f8da0533cf11623abb91468dce70df1109bc17bb",
    "S1/Videos/PickingObjects_3.mp4": "99a53ca961530f23e5cae4baed85a1bca349aec9a9e599c425992320a4bfdcc7",
    "S1/Videos/ShoppingBag_0.mp4": "93e6996aabda4725b37830571f0743060c2e58f21a41bece2cadd9b34fd5ec53",
    "S1/Videos/ShoppingBag_2.mp4": "ae958c0f4e8dde72ca4e3ded61ada4cee9bd83ec7a76d633c2698f5a2d171ecf",
    "S1/Videos/WalkCircle_0.mp4": "b1cdc9d37b0c83c29f5978f83cc80d8fcc3b39dca6c9261833398d894b692a2b",
    "S1/Videos/WalkCircle_2.mp4": "63872dfc18d1264b6b359bc932ff820f7bbd1eec6229f7ba8f1b6285e17b37fd",
    "S2/Videos/GatheringObjects_0.mp4": "57d4b448b0a4f3e7a15f1504f141b08c40fb8782f6af4e8293ca18a9e437fa43",
    "S2/Videos/PickingObjects_0.mp4": "d818042943db00aa11a776898e6c4d5b96ec8be6252f26c38bc1337c937139d0",
    "S2/Videos/PickingObjects_2.mp4": "24ead682c9c0c4239eb17b4852e69c65c7191b8c7a6bc64a288e2564fd6228bc",
    "S3/Videos/Focus_0.mp4": "21c8f04b5b56f87e3335cea4d895b33080c1d6789c75b1bbe8d3734ddd75931a",
    "S3/Videos/Focus_1.mp4": "73eca20d3bbeedc5a5eff3f228beb09b2063dab88ec578d69f96c2a4b7d08abd",
    "S3/Videos/Focus_2.mp4": "52c587374c663339ff3ca30775414025f05275c8a3a5cc48bc3b4a65429212af",
    "S3/Videos/Focus_3.mp4": "20ed0455823c89c1e5171754c1c54d9a31942e9586dc21a808ad5f76b365ab7b",
    "S3/Videos/Focus_multi_0.mp4": "e34bed136de8b0b72ee86122edcb7501997e64845df6ec9774bd2248223c5ec2",
    "S3/Videos/Focus_multi_1.mp4": "483b7f40bfc979924741bc44febefdb22b1e7f807603d2be661a2c834dc89d19",
    "S3/Videos/Focus_multi_2.mp4": "5adf3ad7a4d568dbaa2f2d7bfae0f481a97a3c797c2b020d096809304afb989a",
    "S3/Videos/Focus_multi_3.mp4": "3417d4e89fb6ae18c33f87c8692a4bda59d0b186cf9866d0dfcae3df682d556f",
    "S3/Videos/TakeItem_0.mp4": "51178a26b48f2e96400708b67df1a7d50c7c075b4c85bf7d96fce9c4b2633180",
    "S3/Videos/TakeItem_1.mp4": "302b036783a5f5c8a80da0f10fa64443127887c3bd5e226e4970d4b3ceedd3ee",
    "S3/Videos/TakeItem_2.mp4": "6cb52b3b1e1d10d537c5b292affa30427b3ae58cb8f5f0974c7f16fda3c4fa6c",
    "S3/Videos/TakeItem_3.mp4": "14cd553189833d7c11e501af76aac781d76270612a8ef31b8c7318bc9ead1420",
    "S3/Videos/TakeItem_multi_0.mp4": "283e95cc974c1de7dd84f74a4c66ee8da14f13739b6352d079616e7a327cd583",
    "S3/Videos/TakeItem_multi_1.mp4": "d203010e0b2051c550341bbfba163f48f65f178b2b165367705bbc338d5c50bf",
    "S3/Videos/TakeItem_multi_2.mp4": "cad34a20bf49664c8680305c0f8d6dca0c0572f72f1f274706f4a83a9ecdf4c5",
    "S3/Videos/TakeItem_multi_3.mp4": "a3859dbb416013b76782d797d60e246a189a04cc81c49f5fca6b97c4a4bc073f",
}


def _check_key(subject: str, action: str, camera: int) -> int:
    if subject not in SUBJECT_FOLDERS:
        raise ValueError(f"subject: expected one of {sorted(SUBJECT_FOLDERS)}, got {subject!r}")
    if not isinstance(action, str) or not action:
        raise ValueError(f"action: expected an action name such as 'TakesItem_multi', got {action!r}")
    if isinstance(camera, bool) or not isinstance(camera, int) or not 0 <= camera < NUM_CAMERAS:
        raise ValueError(f"camera: expected an int from 0 to {NUM_CAMERAS - 1}, got {camera!r}")
    return camera


def video_relative_path(subject: str, action: str, camera: int) -> str:
    """The upstream repository path of a sequence's video, whether upstream has it or not:
    ``("SS3", "TakesItem_multi", 0)`` -> ``"S3/Videos/TakeItem_multi_0.mp4"``."""
    camera = _check_key(subject, action, camera)
    name = _FILE_ACTIONS.get((subject, action), action)
    return f"{SUBJECT_FOLDERS[subject]}/{VIDEO_FOLDER}/{name}_{camera}.mp4"


def _key_of(path: str) -> tuple[str, str, int]:
    folder, _, file_name = path.split("/")
    stem, camera = file_name.removesuffix(".mp4").rsplit("_", 1)
    subject = SUBJECTS[folder]
    action = {name: action for (s, action), name in _FILE_ACTIONS.items() if s == subject}.get(stem, stem)
    return subject, action, int(camera)


UPSTREAM_VIDEOS: tuple[tuple[str, str, int], ...] = tuple(sorted(_key_of(p) for p in UPSTREAM_VIDEO_SHA256))
"""``(subject, action, camera)`` of every sequence upstream has a video of (annotation names)."""

def has_upstream_video(subject: str, action: str, camera: int) -> bool:
    """Whether upstream holds a video of this camera sequence (27 of the 128 do)."""
    return (subject, action, _check_key(subject, action, camera)) in UPSTREAM_VIDEOS


def default_video_folders() -> list[Path]:
    """Where :func:`find_video` looks by default: ``$GCNREFINE_BLENDMIMIC3D_DIR`` when set, else the
    project's ``../shared/blendmimic3d`` beside a checkout; then the download folder."""
    from .upstream import ENV_VAR

    configured = os.environ.get(ENV_VAR)
    first = Path(configured).expanduser() if configured else Path(__file__).resolve().parents[2].parent / "shared" / "blendmimic3d"
    return [first, default_download_dir()]


def find_video(
    subject: str, action: str, camera: int, folders: Iterable[str | os.PathLike] | None = None
) -> Path | None:
    """The first existing ``<folder>/S?/Videos/<Action>_<camera>.mp4`` of ``folders`` (default
    :func:`default_video_folders`), or None. Folders that do not exist are skipped."""
    relative = video_relative_path(subject, action, camera)
    for folder in default_video_folders() if folders is None else folders:
        path = Path(folder).expanduser() / relative
        if path.is_file():
            return path
    return None


def fetch_video(
    subject: str,
    action: str,
    camera: int,
    dest: str | os.PathLike | None = None,
    *,
    fetch: Callable[[str, Path], None] | None = None,
) -> Path:
    """Download one sequence's video from upstream at the pinned commit into ``dest`` (default: the
    annotations' download folder, :func:`~.upstream.default_download_dir`) and return its path.

    An existing file is returned as it is. The download goes to a temporary name, is checked against
    :data:`UPSTREAM_VIDEO_SHA256` and renamed only when it matches. ``fetch(url, path)`` replaces the
    HTTP client (tests).

    Raises:
        ValueError: upstream has no video of the sequence (naming the ones it has), the offline
            variables forbid the download, or the file fetched is not the pinned one.
    """
    relative = video_relative_path(subject, action, camera)
    if relative not in UPSTREAM_VIDEO_SHA256:
        raise ValueError(
            f"video: upstream has no video of {subject}/{action} camera {camera}; it has "
            f"{len(UPSTREAM_VIDEOS)} of the 128 camera sequences: {coverage(UPSTREAM_VIDEOS)}"
        )
    target = Path(dest).expanduser() / relative if dest is not None else default_download_dir() / relative
    if target.is_file():
        return target
    offline = offline_env_var()
    if offline:
        raise ValueError(
            f"video: {relative} is not in {target.parent.parent.parent} and {offline} is set, so it is not "
            f"downloaded; put the upstream file there (or in a BlendMimic3D folder given by "
            "$GCNREFINE_BLENDMIMIC3D_DIR)"
        )
    url = upstream_url(relative, UPSTREAM_COMMIT)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        (fetch or _http_fetch)(url, Path(partial))
        with open(partial, "rb") as stream:
            head = stream.read(64)
        if head.startswith(b"version https://git-lfs"):
            raise ValueError(f"video: {url} gave a Git LFS pointer, not the file")
        if head[4:8] != b"ftyp":  # every MP4 starts with its file-type box
            raise ValueError(f"video: {url} is not an MP4 file (got {head[:16]!r})")
        digest = _sha256(partial)
        if digest != UPSTREAM_VIDEO_SHA256[relative]:
            raise ValueError(
                f"video: {url} has SHA-256 {digest}, not the pinned {UPSTREAM_VIDEO_SHA256[relative]}; the "
                "download was deleted (a changed upstream file or a broken transfer)"
            )
        set_default_mode(partial)  # mkstemp's 0600 would hide it from other users of a shared cache
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target

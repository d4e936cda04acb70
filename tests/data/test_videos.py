"""Locating and fetching BlendMimic3D's upstream videos (modeling_gcnrefine.data.videos)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modeling_gcnrefine.data import videos
from modeling_gcnrefine.data.upstream import UPSTREAM_ACTIONS, UPSTREAM_COMMIT


def test_file_names_follow_the_upstream_quirks():
    # Folders S1-S3 for SS1-SS3; SS3's files say TakeItem where the annotations say TakesItem.
    assert videos.video_relative_path("SS3", "TakesItem_multi", 0) == "S3/Videos/TakeItem_multi_0.mp4"
    assert videos.video_relative_path("SS3", "TakesItem", 3) == "S3/Videos/TakeItem_3.mp4"
    assert videos.video_relative_path("SS3", "Focus_multi", 1) == "S3/Videos/Focus_multi_1.mp4"
    assert videos.video_relative_path("SS1", "WalkCircle", 2) == "S1/Videos/WalkCircle_2.mp4"
    with pytest.raises(ValueError, match=r"subject: expected one of \['SS1', 'SS2', 'SS3'\], got 'S3'"):
        videos.video_relative_path("S3", "Focus", 0)
    with pytest.raises(ValueError, match="camera: expected an int from 0 to 3, got 4"):
        videos.video_relative_path("SS3", "Focus", 4)
    with pytest.raises(ValueError, match="camera: expected an int from 0 to 3, got True"):
        videos.video_relative_path("SS3", "Focus", True)


def test_the_upstream_list_is_the_27_of_data_md():
    keys = videos.UPSTREAM_VIDEOS
    assert len(keys) == len(set(keys)) == 27
    assert sum(s == "SS3" for s, _, _ in keys) == 16
    assert sum(s == "SS1" for s, _, _ in keys) == 8 and sum(s == "SS2" for s, _, _ in keys) == 3
    # Annotation names throughout (TakesItem, not the files' TakeItem), all of them real actions.
    folders = {paper: folder for folder, paper in videos.SUBJECTS.items()}
    assert all(action in UPSTREAM_ACTIONS[folders[s]] for s, action, _ in keys)
    assert ("SS3", "TakesItem_multi", 0) in keys and videos.has_upstream_video("SS3", "TakesItem_multi", 0)
    assert not videos.has_upstream_video("SS1", "Arguing", 0)
    assert not videos.has_upstream_video("SS1", "ShoppingBag", 1)  # only cameras 0 and 2 upstream


def test_the_shared_videos_are_exactly_the_pinned_files(blendmimic3d_dir):
    found = sorted(str(p.relative_to(blendmimic3d_dir)) for p in blendmimic3d_dir.glob("S*/Videos/*.mp4"))
    assert found == sorted(videos.UPSTREAM_VIDEO_SHA256)
    for subject, action, camera in videos.UPSTREAM_VIDEOS:
        path = videos.find_video(subject, action, camera, [blendmimic3d_dir])
        assert path == blendmimic3d_dir / videos.video_relative_path(subject, action, camera)


def test_find_video_searches_the_folders_in_order(tmp_path, blendmimic3d_dir):
    assert videos.find_video("SS3", "Focus", 0, [tmp_path / "missing", tmp_path]) is None
    copy = tmp_path / "S3" / "Videos" / "Focus_0.mp4"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"x")
    assert videos.find_video("SS3", "Focus", 0, [tmp_path, blendmimic3d_dir]) == copy
    assert videos.find_video("SS3", "Focus", 0, [blendmimic3d_dir, tmp_path]) == blendmimic3d_dir / "S3/Videos/Focus_0.mp4"
    assert videos.find_video("SS1", "Arguing", 0, [blendmimic3d_dir]) is None


def _copy_fetch(source: Path, urls: list[str]):
    def fetch(url: str, destination: Path) -> None:
        urls.append(url)
        shutil.copyfile(source, destination)

    return fetch


def test_fetch_video_checks_the_pinned_digest(tmp_path, blendmimic3d_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    urls: list[str] = []
    original = blendmimic3d_dir / "S3" / "Videos" / "TakeItem_multi_0.mp4"
    path = videos.fetch_video("SS3", "TakesItem_multi", 0, tmp_path, fetch=_copy_fetch(original, urls))
    assert path == tmp_path / "S3" / "Videos" / "TakeItem_multi_0.mp4" and path.read_bytes() == original.read_bytes()
    assert urls == [f"https://github.com/FilipaLino/BlendMimic3D/raw/{UPSTREAM_COMMIT}/S3/Videos/TakeItem_multi_0.mp4"]
    # Already there: returned without fetching again.
    assert videos.fetch_video("SS3", "TakesItem_multi", 0, tmp_path, fetch=_copy_fetch(original, urls)) == path
    assert len(urls) == 1

    # Another video's bytes under this name: refused, and nothing is left behind.
    other = blendmimic3d_dir / "S3" / "Videos" / "Focus_0.mp4"
    with pytest.raises(ValueError, match=r"TakeItem_1\.mp4 has SHA-256 [0-9a-f]{64}, not the pinned 302b0367"):
        videos.fetch_video("SS3", "TakesItem", 1, tmp_path, fetch=_copy_fetch(other, []))
    assert list((tmp_path / "S3" / "Videos").iterdir()) == [path]

    pointer = tmp_path / "pointer"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\n")
    with pytest.raises(ValueError, match="gave a Git LFS pointer, not the file"):
        videos.fetch_video("SS3", "Focus", 2, tmp_path, fetch=_copy_fetch(pointer, []))
    html = tmp_path / "page.html"
    html.write_text("<html>rate limited</html>")
    with pytest.raises(ValueError, match="is not an MP4 file"):
        videos.fetch_video("SS3", "Focus", 2, tmp_path, fetch=_copy_fetch(html, []))
    assert list((tmp_path / "S3" / "Videos").iterdir()) == [path]


def test_fetch_video_refuses_offline_and_unfilmed_sequences(tmp_path, monkeypatch):
    def never(url, destination):
        raise AssertionError(f"fetched {url}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"S3/Videos/Focus_0\.mp4 is not in .* and HF_HUB_OFFLINE is set"):
        videos.fetch_video("SS3", "Focus", 0, tmp_path, fetch=never)
    with pytest.raises(ValueError, match=r"upstream has no video of SS1/Arguing camera 0; it has 27 of the 128 .*SS3 Focus 0-3"):
        videos.fetch_video("SS1", "Arguing", 0, tmp_path, fetch=never)

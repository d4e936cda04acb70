"""The Space's Video tab (spaces_demo/app.py): a clip uploaded through gradio_client, like a browser.

The app is served on 127.0.0.1 with tiny randomly initialised refiner, lifter, RT-DETR and ViTPose
models saved to tmp folders (as in tests/video/test_video.py), so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
av = pytest.importorskip("av")
from _video_fixtures import FPS, FRAMES, HEIGHT, WIDTH, build_tiny_models, write_clip  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from test_space import _serve  # noqa: E402

from modeling_gcnrefine.commands.demo import load_app  # noqa: E402

MAX_VIDEO_FRAMES = 6  # below FRAMES: every good request is cut, which the summary must say


@pytest.fixture(scope="module")
def app():
    return load_app()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "walk.mp4")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """Tiny random RT-DETR, ViTPose, lifter and refiner, saved like real checkpoints: name -> folder."""
    return build_tiny_models(tmp_path_factory.mktemp("space-video-models"))


def _build(app, models, **kwargs):
    return app.build_demo(
        refiner_path=models["refiner"],
        lifter_path=models["lifter"],
        detector=models["det"],
        pose_model=models["pose"],
        max_video_frames=MAX_VIDEO_FRAMES,
        **kwargs,
    )


def _upload(client, path: Path, threshold: float = 0.0):
    # Threshold 0: the random detector's boxes all count, so the "person" is found in every frame.
    return client.predict(gradio_client.handle_file(str(path)), threshold, api_name="/process_video")


def _check_outputs(overlay, npz_path) -> None:
    from modeling_gcnrefine.video.decode import iter_frames
    from modeling_gcnrefine.video.pipeline import NPZ_KEYS

    overlay_path = Path(overlay["video"] if isinstance(overlay, dict) else overlay)
    assert overlay_path.suffix == ".mp4" and overlay_path.name == "walk_overlay.mp4"
    rendered = list(iter_frames(overlay_path))
    assert len(rendered) == MAX_VIDEO_FRAMES and rendered[0].shape[1] > rendered[0].shape[0]  # 3 panels
    assert Path(npz_path).name == "walk_poses.npz"
    t = MAX_VIDEO_FRAMES
    with np.load(npz_path, allow_pickle=False) as saved:
        assert set(saved.files) == {*NPZ_KEYS, "fps", "image_size", "truncated"}
        assert saved["keypoints_2d"].shape == saved["keypoints_coco"].shape == (t, 17, 2)
        assert saved["confidence"].shape == saved["scores_coco"].shape == (t, 17)
        assert saved["boxes"].shape == (t, 4) and saved["box_scores"].shape == (t,)
        assert saved["poses_3d"].shape == saved["poses_3d_refined"].shape == (t, 17, 3)
        assert np.isfinite(saved["poses_3d_refined"]).all()
        assert saved["image_size"].tolist() == [WIDTH, HEIGHT] and float(saved["fps"]) == FPS
        assert bool(saved["truncated"])


def test_video_tab_processes_a_clip_and_survives_bad_uploads(app, models, clip, tmp_path):
    demo = _build(app, models)
    with _serve(app, demo) as url:
        client = gradio_client.Client(url, verbose=False)
        overlay, npz_path, summary = _upload(client, clip)
        _check_outputs(overlay, npz_path)
        assert (
            f"**walk.mp4**: {MAX_VIDEO_FRAMES} frames at 10 fps, 128×96; the person was found in every"
            in summary
        )
        assert f"Only the first {MAX_VIDEO_FRAMES} frames of {FRAMES} were processed" in summary

        text = tmp_path / "notavideo.mp4"
        text.write_text("frame,joint,x,y,z\n0,0,0.1,0.2,3.0\n")
        with pytest.raises(AppError, match=r"notavideo\.mp4: not a video that can be read"):
            _upload(client, text)
        no_person = r"walk\.mp4: no person found in any of the 6 frames .*lower the detector threshold"
        with pytest.raises(AppError, match=no_person):
            _upload(client, clip, threshold=1.0)

        # The app keeps serving, and a repeated clip gets fresh output files (no "exists" clash).
        overlay, again, _ = _upload(client, clip)
        _check_outputs(overlay, again)
        np.testing.assert_array_equal(np.load(again)["poses_3d"], np.load(npz_path)["poses_3d"])
        # Each request wrote to a folder of its own; the failed ones left nothing behind.
        assert len(list(demo.backend._video_dir.iterdir())) == 2


def test_video_tab_messages_without_serving(app, models, clip, monkeypatch):
    """Missing 2D models (offline) and a missing upload name what to do; env vars pick the models."""
    demo = _build(app, {**models, "det": "nobody/no-such-detector"})
    message = r"person detector could not be loaded from nobody/no-such-detector.*GCNREFINE_DETECTOR"
    with pytest.raises(gr.Error, match=message):
        demo.backend.run_video(str(clip), 0.0)
    demo = _build(app, {**models, "pose": str(Path(models["pose"]).with_name("missing"))})
    message = r"pose model could not be loaded from .*missing.*GCNREFINE_POSE_MODEL"
    with pytest.raises(gr.Error, match=message):
        demo.backend.run_video(str(clip), 0.0)
    with pytest.raises(gr.Error, match="Upload a video clip"):
        demo.backend.run_video(None, 0.3)
    with pytest.raises(gr.Error, match="Detector threshold: expected a number from 0 to 1"):
        demo.backend.run_video(str(clip), 1.5)
    with pytest.raises(ValueError, match="max_video_frames: expected a positive integer"):
        app.build_demo(max_video_frames=0)

    from modeling_gcnrefine.video.models2d import DEFAULT_DETECTOR, DEFAULT_POSE_MODEL

    monkeypatch.delenv(app.DETECTOR_ENV, raising=False)
    monkeypatch.delenv(app.POSE_MODEL_ENV, raising=False)
    backend = app.build_demo().backend
    assert (backend.detector, backend.pose_model) == (DEFAULT_DETECTOR, DEFAULT_POSE_MODEL)
    assert backend.max_video_frames == app.MAX_VIDEO_FRAMES == 300
    monkeypatch.setenv(app.DETECTOR_ENV, "some/detector")
    monkeypatch.setenv(app.POSE_MODEL_ENV, "some/pose")
    backend = app.build_demo().backend
    assert (backend.detector, backend.pose_model) == ("some/detector", "some/pose")
    assert app.build_demo(detector="a/b").backend.detector == "a/b"  # arguments win


def test_space_card_documents_the_video_limit(app):
    card = (Path(app.__file__).parent / "README.md").read_text()
    assert f"{app.MAX_VIDEO_FRAMES} frames" in card
    assert "PekingU/rtdetr_r50vd_coco_o365" in card and "usyd-community/vitpose-base-simple" in card

"""The Gradio Space (spaces_demo/app.py), its plotly figures and `gcnrefine demo`.

The app is served on 127.0.0.1 and driven through gradio_client like a visitor's browser would; tiny
random models stand in for the shipped checkpoints, except in the one test that needs trained ones.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_REFINER
from huggingface_hub import constants as hub_constants

from modeling_gcnrefine import GCNRefineModel
from modeling_gcnrefine.commands.demo import add_cli, load_app
from modeling_gcnrefine.evaluation.visualize import (
    frame_indices,
    per_frame_error_figure,
    skeleton_animation,
    skeleton_tour,
)
from modeling_gcnrefine.lifting import TemporalLifterModel
from modeling_gcnrefine.recipes.model_card import DATASET_ID, REPO_ID
from modeling_gcnrefine.utils.hub import resolve_model

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_REFINER = REPO_ROOT / "modeling_gcnrefine" / "checkpoints" / "gcnrefine-blendmimic3d"
SHIPPED_LIFTER = REPO_ROOT / "modeling_gcnrefine" / "checkpoints" / "lifter-blendmimic3d"
SS3 = ("SS3", "TakesItem_multi", 0)
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app():
    return load_app()


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny random refiner and lifter saved like real checkpoints: (refiner dir, lifter dir)."""
    import torch

    from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
    from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel

    root = tmp_path_factory.mktemp("tiny-models")
    torch.manual_seed(0)
    config = GCNRefineConfig(**TINY_REFINER)
    GCNRefineModel(config).save_pretrained(root / "refiner")
    TemporalLifterModel(LifterConfig(channels=32)).save_pretrained(root / "lifter")
    return root / "refiner", root / "lifter"


@pytest.fixture(scope="module")
def dataset(blendmimic3d_dir):
    from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d

    return load_blendmimic3d(blendmimic3d_dir)


@pytest.fixture(scope="module")
def ss3_sequence(dataset):
    from modeling_gcnrefine.data.sequences import camera_sequences

    return next(s for s in camera_sequences(dataset["test"]) if s.key == SS3)


@pytest.fixture(scope="module")
def good_poses(ss3_sequence) -> np.ndarray:
    """Real root-relative poses in metres, (T, 1, 17, 3) like VideoPose3D writes them."""
    poses = ss3_sequence.poses_3d - ss3_sequence.poses_3d[:, :1]
    return poses[:, None].astype(np.float32)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(app, demo):
    _, url, _ = demo.launch(
        server_name="127.0.0.1",
        server_port=_free_port(),
        prevent_thread_lock=True,
        quiet=True,
        max_file_size=app.MAX_FILE_SIZE,
    )
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def served(app, tiny_models, blendmimic3d_dir, example_predictions_path):
    demo = app.build_demo(
        refiner_path=tiny_models[0],
        lifter_path=tiny_models[1],
        data_source=blendmimic3d_dir,
        example_path=example_predictions_path,
    )
    with _serve(app, demo) as url:
        yield demo, url, gradio_client.Client(url, verbose=False)


def _figure(plot: dict) -> dict:
    assert plot["type"] == "plotly"
    return json.loads(plot["plot"])


# --------------------------------------------------------------------------- figures


def test_skeleton_tour_draws_every_bone_once_each_way():
    tour = skeleton_tour(PARENTS)
    assert tour[0] == tour[-1] == 0
    steps = list(itertools.pairwise(tour))
    bones = {(c, p) for c, p in enumerate(PARENTS) if p >= 0}
    assert len(steps) == 2 * len(bones)
    assert {(a, b) if (a, b) in bones else (b, a) for a, b in steps} == bones
    with pytest.raises(ValueError, match="exactly one root"):
        skeleton_tour((-1, -1, 0))


def test_skeleton_animation_frames_axes_and_occlusion():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.3, (50, 17, 3))
    occluded = rng.random((50, 17)) < 0.3
    figure = skeleton_animation({"a": poses, "b": poses + 0.05}, occluded, occluded_on="b", max_frames=20)
    shown = frame_indices(50, max_frames=20)
    assert list(shown) == list(range(0, 50, 3))  # smallest stride keeping at most 20 frames
    assert [f.name for f in figure.frames] == [str(t) for t in shown]
    assert len(figure.layout.sliders[0].steps) == len(shown)
    assert [b.label for b in figure.layout.updatemenus[0].buttons] == ["▶ Play", "❚❚ Pause"]
    assert [t.name for t in figure.data] == ["a", "b", "occluded joints (b)"]
    # Upright, in mm: plot (x, y, z) = (x, depth, -y) of the camera frame, along the skeleton tour.
    t = 3
    frame = figure.frames[1].data
    expected = poses[t, skeleton_tour()] * 1000
    np.testing.assert_allclose(frame[0].x, expected[:, 0], rtol=1e-5)
    np.testing.assert_allclose(frame[0].y, expected[:, 2], rtol=1e-5)
    np.testing.assert_allclose(frame[0].z, -expected[:, 1], rtol=1e-5)
    np.testing.assert_allclose(frame[2].z, -(poses[t] + 0.05)[occluded[t], 1] * 1000, rtol=1e-5)
    assert figure.layout.scene.camera.up.z == 1


def test_skeleton_animation_rejects_bad_input():
    poses = np.zeros((10, 17, 3))
    with pytest.raises(ValueError, match=r"expected 10 frames"):
        skeleton_animation({"a": poses, "b": poses[:5]})
    with pytest.raises(ValueError, match=r"expected shape \(T, 17, 3\)"):
        skeleton_animation({"a": np.zeros((10, 16, 3))})
    with pytest.raises(ValueError, match="occluded: expected a bool array of shape"):
        skeleton_animation({"a": poses}, np.zeros((10, 17)))
    with pytest.raises(ValueError, match="occluded_on"):
        skeleton_animation({"a": poses}, np.zeros((10, 17), bool), occluded_on="x")


def test_per_frame_error_figure():
    occluded = np.zeros((5, 17), bool)
    occluded[2, :4] = True
    figure = per_frame_error_figure({"backbone": np.arange(5.0), "refined": np.ones(5)}, occluded)
    assert [t.name for t in figure.data] == ["occluded joints", "backbone", "refined"]
    assert list(figure.data[0].y) == [0, 0, 4, 0, 0]
    np.testing.assert_allclose(figure.data[1].y, np.arange(5.0))
    with pytest.raises(ValueError, match="expected 5 frames"):
        per_frame_error_figure({"a": np.ones(5), "b": np.ones(4)})


# --------------------------------------------------------------------------- the app through gradio_client


def test_blendmimic3d_tab_matches_the_pipeline(served, tiny_models, ss3_sequence):
    """The table holds the metrics of detections -> lifter -> refiner, recomputed here independently."""
    from modeling_gcnrefine import GCNRefineModel
    from modeling_gcnrefine.data.sequences import detect
    from modeling_gcnrefine.evaluation.plausibility import bone_length_spread, jitter, left_right_asymmetry
    from modeling_gcnrefine.lifting import TemporalLifterModel
    from modeling_gcnrefine.utils.metrics import acceleration_error, mpjpe

    _, _, client = served
    animation, errors, table, summary, slider, _, _, _ = client.predict(
        *SS3, "occluded", "builtin", api_name="/run_sequence"
    )
    rows = {row[0]: row[1:] for row in table["data"]}
    assert table["headers"] == [
        "", "MPJPE (mm)", "occluded-joint MPJPE (mm)", "MPJVE (mm/frame)", "acceleration error (mm/frame²)",
        "bone-length spread (mm)", "left/right asymmetry (mm)", "jitter (mm/frame²)",
    ]  # fmt: skip
    assert set(rows) == {"Backbone (lifter)", "Refined", "Change (%)", "Ground truth"}

    keypoints, _ = detect(ss3_sequence, "occluded", 0)
    backbone = TemporalLifterModel.from_pretrained(tiny_models[1]).lift(keypoints, ss3_sequence.image_size)
    backbone = backbone - backbone[:, :1]
    refined = GCNRefineModel.from_pretrained(tiny_models[0]).refine(backbone, flip_test=True)
    refined = refined - refined[:, :1]
    truth = ss3_sequence.poses_3d - ss3_sequence.poses_3d[:, :1]
    hidden = ~ss3_sequence.visibility
    assert rows["Backbone (lifter)"][0] == pytest.approx(mpjpe(backbone, truth) * 1000, abs=0.06)
    assert rows["Backbone (lifter)"][1] == pytest.approx(mpjpe(backbone, truth, mask=hidden) * 1000, abs=0.06)
    assert rows["Refined"][0] == pytest.approx(mpjpe(refined, truth) * 1000, abs=0.06)
    assert rows["Refined"][3] == pytest.approx(acceleration_error(refined, truth) * 1000, abs=0.06)
    # The ground-truth-free columns, for the predictions and for the ground truth itself.
    for name, poses in (("Backbone (lifter)", backbone), ("Refined", refined), ("Ground truth", truth)):
        expected = [bone_length_spread(poses), left_right_asymmetry(poses), jitter(poses)]
        assert rows[name][4:] == pytest.approx(expected, abs=0.006), name
    assert rows["Ground truth"][:4] == [None] * 4  # no error of the truth against itself
    assert rows["Ground truth"][4] < 5  # DATA.md: bone lengths constant within a sequence (std < 5 mm)
    assert "SS3 / TakesItem_multi / camera 0" in summary and "41% of joints occluded" in summary
    assert "detections `occluded` (seed 0), lifted by the built-in temporal lifter" in summary
    # The frame slider spans the sequence and starts on its most occluded frame.
    assert slider["maximum"] == len(truth) - 1 and slider["value"] == int(np.argmax(hidden.sum(axis=1)))

    figure = _figure(animation)
    names = [t["name"] for t in figure["data"]]
    assert names == ["Backbone (lifter)", "Refined", "Ground truth", "occluded joints (Backbone (lifter))"]
    assert len(figure["frames"]) == len(truth)  # 199 frames: all shown (limit 200)
    assert figure["layout"]["updatemenus"][0]["buttons"][0]["method"] == "animate"
    curves = _figure(errors)["data"]
    assert [c["name"] for c in curves] == ["occluded joints", "Backbone (lifter)", "Refined"]


def test_blendmimic3d_tab_rejects_unknown_choices(served):
    _, _, client = served
    with pytest.raises(AppError, match=r"Action: SS3 has \['Focus', .*got 'Walking'"):
        client.predict("SS3", "Walking", 0, "occluded", api_name="/run_sequence")


def test_upload_returns_refined_array_of_the_input_shape(served, tiny_models, good_poses, tmp_path):
    from modeling_gcnrefine import GCNRefineModel

    _, _, client = served
    path = tmp_path / "mine.npy"
    np.save(path, good_poses)
    animation, refined_path, summary, *_ = client.predict(
        gradio_client.handle_file(str(path)), "", api_name="/refine_upload"
    )
    refined = np.load(refined_path, allow_pickle=False)
    assert Path(refined_path).name == "mine_refined.npy"
    assert refined.shape == good_poses.shape and refined.dtype == np.float32
    expected = GCNRefineModel.from_pretrained(tiny_models[0]).refine(good_poses[:, 0], flip_test=True)
    np.testing.assert_allclose(refined[:, 0], expected, atol=1e-5)
    assert f"{len(good_poses)} frames" in summary
    assert [t["name"] for t in _figure(animation)["data"]] == ["Your input", "Refined"]

    # An .npz with two arrays: the key picks one; (T, 17, 3) comes back as (T, 17, 3).
    npz = tmp_path / "two.npz"
    np.savez(npz, other=np.zeros(3), poses=good_poses[:40, 0])
    _, refined_path, *_ = client.predict(gradio_client.handle_file(str(npz)), "poses", api_name="/refine_upload")
    with np.load(refined_path, allow_pickle=False) as data:
        assert data["poses_3d"].shape == (40, 17, 3)


def _bad_uploads(tmp_path: Path, good: np.ndarray, max_frames: int) -> list[tuple[str, Path, str]]:
    cases = []

    def save(name: str, array: np.ndarray, **kwargs) -> Path:
        path = tmp_path / name
        np.save(path, array, **kwargs)
        return path

    cases.append(("wrong shape", save("shape.npy", good[:, 0, :16]), r"expected shape \(T, 17, 3\) or \(T, 1, 17, 3\), got \(199, 16, 3\)"))
    floating = r"expected a floating-point array \(metres\), got dtype"
    cases.append(("integer dtype", save("int.npy", np.rint(good * 1000).astype(np.int32)), f"{floating} int32"))
    cases.append(("string dtype", save("text_dtype.npy", good.astype(str)), rf"{floating} <U\d+"))
    cases.append(("bool dtype", save("bool.npy", np.ones((20, 17, 3), bool)), f"{floating} bool"))
    cases.append(("complex dtype", save("complex.npy", good.astype(np.complex64)), f"{floating} complex64"))
    cases.append(("millimetres", save("mm.npy", good * 1000), "millimetres"))
    cases.append(("NaN only", save("nan.npy", np.full((20, 17, 3), np.nan, np.float32)), "only NaN"))
    long = save("long.npy", np.zeros((max_frames + 1, 17, 3), np.float32))
    limit = f"expected at most {max_frames} frames, got {max_frames + 1}. The Space refines at most {max_frames:,} frames"
    cases.append(("too many frames", long, limit))
    pickled = save("pickled.npy", np.array([{"poses": 1}], dtype=object), allow_pickle=True)
    cases.append(("pickled object array", pickled, "pickled Python objects, which are never loaded"))
    npz = tmp_path / "pickled.npz"
    np.savez(npz, poses=np.array([{"poses": 1}], dtype=object))
    cases.append(("pickled array in an .npz", npz, "array 'poses' holds pickled Python objects"))
    text = tmp_path / "text.npy"
    text.write_text("frame,joint,x,y,z\n0,0,0.1,0.2,3.0\n")
    cases.append(("not NumPy", text, "not a NumPy"))
    other = tmp_path / "poses.csv"
    other.write_text("0.1,0.2,3.0\n")
    cases.append(("wrong file type", other, "Invalid file type"))
    cases.append(("no frames", save("empty.npy", np.zeros((0, 17, 3), np.float32)), r"at least one frame, got \(0, 17, 3\)"))
    (tmp_path / "zero_bytes.npy").write_bytes(b"")
    cases.append(("empty file", tmp_path / "zero_bytes.npy", "zero_bytes.npy: not a NumPy"))
    np.savez(tmp_path / "no_arrays.npz")
    cases.append(("empty .npz", tmp_path / "no_arrays.npz", r"holds arrays \[\]"))
    return cases


def test_bad_uploads_get_specific_messages_and_the_app_keeps_serving(served, app, good_poses, tmp_path, monkeypatch):
    import pickle

    _, _, client = served
    good = tmp_path / "good.npy"
    np.save(good, good_poses[:30])
    unpickled = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: unpickled.append(a) or None)  # must never be called
    for what, path, message in _bad_uploads(tmp_path, good_poses, app.MAX_UPLOAD_FRAMES):
        with pytest.raises(AppError, match=message):
            client.predict(gradio_client.handle_file(str(path)), "", api_name="/refine_upload")
        _, refined_path, *_ = client.predict(gradio_client.handle_file(str(good)), "", api_name="/refine_upload")
        assert np.load(refined_path).shape == (30, 1, 17, 3), f"after the {what} upload"
    assert not unpickled
    with pytest.raises(AppError, match=r"Upload a \.npy or \.npz file"):
        client.predict(None, "", api_name="/refine_upload")


# --------------------------------------------------------------------------- limits: frames, time, concurrency


def test_upload_limits_follow_from_the_measured_rate(app, served):
    """The frames cap is what fits in the budget at the measured rate (bench_space.py) when a clip
    shares the CPU; the page says the cap, the budget and the rate."""
    rate, budget, cap = app.UPLOAD_S_PER_1000_FRAMES, app.UPLOAD_TIME_BUDGET_S, app.MAX_UPLOAD_FRAMES
    assert cap == app.upload_frames_cap(budget, rate) and cap % 500 == 0
    half_speed = 2 * rate / 1000  # seconds per frame beside a clip: two workers share two cores
    assert app.REFINE_CONCURRENCY + app.VIDEO_CONCURRENCY == 2
    assert cap * half_speed <= budget < (cap + 500) * half_speed  # fits, and is not far below
    assert cap < 10_000  # the old limit: one such file held the worker for 41.6 s (bench_space.py)
    demo, _, _ = served
    texts = [block.value or "" for block in demo.blocks.values() if isinstance(block, gr.Markdown)]
    (upload_tab,) = [t for t in texts if "Upload your lifter's 3D poses" in t]
    assert f"**{cap:,} frames**" in upload_tab
    assert f"one at a time, each within **{budget:g} s**" in upload_tab and f"{rate:g} s per 1,000 frames" in upload_tab


def test_a_10000_frame_upload_is_refused_before_any_work(served, app, tmp_path, good_poses):
    _, _, client = served
    path = tmp_path / "long.npy"
    np.save(path, np.resize(good_poses, (10_000, 1, 17, 3)))
    start = time.monotonic()
    cap = app.MAX_UPLOAD_FRAMES
    message = rf"long\.npy: expected at most {cap} frames, got 10000\. The Space refines at most {cap:,} frames per request"
    with pytest.raises(AppError, match=message + rf".*budget of {app.UPLOAD_TIME_BUDGET_S:g} s.*gcnrefine refine"):
        client.predict(gradio_client.handle_file(str(path)), "", api_name="/refine_upload")
    assert time.monotonic() - start < 10  # refused from the header, not refined for 40 s


def _slow_refiner(backend, seconds_per_batch: float) -> None:
    # Registered after the app's deadline hook, so every forward pass is checked first, then slowed.
    backend.refiner.get().register_forward_pre_hook(lambda module, args: time.sleep(seconds_per_batch))


def test_upload_past_the_time_budget_is_stopped_and_the_app_keeps_serving(app, tiny_models, tmp_path, good_poses):
    passes = 20  # 4 s of work at 0.2 s a pass: stopped after 3 passes
    frames = passes * app.REFINE_BATCH_SIZE
    demo = app.build_demo(refiner_path=tiny_models[0], lifter_path=tiny_models[1], max_frames=frames, time_budget_s=0.5)
    backend = demo.backend
    _slow_refiner(backend, 0.2)
    long, short = tmp_path / "long.npy", tmp_path / "short.npy"
    np.save(long, np.resize(good_poses, (frames, 1, 17, 3)))
    np.save(short, good_poses[:30])  # one pass
    with _serve(app, demo) as url:
        client = gradio_client.Client(url, verbose=False)
        start = time.monotonic()
        message = rf"long\.npy: stopped after \d+ s, the Space's time budget per request \(0\.5 s\), before its {frames:,}"
        with pytest.raises(AppError, match=message):
            client.predict(gradio_client.handle_file(str(long)), "", api_name="/refine_upload")
        assert time.monotonic() - start < 3  # not the 4 s the whole file needs
        _, refined_path, summary, *_ = client.predict(gradio_client.handle_file(str(short)), "", api_name="/refine_upload")
        assert np.load(refined_path).shape == (30, 1, 17, 3) and "refined with flip test in" in summary
    # The deadline belongs to the upload request's thread: other users of the refiner (here this
    # thread, in the app the BlendMimic3D and Video tabs) are never stopped.
    refined = backend.refiner.get().refine(np.resize(good_poses, (1024, 17, 3)), flip_test=True, batch_size=256)
    assert refined.shape == (1024, 17, 3)  # 0.8 s of passes, past the 0.5 s budget, and not stopped
    with pytest.raises(ValueError, match="time_budget_s: expected a positive number of seconds"):
        app.build_demo(time_budget_s=0)


def test_refines_share_one_worker_and_the_queue_is_bounded(app, tiny_models, blendmimic3d_dir, tmp_path, good_poses):
    demo = app.build_demo(refiner_path=tiny_models[0], lifter_path=tiny_models[1], data_source=blendmimic3d_dir)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.fn is not None}
    for name in ("run_sequence", "refine_upload", "refine_example"):
        assert (by_name[name].concurrency_limit, by_name[name].concurrency_id) == (app.REFINE_CONCURRENCY, "refine")
    (page_load,) = [fn for fn in demo.fns.values() if fn.fn is not None and fn.trigger_after is None
                    and fn.targets and fn.targets[0][1] == "load"]
    assert page_load.concurrency_id == "refine"
    assert (by_name["process_video"].concurrency_limit, by_name["process_video"].concurrency_id) == (1, "video")
    assert app.REFINE_CONCURRENCY == app.VIDEO_CONCURRENCY == 1
    assert demo._queue.max_size == app.QUEUE_MAX_SIZE == 10

    # Three uploads sent at once run one after the other.
    backend, intervals, lock = demo.backend, [], threading.Lock()
    refine_file = backend._refine_file

    def timed(*args):
        start = time.monotonic()
        try:
            return refine_file(*args)
        finally:
            with lock:
                intervals.append((start, time.monotonic()))

    backend._refine_file = timed
    _slow_refiner(backend, 0.3)
    path = tmp_path / "poses.npy"
    np.save(path, good_poses[:30])
    with _serve(app, demo) as url:
        client = gradio_client.Client(url, verbose=False)
        jobs = [client.submit(gradio_client.handle_file(str(path)), "", api_name="/refine_upload") for _ in range(3)]
        for job in jobs:
            assert Path(job.result(timeout=60)[1]).name == "poses_refined.npy"
    intervals.sort()
    assert len(intervals) == 3
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(intervals)), intervals


# --------------------------------------------------------------------------- temporary folders


def test_backend_folders_are_removed_with_the_backend(app):
    backend = app.SpaceBackend()
    folders = [backend._output_dir, backend._video_dir]
    assert all(f.is_dir() for f in folders)
    (folders[0] / "leftover").mkdir()
    (folders[0] / "leftover" / "poses_refined.npy").write_bytes(b"x")
    del backend
    gc.collect()
    assert not any(f.exists() for f in folders)

    demo = app.build_demo()
    folders = [demo.backend._output_dir, demo.backend._video_dir]
    demo.backend.close()
    assert not any(f.exists() for f in folders)
    demo.backend.close()  # twice is fine


def test_backend_folders_are_removed_when_the_process_exits(tmp_path):
    """What the review saw: each Space process (and each test run) left two folders in /tmp."""
    script = (
        "import json, sys\n"
        "from modeling_gcnrefine.commands.demo import load_app\n"
        "app = load_app()\n"
        "backends = [app.demo.backend, app.build_demo().backend]\n"
        "(backends[0]._output_dir / 'result.npy').write_bytes(b'x')\n"
        "print(json.dumps([str(f) for b in backends for f in (b._output_dir, b._video_dir)]))\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the child's folders land here, apart from others'
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    folders = [Path(f) for f in json.loads(done.stdout.strip().splitlines()[-1])]
    assert len(folders) == 4 and all(f.parent == tmp_path for f in folders)
    assert not any(f.exists() for f in folders)
    assert not list(tmp_path.glob("gcnrefine-space-*"))


def test_space_process_stopped_with_sigterm_removes_its_folders(app, tmp_path):
    """A Space is stopped with SIGTERM, which skips atexit unless app.py turns it into a normal exit."""
    port = _free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    child = subprocess.Popen([sys.executable, app.__file__], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:  # serving: the module-level demo, and its backend's folders, exist
            assert child.poll() is None, child.stderr.read().decode()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the app did not start serving"
            time.sleep(0.5)
        folders = list(tmp_path.glob("gcnrefine-space-*"))
        assert len(folders) == 2, folders
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 128 + signal.SIGTERM
    assert not any(f.exists() for f in folders)


# --------------------------------------------------------------------------- Hub ids


def _fake_hub_model(repo_id: str, folder: Path) -> Path:
    """Put a saved model into the (offline, per-session) Hub cache as if downloaded from ``repo_id``."""
    sha = "0" * 39 + "1"
    repo = Path(hub_constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(sha)
    shutil.copytree(folder, repo / "snapshots" / sha, dirs_exist_ok=True)
    return repo


def test_hub_ids_in_the_environment_are_loaded_from_the_hub(app, tiny_models, tmp_path, good_poses, monkeypatch):
    """GCNREFINE_CHECKPOINT / GCNREFINE_LIFTER_CHECKPOINT = "owner/name" load that Hub repo (here from a
    fake offline cache holding the tiny models), as spaces_demo/README.md says."""
    refiner_id, lifter_id = "gcnrefine-test/space-refiner", "gcnrefine-test/space-lifter"
    repos = [_fake_hub_model(refiner_id, tiny_models[0]), _fake_hub_model(lifter_id, tiny_models[1])]
    try:
        monkeypatch.setenv(app.REFINER_ENV, refiner_id)
        monkeypatch.setenv(app.LIFTER_ENV, lifter_id)
        demo = app.build_demo()
        backend = demo.backend
        assert resolve_model(backend.refiner_path, "refiner") == refiner_id  # passed through, not a path
        path = tmp_path / "mine.npy"
        np.save(path, good_poses[:40])
        with _serve(app, demo) as url:
            client = gradio_client.Client(url, verbose=False)
            _, refined_path, *_ = client.predict(gradio_client.handle_file(str(path)), "", api_name="/refine_upload")
        expected = GCNRefineModel.from_pretrained(tiny_models[0]).refine(good_poses[:40, 0], flip_test=True)
        np.testing.assert_allclose(np.load(refined_path)[:, 0], expected, atol=1e-5)
        lifter = backend.lifter.get()
        assert isinstance(lifter, TemporalLifterModel) and lifter.config.channels == 32  # the tiny one

        # A Hub id that is neither cached nor reachable (offline) gets the app's message, not a crash.
        monkeypatch.setenv(app.REFINER_ENV, "gcnrefine-test/not-cached")
        with pytest.raises(gr.Error, match=r"refiner could not be loaded from gcnrefine-test/not-cached.*GCNREFINE_CHECKPOINT"):
            app.build_demo().backend.refiner.get()
    finally:
        for repo in repos:
            shutil.rmtree(repo, ignore_errors=True)


def test_example_button_refines_the_in_the_wild_example(served):
    _, _, client = served
    _, refined_path, summary, *_ = client.predict(api_name="/refine_example")
    refined = np.load(refined_path, allow_pickle=False)
    assert refined.shape == (396, 1, 17, 3) and np.isfinite(refined).all()
    assert "in_the_wild_videopose3d_predictions.npy" in summary


def test_missing_models_or_data_give_clear_messages(app, tmp_path, tiny_models, good_poses):
    """Building never needs the checkpoints or data; using them names what is missing and how to fix it."""
    path = tmp_path / "good.npy"
    np.save(path, good_poses[:10])
    demo = app.build_demo(refiner_path=tmp_path / "no-refiner", lifter_path=tmp_path / "no-lifter", data_source=tmp_path / "no-data")
    with pytest.raises(gr.Error, match=r"refiner could not be loaded from .*no-refiner.*GCNREFINE_CHECKPOINT"):
        demo.backend.refine_upload(str(path))
    with pytest.raises(gr.Error, match=r"BlendMimic3D could not be loaded from .*no-data.*GCNREFINE_BLENDMIMIC3D_DIR"):
        demo.backend.run_sequence(*SS3, "occluded")
    demo = app.build_demo(refiner_path=tiny_models[0], lifter_path=tmp_path / "no-lifter", example_path=tmp_path / "none.npy")
    assert demo.backend.example_path is None
    with pytest.raises(gr.Error, match=r"lifter checkpoint could not be loaded from .*no-lifter.*GCNREFINE_LIFTER_CHECKPOINT"):
        demo.backend.lifter.get()


def test_paths_default_to_environment_variables(app, monkeypatch, tmp_path):
    monkeypatch.setenv(app.REFINER_ENV, "some/refiner")
    monkeypatch.setenv(app.LIFTER_ENV, str(tmp_path / "lifter"))
    monkeypatch.setenv(app.DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(app.EXAMPLE_ENV, str(tmp_path / "missing.npy"))
    backend = app.build_demo().backend
    assert (backend.refiner_path, backend.lifter_path, backend.data_source) == (
        "some/refiner", str(tmp_path / "lifter"), str(tmp_path / "data")
    )
    assert backend.example_path is None  # the example button is hidden
    backend = app.build_demo(refiner_path="a/b", data_source="c/d").backend  # arguments win
    assert (backend.refiner_path, backend.data_source) == ("a/b", "c/d")


def test_shipped_checkpoints_run_an_ss3_sequence(app, blendmimic3d_dir, monkeypatch):
    """The Space's defaults (no paths given) load the shipped refiner and lifter, and on the default SS3
    sequence (a multi-person scene, chosen for its occlusions before any refiner existed) the refined
    MPJPE is below the backbone's."""
    monkeypatch.delenv(app.REFINER_ENV, raising=False)
    monkeypatch.delenv(app.LIFTER_ENV, raising=False)
    demo = app.build_demo(data_source=blendmimic3d_dir)
    assert demo.backend.refiner_path is None and resolve_model(demo.backend.lifter_path, "lifter") == SHIPPED_LIFTER
    with _serve(app, demo) as url:
        _, _, table, *_ = gradio_client.Client(url, verbose=False).predict(*SS3, "occluded", "builtin", api_name="/run_sequence")
    rows = {row[0]: row[1:] for row in table["data"]}
    refined, backbone = rows["Refined"][0], rows["Backbone (lifter)"][0]
    assert 20 < backbone < 400 and 20 < refined < 400, rows  # mm: a real lifter, a sane refinement
    assert refined < backbone, rows


def test_space_card_and_requirements(app):
    from huggingface_hub import SpaceCard

    folder = REPO_ROOT / "spaces_demo"
    card = SpaceCard.load(folder / "README.md")
    data = card.data
    assert (data.sdk, data.app_file, data.python_version, data.license) == ("gradio", "app.py", "3.11", "mit")
    assert (folder / data.app_file).is_file()
    assert data.sdk_version.split(".")[0] == gr.__version__.split(".")[0] == "6"
    assert len(data.short_description) <= 60
    # The Hub repositories behind the app: the refiner, the refiner for SemGCN (its shipped name under
    # the refiner's owner), the Video tab's two models, the dataset.
    semgcn_refiner = f"{REPO_ID.split('/')[0]}/{app.SEMGCN_REFINER_NAME}"
    assert data.models == [REPO_ID, semgcn_refiner, app.DEFAULT_DETECTOR, app.DEFAULT_POSE_MODEL]
    assert data.datasets == [DATASET_ID]
    # How the videos get there, and the variables that point at the new sources.
    videos = card.text.split("**Where the videos come from.**", 1)[1].split("\n\n", 1)[0]
    assert "fetched on first use" in videos and "SHA-256" in videos and "HF_HUB_OFFLINE" in videos
    for variable in (app.DATA_ENV, app.SEMGCN_ENV, app.SEMGCN_REFINER_ENV, "GCNREFINE_REAL_DETECTIONS"):
        assert f"| `{variable}` |" in card.text, variable
    # The documented upload limits are the enforced ones.
    assert f"{app.MAX_UPLOAD_FRAMES:,} frames" in card.text and f"{app.MAX_FILE_SIZE[:-2]} MB" in card.text
    limits = card.text.split("## Limits", 1)[1].split("\n## ", 1)[0]
    assert f"| Time budget per upload | **{app.UPLOAD_TIME_BUDGET_S:g} s** |" in limits
    assert f"| Frames per upload | **{app.MAX_UPLOAD_FRAMES:,}** |" in limits
    assert f"{app.UPLOAD_S_PER_1000_FRAMES:g} s per 1,000 frames" in limits
    assert f"| Concurrent refines | **{app.REFINE_CONCURRENCY}** |" in limits
    assert f"| Concurrent clips | **{app.VIDEO_CONCURRENCY}** |" in limits
    assert f"| Queue | **{app.QUEUE_MAX_SIZE}** waiting requests |" in limits
    assert "benchmarks/speed/bench_space.py" in limits
    requirements = (folder / "requirements.txt").read_text().lower()
    assert "gcnrefine[demo,data,video]" in requirements
    assert not any(line.strip().startswith("gradio") for line in requirements.splitlines())  # sdk_version rules


# --------------------------------------------------------------------------- browser and CLI


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-headless-shell")


def test_browser_shows_the_3d_plot(served, tmp_path):
    """Headless Chromium opens the page; the default SS3 run must render a 3D plot and the metrics."""
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (installed by .ci/run) but was not found")
        pytest.skip("no chromium binary (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    _, url, _ = served
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})
            page.goto(url, wait_until="domcontentloaded")
            # The page runs the default sequence on load; a scatter3d scene draws into a WebGL canvas.
            page.get_by_role("button", name="Run detections → lifter → refiner").click()
            plot = "#sequence-animation .js-plotly-plot"
            page.wait_for_selector(f"{plot} .gl-container canvas", timeout=60_000)
            page.wait_for_selector("text=Refined", timeout=30_000)
            # gr.Plot drops plotly frames; the app's client-side step must have added all 199 back.
            frames = f"() => document.querySelector('{plot}')._transitionData._frames.length"
            page.wait_for_function(f"({frames})() === 199", timeout=30_000)
            page.wait_for_timeout(1500)  # let WebGL finish drawing before the screenshot
            page.screenshot(path=tmp_path / "blendmimic3d_tab.png", full_page=True)
            assert "The refiner takes MPJPE from" in page.inner_text("body")
            # Play moves the slider through the frames.
            active = f"() => document.querySelector('{plot}')._fullLayout.sliders[0].active"
            assert page.evaluate(active) == 0
            page.locator(f"{plot} .updatemenu-button").first.click()
            page.wait_for_function(f"({active})() > 2", timeout=20_000)
            page.locator(f"{plot} .updatemenu-button").nth(1).click()

            page.get_by_role("tab", name="Your predictions").click()
            page.get_by_role("button", name="Try the in-the-wild example").click()
            page.wait_for_selector("text=Mean change", timeout=60_000)
            page.wait_for_selector("#upload-animation .js-plotly-plot .gl-container canvas", timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=tmp_path / "predictions_tab.png", full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "blendmimic3d_tab.png").stat().st_size > 10_000


def test_cli_demo_launches_with_local_defaults(monkeypatch, tiny_models, blendmimic3d_dir):
    parser = argparse.ArgumentParser(prog="gcnrefine")
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["demo"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, False)

    launched = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.update(kwargs, demo=self))
    handlers = {}
    monkeypatch.setattr(signal, "signal", lambda signum, handler: handlers.update({signum: handler}))
    args = parser.parse_args(
        ["demo", "--port", "7999", "--model", str(tiny_models[0]), "--lifter", str(tiny_models[1]), "--data", str(blendmimic3d_dir)]
    )
    assert args.func(args) == 0
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7999 and launched["share"] is False
    assert launched["max_file_size"] == "10mb"
    # SIGTERM (how a Space or a service manager stops it) exits normally, so the folders are removed.
    with pytest.raises(SystemExit):
        handlers[signal.SIGTERM](signal.SIGTERM, None)
    backend = launched["demo"].backend
    assert (Path(backend.refiner_path), Path(backend.lifter_path)) == tiny_models
    with pytest.raises(ValueError, match="port: expected an integer in"):
        args.func(parser.parse_args(["demo", "--port", "70000"]))

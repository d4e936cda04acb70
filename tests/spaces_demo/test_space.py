"""The Gradio Space (spaces_demo/app.py), its plotly figures and `gcnrefine demo`.

The app is served on 127.0.0.1 and driven through gradio_client like a visitor's browser would; tiny
random models stand in for the shipped checkpoints, except in the one test that needs trained ones.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_REFINER

from modeling_gcnrefine.commands.demo import add_cli, load_app
from modeling_gcnrefine.evaluation.visualize import (
    frame_indices,
    per_frame_error_figure,
    skeleton_animation,
    skeleton_tour,
)
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
    import json

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
    from modeling_gcnrefine.lifting import TemporalLifterModel
    from modeling_gcnrefine.utils.metrics import mpjpe

    _, _, client = served
    animation, errors, table, summary = client.predict(*SS3, "occluded", api_name="/run_sequence")
    rows = {row[0]: row[1:] for row in table["data"]}
    assert table["headers"] == ["", "MPJPE (mm)", "occluded-joint MPJPE (mm)", "MPJVE (mm/frame)"]
    assert set(rows) == {"Backbone (lifter)", "Refined", "Change (%)"}

    keypoints, _ = detect(ss3_sequence, "occluded", 0)
    backbone = TemporalLifterModel.from_pretrained(tiny_models[1]).lift(keypoints, ss3_sequence.image_size)
    backbone = backbone - backbone[:, :1]
    refined = GCNRefineModel.from_pretrained(tiny_models[0]).refine(backbone, flip_test=True)
    truth = ss3_sequence.poses_3d - ss3_sequence.poses_3d[:, :1]
    hidden = ~ss3_sequence.visibility
    assert rows["Backbone (lifter)"][0] == pytest.approx(mpjpe(backbone, truth) * 1000, abs=0.06)
    assert rows["Backbone (lifter)"][1] == pytest.approx(mpjpe(backbone, truth, mask=hidden) * 1000, abs=0.06)
    assert rows["Refined"][0] == pytest.approx(mpjpe(refined - refined[:, :1], truth) * 1000, abs=0.06)
    assert "SS3 / TakesItem_multi / camera 0" in summary and "41% of joints occluded" in summary

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
    animation, refined_path, summary = client.predict(
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
    _, refined_path, _ = client.predict(gradio_client.handle_file(str(npz)), "poses", api_name="/refine_upload")
    with np.load(refined_path, allow_pickle=False) as data:
        assert data["poses_3d"].shape == (40, 17, 3)


def _bad_uploads(tmp_path: Path, good: np.ndarray, max_frames: int) -> list[tuple[str, Path, str]]:
    cases = []

    def save(name: str, array: np.ndarray, **kwargs) -> Path:
        path = tmp_path / name
        np.save(path, array, **kwargs)
        return path

    cases.append(("wrong shape", save("shape.npy", good[:, 0, :16]), r"expected shape \(T, 17, 3\) or \(T, 1, 17, 3\), got \(199, 16, 3\)"))
    cases.append(("millimetres", save("mm.npy", good * 1000), "millimetres"))
    cases.append(("NaN only", save("nan.npy", np.full((20, 17, 3), np.nan, np.float32)), "only NaN"))
    cases.append(
        ("too many frames", save("long.npy", np.zeros((max_frames + 1, 17, 3), np.float32)), f"at most {max_frames} frames")
    )
    pickled = save("pickled.npy", np.array([{"poses": 1}], dtype=object), allow_pickle=True)
    cases.append(("pickled object array", pickled, "pickled Python objects, which are never loaded"))
    text = tmp_path / "text.npy"
    text.write_text("frame,joint,x,y,z\n0,0,0.1,0.2,3.0\n")
    cases.append(("not NumPy", text, "not a NumPy"))
    other = tmp_path / "poses.csv"
    other.write_text("0.1,0.2,3.0\n")
    cases.append(("wrong file type", other, "Invalid file type"))
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
        _, refined_path, _ = client.predict(gradio_client.handle_file(str(good)), "", api_name="/refine_upload")
        assert np.load(refined_path).shape == (30, 1, 17, 3), f"after the {what} upload"
    assert not unpickled
    with pytest.raises(AppError, match=r"Upload a \.npy or \.npz file"):
        client.predict(None, "", api_name="/refine_upload")


def test_example_button_refines_the_in_the_wild_example(served):
    _, _, client = served
    _, refined_path, summary = client.predict(api_name="/refine_example")
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
        _, _, table, _ = gradio_client.Client(url, verbose=False).predict(*SS3, "occluded", api_name="/run_sequence")
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
    assert data.models and data.datasets and len(data.short_description) <= 60
    # The documented upload limits are the enforced ones.
    assert f"{app.MAX_UPLOAD_FRAMES:,} frames" in card.text and f"{app.MAX_FILE_SIZE[:-2]} MB" in card.text
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
    args = parser.parse_args(
        ["demo", "--port", "7999", "--model", str(tiny_models[0]), "--lifter", str(tiny_models[1]), "--data", str(blendmimic3d_dir)]
    )
    assert args.func(args) == 0
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7999 and launched["share"] is False
    assert launched["max_file_size"] == "10mb"
    backend = launched["demo"].backend
    assert (Path(backend.refiner_path), Path(backend.lifter_path)) == tiny_models
    with pytest.raises(ValueError, match="port: expected an integer in"):
        args.func(parser.parse_args(["demo", "--port", "70000"]))

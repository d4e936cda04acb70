"""The Space on real footage: the BlendMimic3D tab's video frame with the 2D keypoints, the detection
source and lifter choices, and the ground-truth-free figures of the upload tab.

Driven through gradio_client on 127.0.0.1 like a visitor's browser would, with tiny random models (the
numbers are then recomputed here independently), except the browser test, which shows the shipped
checkpoints on the default SS3 sequence and saves a screenshot.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_REFINER

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("av")
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402
from test_space import _chromium, _figure, _serve  # noqa: E402

from modeling_gcnrefine.commands.demo import load_app  # noqa: E402

SS3_MULTI = ("SS3", "TakesItem_multi", 0)  # its video file is TakeItem_multi_0.mp4 (upstream's name)
NO_VIDEO = ("SS1", "Arguing", 0)  # one of the 101 camera sequences upstream has no video of
SCREENSHOT_COPY = Path("/tmp/space_screenshot.png")


@pytest.fixture(scope="module")
def app():
    return load_app()


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    import torch

    from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
    from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel

    root = tmp_path_factory.mktemp("tiny-models")
    torch.manual_seed(0)
    GCNRefineModel(GCNRefineConfig(**TINY_REFINER)).save_pretrained(root / "refiner")
    TemporalLifterModel(LifterConfig(channels=32)).save_pretrained(root / "lifter")
    return root / "refiner", root / "lifter"


@pytest.fixture(scope="module")
def sequences(blendmimic3d_dir):
    from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
    from modeling_gcnrefine.data.sequences import camera_sequences

    dataset = load_blendmimic3d(blendmimic3d_dir)
    wanted = {SS3_MULTI, ("SS3", "Focus_multi", 1)}
    return {s.key: s for s in camera_sequences(dataset["test"]) if s.key in wanted}


@pytest.fixture(scope="module")
def served(app, tiny_models, blendmimic3d_dir, example_predictions_path, real_detections_path):
    demo = app.build_demo(
        refiner_path=tiny_models[0],
        lifter_path=tiny_models[1],
        data_source=blendmimic3d_dir,
        example_path=example_predictions_path,
    )
    with _serve(app, demo) as url:
        yield demo, gradio_client.Client(url, verbose=False)


def _expected_frame(sequence, t: int, width: int = 640) -> np.ndarray:
    """Frame t of the sequence's video, decoded independently (every frame in order, no seeking),
    scaled to the app's width, with the ground truth and the real detections drawn as the app says."""
    from modeling_gcnrefine.data.sequences import detect
    from modeling_gcnrefine.data.videos import find_video
    from modeling_gcnrefine.video.decode import iter_frames
    from modeling_gcnrefine.video.frames import draw_keypoints

    path = find_video(*sequence.key)
    frame = next(f for i, f in enumerate(iter_frames(path)) if i == t)
    height = round(frame.shape[0] * width / frame.shape[1] / 2) * 2
    image = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
    scale = width / sequence.image_size[0]
    hidden = ~sequence.visibility[t]
    detections, _ = detect(sequence, "real", 0)
    image = draw_keypoints(image, sequence.keypoints_2d[t], color=(40, 220, 90), occluded=hidden, occluded_color=(235, 0, 0), scale=scale)
    return draw_keypoints(image, detections[t], color=(255, 150, 0), occluded=hidden, scale=scale)


def _array(value) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed-array encoding {"dtype", "bdata", "shape"}."""
    if not isinstance(value, dict):
        return np.asarray(value, dtype=np.float64)
    flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    shape = [int(n) for n in str(value.get("shape", len(flat))).split(",")]
    return flat.reshape(shape).astype(np.float64)


def _person_box(sequence, frames, scale: float, margin: int = 24) -> tuple[slice, slice]:
    points = np.concatenate([sequence.keypoints_2d[t] for t in frames]) * scale
    (x0, y0), (x1, y1) = points.min(axis=0) - margin, points.max(axis=0) + margin
    return slice(max(int(y0), 0), int(y1)), slice(max(int(x0), 0), int(x1))


def _difference(image: np.ndarray, expected: np.ndarray, box) -> float:
    return float(np.abs(image[box].astype(float) - expected[box].astype(float)).mean())


def test_real_footage_frame_follows_the_slider(served, sequences):
    """SS3 TakesItem_multi with real detections: the frame image (>= 320 px wide) is the video's frame
    at the slider, with the 2D keypoints drawn where the annotations put them, plus the metrics."""
    _, client = served
    sequence = sequences[SS3_MULTI]
    _, _, table, summary, slider, image_path, frame_plot, caption = client.predict(
        *SS3_MULTI, "real", "builtin", api_name="/run_sequence"
    )
    rows = {row[0]: row[1:] for row in table["data"]}
    assert all(np.isfinite(rows[name][0]) and rows[name][0] > 0 for name in ("Backbone (lifter)", "Refined"))
    assert all(v is not None for v in rows["Refined"])  # every column, acceleration error and GT-free ones too
    assert "real BlazePose detections (a person found in 162 of 199 frames, the rest interpolated" in summary
    t = int(slider["value"])
    assert slider["maximum"] == 198 and 0 <= t <= 198
    assert f"**Frame {t}** of 199" in caption and "green, the ground-truth 2D keypoints" in caption
    image = np.asarray(Image.open(image_path).convert("RGB"))
    assert image.shape == (360, 640, 3)  # 1280 x 720 shown 640 wide

    # The frame shown is the video's frame t (JPEG-compressed), not a neighbour: around the person,
    # where frames differ, it matches frame t far better than frame u.
    u = (t + 60) % 199
    box = _person_box(sequence, (t, u), scale=0.5)
    expected_t, expected_u = _expected_frame(sequence, t), _expected_frame(sequence, u)
    assert _difference(image, expected_t, box) < 0.5 * _difference(image, expected_u, box)
    assert _difference(image, expected_t, box) < 8

    # Moving the slider: frame u, from the cached run (no new refine), and its 3D poses beside it.
    image_path, frame_plot, caption = client.predict(*SS3_MULTI, "real", "builtin", u, api_name="/show_frame")
    image = np.asarray(Image.open(image_path).convert("RGB"))
    assert _difference(image, expected_u, box) < 0.5 * _difference(image, expected_t, box)
    assert f"**Frame {u}** of 199" in caption
    figure = _figure(frame_plot)
    assert [d["name"] for d in figure["data"]] == [
        "Backbone (lifter)", "Refined", "Ground truth", "occluded joints (Backbone (lifter))"
    ]  # fmt: skip
    assert figure["layout"]["title"]["text"] == f"frame {u}"


def test_a_sequence_without_video_gets_the_message_and_the_app_keeps_serving(served):
    demo, client = served
    *_, slider, image, frame_plot, caption = client.predict(*NO_VIDEO, "occluded", "builtin", api_name="/run_sequence")
    assert image is None
    assert "**No video for SS1 / Arguing / camera 0**: upstream has the videos of only 27 of the 128" in caption
    assert "The 3D view still follows the frame slider" in caption
    assert slider["maximum"] == 1247 and _figure(frame_plot)["data"][0]["name"] == "Backbone (lifter)"
    image, frame_plot, caption = client.predict(*NO_VIDEO, "occluded", "builtin", 700, api_name="/show_frame")
    assert image is None and "**Frame 700** of 1248" in caption and "No video for SS1 / Arguing" in caption

    # Real detections exist only where there is a video: a clear message, then the next request works.
    with pytest.raises(AppError, match=r"Detections 'real': real 2D detections exist only for the filmed sequences \(.*SS3 Focus 0-3.*\); SS1 / Arguing / camera 0 has none"):
        client.predict(*NO_VIDEO, "real", "builtin", api_name="/run_sequence")
    with pytest.raises(AppError, match=r"Frame: expected a whole number from 0 to 165 for SS3 / Focus_multi / camera 1, got 166"):
        client.predict("SS3", "Focus_multi", 1, "realistic", "builtin", 166, api_name="/show_frame")
    with pytest.raises(AppError, match=r"Detections: expected one of \[.*'real', 'realistic'.*\], got 'blazepose'"):
        client.predict("SS3", "Focus_multi", 1, "blazepose", "builtin", api_name="/run_sequence")
    with pytest.raises(AppError, match=r"Lifter: expected one of \['builtin', 'semgcn'\], got 'videopose3d'"):
        client.predict("SS3", "Focus_multi", 1, "real", "videopose3d", api_name="/run_sequence")
    *_, image, _, caption = client.predict("SS3", "Focus_multi", 1, "realistic", "builtin", api_name="/run_sequence")
    assert np.asarray(Image.open(image)).shape[1] >= 320 and "No video" not in caption
    # Slider requests have a worker of their own: scrubbing never waits behind an upload's refine.
    (show_frame,) = [fn for fn in demo.fns.values() if fn.api_name == "show_frame"]
    assert (show_frame.concurrency_id, show_frame.concurrency_limit, show_frame.trigger_mode) == ("frame", 1, "always_last")
    # One reader, for the sequence shown, holding a few frames: never the whole video.
    frames = demo.backend._frames
    assert frames.path.name == "Focus_multi_1.mp4" and len(frames._cache) <= frames.cache_size == 24


def test_semgcn_lifter_choice(app, tiny_models, blendmimic3d_dir, semgcn_checkpoint, real_detections_path, sequences, monkeypatch):
    """SemGCN lifts the real detections; its refiner is the shipped SemGCN one, or the default refiner
    with a note while that is absent; without SemGCN the choice says how to provide it."""
    from modeling_gcnrefine.lifting import load_lifter
    from modeling_gcnrefine.recipes.backbone import lift_sequence
    from modeling_gcnrefine.utils.metrics import mpjpe

    monkeypatch.delenv(app.SEMGCN_ENV, raising=False)
    monkeypatch.delenv(app.SEMGCN_REFINER_ENV, raising=False)
    demo = app.build_demo(refiner_path=tiny_models[0], lifter_path=tiny_models[1], data_source=blendmimic3d_dir, semgcn_path=semgcn_checkpoint)
    backend = demo.backend
    backend.semgcn_refiner_name = "gcnrefine-semgcn-not-shipped"  # the fallback, whatever ships later
    key = ("SS3", "Focus_multi", 1)
    _, _, table, summary, *_ = backend.run_sequence(*key, "real", "semgcn")
    rows = {row[0]: row[1:] for row in table["data"]}
    sequence = sequences[key]
    backbone = lift_sequence(load_lifter(semgcn_checkpoint), sequence, "real", 0)
    truth = sequence.poses_3d - sequence.poses_3d[:, :1]
    assert rows["Backbone (lifter)"][0] == pytest.approx(mpjpe(backbone - backbone[:, :1], truth) * 1000, abs=0.06)
    assert "lifted by SemGCN (Human3.6M)" in summary
    assert "(`gcnrefine-semgcn-not-shipped`) is not available here, so SemGCN's poses were refined by the default refiner" in summary

    # A refiner for SemGCN given explicitly is used, without the note.
    demo = app.build_demo(
        refiner_path=tiny_models[0], lifter_path=tiny_models[1], data_source=blendmimic3d_dir,
        semgcn_path=semgcn_checkpoint, semgcn_refiner_path=tiny_models[0],
    )  # fmt: skip
    _, _, _, summary, *_ = demo.backend.run_sequence(*key, "real", "semgcn")
    assert "lifted by SemGCN" in summary and "not available here" not in summary
    assert demo.backend.semgcn_refiner.get()[0] is not demo.backend.refiner.get()

    # No SemGCN anywhere: the message says how to provide it; the built-in lifter still works.
    backend = app.build_demo(refiner_path=tiny_models[0], lifter_path=tiny_models[1], data_source=blendmimic3d_dir).backend
    backend.semgcn_path = None  # as on a machine without ../shared/lifters and no variable set
    with pytest.raises(gr.Error, match=r"Lifter 'semgcn': SemGCN \(Human3\.6M\) is not available here\. Set GCNREFINE_SEMGCN_CHECKPOINT to the published SemGCN checkpoint file"):
        backend.run_sequence(*key, "occluded", "semgcn")
    assert "lifted by the built-in temporal lifter" in backend.run_sequence(*key, "occluded", "builtin")[3]
    monkeypatch.setenv(app.SEMGCN_ENV, "some/semgcn")
    monkeypatch.setenv(app.SEMGCN_REFINER_ENV, "some/semgcn-refiner")
    backend = app.build_demo().backend
    assert (backend.semgcn_path, backend.semgcn_refiner_path) == ("some/semgcn", "some/semgcn-refiner")
    with pytest.raises(gr.Error, match=r"SemGCN could not be loaded from missing-semgcn\.pth: .*GCNREFINE_SEMGCN_CHECKPOINT"):
        app.build_demo(semgcn_path="missing-semgcn.pth").backend.semgcn.get()


def test_upload_tab_returns_the_ground_truth_free_figures(served, example_predictions_path):
    from modeling_gcnrefine.evaluation.plausibility import bone_length_spread, jitter, left_right_asymmetry

    _, client = served
    _, refined_path, summary, table, moved = client.predict(
        gradio_client.handle_file(str(example_predictions_path)), "", api_name="/refine_upload"
    )
    assert table["headers"] == ["", "bone-length spread (mm)", "left/right asymmetry (mm)", "jitter (mm/frame²)"]
    rows = {row[0]: row[1:] for row in table["data"]}
    before = np.load(example_predictions_path)[:, 0]
    after = np.load(refined_path)[:, 0]
    for name, poses in (("Your input", before), ("Refined", after)):
        expected = [bone_length_spread(poses), left_right_asymmetry(poses), jitter(poses)]
        assert rows[name] == pytest.approx(expected, abs=0.006), name
        assert all(v > 0 for v in rows[name])  # a real lifter's output is neither rigid nor still
    spread = rows["Your input"][0]
    assert rows["Change (%)"][0] == pytest.approx(100 * (rows["Refined"][0] - spread) / spread, abs=0.06)
    # The per-frame map: every joint of every frame, the distance the refiner moved it.
    heatmap = _figure(moved)["data"][0]
    z = _array(heatmap["z"])
    assert z.shape == (17, 396) and heatmap["y"][0] == "pelvis"
    np.testing.assert_allclose(z, np.linalg.norm(after - before, axis=-1).T * 1000, atol=0.051)
    assert "Mean change" in summary


def test_browser_shows_the_video_frame_and_the_3d_plot(app, blendmimic3d_dir, real_detections_path, tmp_path, monkeypatch):
    """Headless Chromium opens the page with the shipped checkpoints, runs the default SS3 example and
    waits for the video frame and the 3D view of that frame; the screenshot is kept for people to look
    at (tmp path, and a copy at /tmp/space_screenshot.png)."""
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (installed by .ci/run) but was not found")
        pytest.skip("no chromium binary (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.delenv(app.REFINER_ENV, raising=False)
    monkeypatch.delenv(app.LIFTER_ENV, raising=False)
    demo = app.build_demo(data_source=blendmimic3d_dir)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with _serve(app, demo) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=args)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(url, wait_until="domcontentloaded")
            # The default SS3 example (the first), then Run: as a visitor would.
            page.locator(".gallery-item", has_text="SS3 TakesItem_multi cam 0: real, built-in lifter").click()
            page.get_by_role("button", name="Run detections → lifter → refiner").click()
            frame_image = "#video-frame img"
            page.wait_for_selector(frame_image, timeout=90_000)
            page.wait_for_function(
                f"() => {{ const i = document.querySelector('{frame_image}'); return i && i.complete && i.naturalWidth >= 320; }}",
                timeout=30_000,
            )
            page.wait_for_selector("#frame-3d .js-plotly-plot .gl-container canvas", timeout=30_000)
            page.wait_for_selector("text=real BlazePose detections", timeout=30_000)
            page.wait_for_timeout(1500)  # let WebGL finish drawing before the screenshot
            shot = tmp_path / "blendmimic3d_real_footage.png"
            page.locator("#video-frame").scroll_into_view_if_needed()
            page.screenshot(path=shot, full_page=True)
            width = page.evaluate(f"() => document.querySelector('{frame_image}').naturalWidth")
            text = page.inner_text("body")
            # The slider (its number box here) brings another frame and its caption.
            source = page.get_attribute(frame_image, "src")
            box = page.locator("#frame-slider input[type=number]")
            box.fill("30")
            box.press("Enter")
            page.wait_for_function(
                "() => document.querySelector('#frame-caption').innerText.includes('Frame 30 of 199')", timeout=30_000
            )
            page.wait_for_function(f"() => document.querySelector('{frame_image}').src !== {source!r}", timeout=30_000)
        finally:
            browser.close()
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert width == 640
    assert "The refiner takes MPJPE from" in text and "of 199: " in text
    assert shot.stat().st_size > 50_000

"""BlendMimic3D through ``datasets``: builder, exporter, dataset card, loading, splits and windows.

Integration tests read ``../shared/blendmimic3d`` in place (fixture ``blendmimic3d_dir``); the full
build runs once per module into a temporary cache. Error handling and the download are tested on
small upstream-layout folders that the tests write themselves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import datasets
import numpy as np
import pytest
import torch

from dataset_scripts import export_blendmimic3d as exporter
from modeling_gcnrefine.commands import data as data_command
from modeling_gcnrefine.commands import main as gcnrefine_main
from modeling_gcnrefine.data import blendmimic3d, builder, upstream
from modeling_gcnrefine.data import windows as pose_windows
from modeling_gcnrefine.skeleton import BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL, mirror_blendmimic3d
from modeling_gcnrefine.utils.geometry import project, world_to_camera

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# --------------------------------------------------------------------------- helpers


def knee_offsets(world: np.ndarray) -> float:
    """Median distance (m) of the knees in front of the hip-ankle line, the body's facing taken as
    (left hip - right hip) x trunk-up (pelvis to thorax), in Human3.6M slot names.

    Written independently of the builder's own check (which uses the world z axis as up).
    """
    up = world[:, 8] - world[:, 0]
    facing = np.cross(world[:, 4] - world[:, 1], up)
    facing /= np.linalg.norm(facing, axis=-1, keepdims=True)
    offsets = [
        ((world[:, knee] - (world[:, hip] + world[:, ankle]) / 2) * facing).sum(-1)
        for hip, knee, ankle in ((1, 2, 3), (4, 5, 6))
    ]
    return float(np.median(np.concatenate(offsets)))


# A standing person in anatomical Human3.6M-17 order, facing +y, z up, knees slightly forward.
TEMPLATE = np.array(
    [
        [0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.1, 0.05, 0.55], [0.1, 0.0, 0.1],
        [-0.1, 0.0, 1.0], [-0.1, 0.05, 0.55], [-0.1, 0.0, 0.1], [0.0, 0.0, 1.25],
        [0.0, 0.0, 1.5], [0.0, 0.02, 1.6], [0.0, 0.02, 1.72], [-0.18, 0.0, 1.48],
        [-0.2, 0.0, 1.2], [-0.2, 0.05, 0.95], [0.18, 0.0, 1.48], [0.2, 0.0, 1.2], [0.2, 0.05, 0.95],
    ]
)  # fmt: skip
SYNTHETIC_ACTIONS = {"S1": ["Walk"], "S2": ["Walk"], "S3": ["Focus", "Focus_multi"]}
SYNTHETIC_FRAMES = 6


def _look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera [R | t] (3, 4) of a camera at ``centre`` looking at ``target`` (y down)."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return np.concatenate([rotation, (-rotation @ centre)[:, None]], axis=1)


def make_raw(root: Path, rng: np.random.Generator | None = None) -> Path:
    """Write a small, consistent upstream-layout folder (3 subjects, 4 cameras, mirrored labels)."""
    rng = rng or np.random.default_rng(0)
    for folder, actions in SYNTHETIC_ACTIONS.items():
        width, height = (1280, 720) if folder == "S3" else (1000, 1002)
        focal = [800.0, 900.0, 800.0, 1000.0]
        intrinsics = np.stack([np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]]) for f in focal])
        extrinsics = np.stack(
            [
                _look_at(np.array([4 * np.cos(a), 4 * np.sin(a), 1.5]), np.array([0.0, 0.0, 1.0]))
                for a in np.deg2rad([0, 90, 180, 270])
            ]
        )
        cameras = root / folder / "Cameras"
        cameras.mkdir(parents=True)
        np.savez(cameras / f"matrices_{folder}.npz", K=intrinsics, RT=extrinsics, P=intrinsics @ extrinsics)
        params = [
            {"id": f"Camera_{(i + 2) % 4}", "center": [width / 2, height / 2], "focal_length": [f, f],
             "radial_distortion": [0, 0, 0], "tangential_distortion": [0, 0], "res_w": width, "res_h": height,
             "azimuth": 0}
            for i, f in enumerate(focal)
        ]  # fmt: skip
        np.savez(
            cameras / f"camera_params_{folder}.npz",
            intrinsic_params=np.array(params, dtype=object),
            extrinsic_params=np.array({folder: []}, dtype=object),
        )
        for action in actions:
            # (T, 17, 3): the template walking along +y with a little noise, stored mirrored.
            steps = np.linspace(0, 0.3, SYNTHETIC_FRAMES)[:, None, None] * np.array([0.0, 1.0, 0.0])
            world = TEMPLATE[None] + steps + rng.normal(0, 0.003, (SYNTHETIC_FRAMES, 17, 3))
            world = mirror_blendmimic3d(world, axis=-2)
            for sub in ("D2_Positions", "D3_Positions", "Occlusions"):
                (root / folder / sub / action).mkdir(parents=True)
            np.savez(root / folder / "D3_Positions" / action / f"{action}.npz", positions_3d=world)
            pixels = {
                f"Cam_{c}": project(
                    world_to_camera(world, extrinsics[c, :, :3], extrinsics[c, :, 3]), intrinsics[c]
                )
                for c in range(4)
            }
            np.savez(root / folder / "D2_Positions" / action / "2D_positions.npz", **pixels)
            occlusions = {
                f"Cam_{c}": rng.integers(0, 2, (SYNTHETIC_FRAMES, 17)).astype(float) for c in range(4)
            }
            np.savez(root / folder / "Occlusions" / action / "occluded_kpt.npz", **occlusions)
    return root


def _rewrite(path: Path, **changes: np.ndarray | None) -> None:
    """Rewrite a plain .npz with some keys replaced (None drops the key)."""
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(path, **arrays)


# --------------------------------------------------------------------------- fixtures (real data)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("blendmimic3d-cache")


@pytest.fixture(scope="module")
def sequences(blendmimic3d_dir, cache_dir):
    return blendmimic3d.load_blendmimic3d(blendmimic3d_dir, "sequences", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def multiview(blendmimic3d_dir, cache_dir):
    return blendmimic3d.load_blendmimic3d(blendmimic3d_dir, "multiview", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def exported(blendmimic3d_dir, cache_dir, sequences, multiview, tmp_path_factory) -> Path:
    # Built configs are in the cache already, so this measures the export itself.
    out = tmp_path_factory.mktemp("export") / "blendmimic3d"
    return exporter.export_blendmimic3d(blendmimic3d_dir, out, cache_dir=cache_dir)


# --------------------------------------------------------------------------- the numbers on the real data


def test_sequences_counts_and_splits(sequences):
    assert {split: len(part) for split, part in sequences.items()} == {"train": 112, "test": 16}
    assert set(sequences["train"]["subject"]) == {"SS1", "SS2"}
    assert set(sequences["test"]["subject"]) == {"SS3"}
    summary = blendmimic3d.dataset_summary(sequences)
    assert summary["train"]["camera_frames"] + summary["test"]["camera_frames"] == 138_984
    per_subject = {}
    for part in sequences.values():
        for subject, frames in zip(part["subject"], part["num_frames"]):
            per_subject[subject] = per_subject.get(subject, 0) + frames
    assert per_subject == {"SS1": 74_820, "SS2": 61_244, "SS3": 2_920}
    actions = {(s, a) for part in sequences.values() for s, a in zip(part["subject"], part["action"])}
    assert len(actions) == 32


def test_visible_fraction(sequences):
    visible = total = 0
    for part in sequences.values():
        for mask in part.with_format("numpy")["visibility"]:
            assert mask.dtype == np.bool_
            visible, total = visible + mask.sum(), total + mask.size
    assert round(visible / total, 3) == 0.807


def test_multiview_counts_and_agrees_with_sequences(multiview, sequences):
    assert {split: len(part) for split, part in multiview.items()} == {"train": 28, "test": 4}
    assert sum(sum(part["num_frames"]) for part in multiview.values()) == 34_746
    summary = blendmimic3d.dataset_summary(multiview)
    assert summary["train"]["camera_frames"] + summary["test"]["camera_frames"] == 138_984
    row = multiview["test"].with_format("numpy")[1]
    seq = sequences["test"].with_format("numpy")
    for camera in range(4):
        match = [
            i
            for i, (a, c) in enumerate(zip(seq["action"], seq["camera"]))
            if a == row["action"] and c == camera
        ]
        single = seq[match[0]]
        np.testing.assert_array_equal(row["keypoints_2d"][:, camera], single["keypoints_2d"])
        np.testing.assert_array_equal(row["visibility"][:, camera], single["visibility"])
        np.testing.assert_array_equal(row["extrinsics"][camera], single["extrinsics"])
        np.testing.assert_array_equal(row["keypoints_3d_world"], single["keypoints_3d_world"])


def test_camera_frame_reprojects_onto_2d(sequences):
    for part in sequences.values():
        for row in part.with_format("numpy"):
            error = np.abs(project(row["keypoints_3d_camera"], row["intrinsics"]) - row["keypoints_2d"]).max()
            assert error < 0.01, (row["subject"], row["action"], row["camera"], error)
            assert (row["keypoints_3d_camera"][..., 2] > 1.0).all()  # depth 2-6 m, in front of the camera
            # The same convention from the stored world coordinates and extrinsics.
            again = world_to_camera(
                row["keypoints_3d_world"], row["extrinsics"][:, :3], row["extrinsics"][:, 3]
            )
            np.testing.assert_allclose(again, row["keypoints_3d_camera"], atol=1e-4)


def test_image_sizes_and_camera_ids_come_from_the_files(sequences):
    for part in sequences.values():
        for subject, width, height, camera_id, intrinsics in zip(
            part["subject"], part["image_width"], part["image_height"], part["camera_id"],
            part.with_format("numpy")["intrinsics"],
        ):  # fmt: skip
            assert (width, height) == ((1280, 720) if subject == "SS3" else (1000, 1002))
            assert camera_id.startswith("Camera_")
            np.testing.assert_allclose(intrinsics[:2, 2], [width / 2, height / 2])
    # SS1's cameras are not in file order (upstream ids 3, 4, 1, 2).
    ss1 = [
        (c, i)
        for s, c, i in zip(*(sequences["train"][k] for k in ("subject", "camera", "camera_id")))
        if s == "SS1"
    ]
    assert dict(ss1) == {0: "Camera_3", 1: "Camera_4", 2: "Camera_1", 3: "Camera_2"}
    assert set(sequences["test"]["scenario"]) == {"retail"}
    multi = dict(zip(sequences["test"]["action"], sequences["test"]["multi_person"]))
    assert multi == {"Focus": False, "Focus_multi": True, "TakesItem": False, "TakesItem_multi": True}


def test_knees_bend_forward_only_in_anatomical_labels(multiview, blendmimic3d_dir, cache_dir):
    anatomical = {
        (row["subject"], row["action"]): knee_offsets(row["keypoints_3d_world"])
        for part in multiview.values()
        for row in part.with_format("numpy", columns=["subject", "action", "keypoints_3d_world"])
    }
    assert len(anatomical) == 32
    assert all(offset > 0.02 for offset in anatomical.values()), anatomical
    upstream = blendmimic3d.load_blendmimic3d(
        blendmimic3d_dir, "multiview", joint_convention="upstream", cache_dir=cache_dir
    )
    mirrored = [
        knee_offsets(row["keypoints_3d_world"])
        for part in upstream.values()
        for row in part.with_format("numpy", columns=["keypoints_3d_world"])
    ]
    assert len(mirrored) == 32
    assert all(offset < 0 for offset in mirrored)  # the check fails on every action with upstream labels
    assert set(upstream["train"]["joint_convention"]) == {"upstream"}
    # The two conventions differ exactly by the slot permutation, in 2D, 3D and visibility alike.
    a, u = multiview["train"].with_format("numpy")[0], upstream["train"].with_format("numpy")[0]
    perm = list(BLENDMIMIC3D_UPSTREAM_TO_ANATOMICAL)
    np.testing.assert_array_equal(a["keypoints_2d"], u["keypoints_2d"][:, :, perm])
    np.testing.assert_array_equal(a["keypoints_3d_camera"], u["keypoints_3d_camera"][:, :, perm])
    np.testing.assert_array_equal(a["visibility"], u["visibility"][:, :, perm])


def test_info_names_joints_and_convention(sequences):
    description = sequences["train"].info.description
    assert "left_hip" in description and "anatomical" in description
    assert str(list(builder.H36M.parents)) in description
    assert "lino20243d" in sequences["train"].info.citation


def test_second_build_reuses_the_cache(blendmimic3d_dir, cache_dir, sequences):
    with mock.patch.object(builder.BlendMimic3D, "_generate_examples", side_effect=AssertionError("rebuilt")):
        again = blendmimic3d.load_blendmimic3d(blendmimic3d_dir, "sequences", cache_dir=cache_dir)
    assert len(again["train"]) == 112


def test_default_source_comes_from_the_environment(blendmimic3d_dir, cache_dir, sequences, monkeypatch):
    monkeypatch.setenv(blendmimic3d.ENV_VAR, str(blendmimic3d_dir))
    with mock.patch.object(builder, "download_upstream", side_effect=AssertionError("downloaded")):
        loaded = blendmimic3d.load_blendmimic3d(cache_dir=cache_dir)
    assert len(loaded["test"]) == 16


def test_build_and_export_show_progress_and_are_fast(blendmimic3d_dir, tmp_path, capfd):
    start = time.perf_counter()
    built = builder.build_blendmimic3d(blendmimic3d_dir, "sequences", cache_dir=tmp_path / "cache")
    build_seconds = time.perf_counter() - start
    assert "Generating train split" in capfd.readouterr().err
    start = time.perf_counter()
    exporter.export_blendmimic3d(
        blendmimic3d_dir, tmp_path / "out", configs=["sequences"], cache_dir=tmp_path / "cache"
    )
    export_seconds = time.perf_counter() - start
    assert "Writing sequences parquet" in capfd.readouterr().err
    assert len(built["train"]) == 112
    assert build_seconds < 120 and export_seconds < 120, (build_seconds, export_seconds)


# --------------------------------------------------------------------------- export and loading


FRESH_PROCESS_CHECK = """
import json, sys
from datasets import load_dataset
out = {}
for config in ("sequences", "multiview"):
    d = load_dataset(sys.argv[1]) if config == "sequences" else load_dataset(sys.argv[1], config)
    rows = {s: len(p) for s, p in d.items()}
    frames = sum(sum(p["num_frames"]) for p in d.values())
    visible = total = 0
    for p in d.values():
        for m in p.with_format("numpy")["visibility"]:
            visible += int(m.sum()); total += int(m.size)
    row = d["test"].with_format("torch")[0]
    shapes = {k: [list(v.shape), str(v.dtype)] for k, v in row.items() if hasattr(v, "shape")}
    out[config] = {"rows": rows, "frames": frames, "visible": visible / total, "shapes": shapes,
                   "convention": sorted(set(d["train"]["joint_convention"]))}
print(json.dumps(out))
"""


def test_exported_folder_loads_in_a_fresh_offline_process(exported, tmp_path):
    assert not (exported / f"{exported.name}.py").exists()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_CHECK, str(exported)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    seq, mv = out["sequences"], out["multiview"]
    assert seq["rows"] == {"train": 112, "test": 16} and mv["rows"] == {"train": 28, "test": 4}
    assert seq["frames"] == 138_984 and mv["frames"] == 34_746
    assert round(seq["visible"], 3) == round(mv["visible"], 3) == 0.807
    assert seq["convention"] == ["anatomical"]
    assert seq["shapes"]["keypoints_2d"] == [[166, 17, 2], "torch.float32"]
    assert seq["shapes"]["keypoints_3d_camera"] == [[166, 17, 3], "torch.float32"]
    assert seq["shapes"]["keypoints_3d_world"] == [[166, 17, 3], "torch.float32"]
    assert seq["shapes"]["visibility"] == [[166, 17], "torch.bool"]
    assert seq["shapes"]["intrinsics"] == [[3, 3], "torch.float32"]
    assert seq["shapes"]["extrinsics"] == [[3, 4], "torch.float32"]
    assert mv["shapes"]["keypoints_2d"] == [[166, 4, 17, 2], "torch.float32"]
    assert mv["shapes"]["keypoints_3d_camera"] == [[166, 4, 17, 3], "torch.float32"]
    assert mv["shapes"]["visibility"] == [[166, 4, 17], "torch.bool"]
    assert mv["shapes"]["extrinsics"] == [[4, 3, 4], "torch.float32"]


def test_dataset_card(exported):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(exported / "README.md")
    configs = {c["config_name"]: c for c in card.data.configs}
    assert set(configs) == {"sequences", "multiview"} and configs["sequences"]["default"] is True
    assert configs["multiview"]["data_files"] == [
        {"split": "train", "path": "multiview/train-*.parquet"},
        {"split": "test", "path": "multiview/test-*.parquet"},
    ]
    assert datasets.get_dataset_config_names(str(exported)) == ["sequences", "multiview"]
    text = card.text
    needles = (
        "lino20243d", upstream.UPSTREAM_COMMIT, "X_cam = R @ X_world + t", "ray casting", "mirroring fix",
        "[0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]", "| `sequences` | `test` | 16 | 2,920 | 2,920 | 0.681 |",
        "states no license", "| 4 | left_hip | 0 |", "1280 x 720",
    )  # fmt: skip
    for needle in needles:
        assert needle in text, needle
    for name in ("sequences", "multiview"):
        assert (exported / name / "train-00000-of-00001.parquet").is_file()


def test_export_never_overwrites_without_force(exported, blendmimic3d_dir, cache_dir, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        exporter.export_blendmimic3d(blendmimic3d_dir, target, configs=["multiview"], cache_dir=cache_dir)
    assert (target / "notes.txt").read_text() == "keep me"
    code = gcnrefine_main(["data", "export", "--source", str(blendmimic3d_dir), "--out", str(target),
                           "--config", "multiview", "--cache-dir", str(cache_dir)])  # fmt: skip
    assert code == 2 and (target / "notes.txt").exists()
    exporter.export_blendmimic3d(
        blendmimic3d_dir, target, configs=["multiview"], cache_dir=cache_dir, overwrite=True
    )
    assert not (target / "notes.txt").exists() and (target / "README.md").is_file()
    assert not (target / "sequences").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no temporary folders left behind


def test_load_blendmimic3d_from_an_exported_folder(exported):
    loaded = blendmimic3d.load_blendmimic3d(exported, "multiview")
    assert len(loaded["train"]) == 28
    with pytest.raises(ValueError, match="joint_convention"):
        blendmimic3d.load_blendmimic3d(exported, "sequences", joint_convention="upstream")


def test_load_blendmimic3d_from_a_hub_repo_id_offline(exported):
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / "datasets--gcnrefine-test--blendmimic3d"
    sha = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    (snapshot / "README.md").symlink_to(exported / "README.md")
    for config in ("sequences", "multiview"):
        (snapshot / config).mkdir()
        for shard in (exported / config).iterdir():
            (snapshot / config / shard.name).symlink_to(shard)
    loaded = blendmimic3d.load_blendmimic3d("gcnrefine-test/blendmimic3d", "multiview")
    assert {s: len(p) for s, p in loaded.items()} == {"train": 28, "test": 4}


def test_bad_sources_are_refused(tmp_path):
    with pytest.raises(ValueError, match="config"):
        blendmimic3d.load_blendmimic3d(tmp_path, "frames")
    with pytest.raises(ValueError, match="source"):
        blendmimic3d.load_blendmimic3d(tmp_path)  # an empty folder is neither raw nor exported
    with pytest.raises(ValueError, match="source"):
        blendmimic3d.load_blendmimic3d("not a repo id or folder")
    with pytest.raises(ValueError, match="joint_convention"):
        blendmimic3d.load_blendmimic3d(tmp_path, joint_convention="mirrored")
    with pytest.raises(ValueError, match="neither an existing folder nor a Hub dataset repo"):
        blendmimic3d.load_blendmimic3d("nobody/no-such-dataset")  # offline, not in the Hub cache


def test_push_to_hub_uploads_the_folder(exported):
    from huggingface_hub import HfApi

    with (
        mock.patch.object(HfApi, "create_repo") as create,
        mock.patch.object(HfApi, "upload_folder") as upload,
    ):
        exporter.push_to_hub(exported, "someone/blendmimic3d", private=True)
    create.assert_called_once_with("someone/blendmimic3d", repo_type="dataset", private=True, exist_ok=True)
    kwargs = upload.call_args.kwargs
    assert kwargs["repo_id"] == "someone/blendmimic3d" and kwargs["repo_type"] == "dataset"
    assert Path(kwargs["folder_path"]) == exported


def test_cli_data_info_and_export_parse(exported, capsys):
    parser = argparse.ArgumentParser(prog="gcnrefine")
    data_command.add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", "info", "--source", str(exported), "--config", "multiview"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "multiview/train: 28 rows, 34,016 frames, 136,064 camera-frames" in printed
    args = parser.parse_args(["data", "export", "--out", "x", "--push-to-hub", "me/bm", "--force"])
    assert args.func is data_command.run_export and args.push_to_hub == "me/bm" and args.force


# --------------------------------------------------------------------------- splits and windows


def test_split_by_subject_and_by_action_keep_groups_whole(sequences):
    train = sequences["train"]
    by_subject = blendmimic3d.split_by_subject(train, ["SS2"])
    assert set(by_subject["validation"]["subject"]) == {"SS2"}
    assert set(by_subject["train"]["subject"]) == {"SS1"}
    by_action = blendmimic3d.split_by_action(train, 0.25, seed=1)
    val = set(zip(by_action["validation"]["subject"], by_action["validation"]["action"]))
    fit = set(zip(by_action["train"]["subject"], by_action["train"]["action"]))
    assert val and fit and not val & fit
    assert len(by_action["validation"]) == 4 * len(val)  # all four cameras of a held-out action
    assert len(by_action["train"]) + len(by_action["validation"]) == 112
    with pytest.raises(ValueError, match="test subjects"):
        blendmimic3d.split_by_subject(sequences["test"], ["SS3"])
    with pytest.raises(ValueError, match="test subjects"):
        blendmimic3d.split_by_action(datasets.concatenate_datasets([train, sequences["test"]]))
    with pytest.raises(ValueError, match="val_subjects"):
        blendmimic3d.split_by_subject(train, ["SS1", "SS2"])


def test_split_by_action_keeps_multi_variants_together():
    rows = datasets.Dataset.from_dict(
        {"subject": ["A"] * 6 + ["B"] * 2, "action": ["Focus", "Focus_multi", "Take", "Take_multi", "Sit", "Sit", "Walk",
                                                     "Walk"]}
    )  # fmt: skip
    for seed in range(10):
        split = blendmimic3d.split_by_action(rows, 0.3, seed=seed)
        for part in split.values():
            stems = {a.removesuffix("_multi") for s, a in zip(part["subject"], part["action"]) if s == "A"}
            for stem in stems:
                assert {stem, f"{stem}_multi"} & set(part["action"]) == (
                    {stem, f"{stem}_multi"} if stem in ("Focus", "Take") else {stem}
                )


def test_pose_windows_centre_edges_and_stride():
    inputs = [np.arange(5 * 2 * 2, dtype=np.float64).reshape(5, 2, 2), np.zeros((3, 2, 2))]
    targets = [np.arange(5)[:, None, None] * np.ones((5, 2, 3)), np.ones((3, 2, 3))]
    visibility = [np.ones((5, 2), bool), np.zeros((3, 2), bool)]
    windows = pose_windows.PoseWindows(inputs, targets, visibility, window=5)
    assert len(windows) == 8
    item = windows[0]
    assert item["inputs"].shape == (5, 2, 2) and item["inputs"].dtype == torch.float32
    assert item["targets"].shape == (5, 2, 3) and item["visibility"].dtype == torch.bool
    # Centre frame 0: two replicated copies of frame 0 on the left.
    assert item["targets"][:, 0, 0].tolist() == [0, 0, 0, 1, 2]
    assert windows[4]["targets"][:, 0, 0].tolist() == [2, 3, 4, 4, 4]
    assert windows[2]["targets"][2, 0, 0] == 2 and int(windows[2]["frame"]) == 2
    last = windows[-1]
    assert int(last["sequence"]) == 1 and not last["visibility"].any() and (last["targets"] == 1).all()
    strided = pose_windows.PoseWindows(inputs, targets, window=4, stride=2)
    assert len(strided) == 3 + 2
    assert strided[1]["targets"][:, 0, 0].tolist() == [0, 1, 2, 3]  # even window: centre at index 2
    assert strided[0]["visibility"].all()  # no visibility given: all visible
    with pytest.raises(ValueError, match="window"):
        pose_windows.PoseWindows(inputs, targets, window=0)
    with pytest.raises(ValueError, match=r"sequence 1"):
        pose_windows.PoseWindows(inputs, [targets[0], np.ones((4, 2, 3))], window=3)
    with pytest.raises(ValueError, match=r"inputs\[0\]"):
        pose_windows.PoseWindows([np.full((5, 2, 2), np.nan)], targets[:1], window=3)
    with pytest.raises(IndexError):
        windows[8]


def test_windows_from_the_dataset_feed_a_dataloader(sequences):
    windows = pose_windows.windows_from_dataset(sequences["test"], window=27, stride=50)
    assert len(windows) == sum((n + 49) // 50 for n in sequences["test"]["num_frames"])
    batch = next(iter(torch.utils.data.DataLoader(windows, batch_size=8, shuffle=True)))
    assert batch["inputs"].shape == (8, 27, 17, 2) and batch["targets"].shape == (8, 27, 17, 3)
    assert batch["visibility"].shape == (8, 27, 17) and batch["visibility"].dtype == torch.bool
    with pytest.raises(ValueError, match="columns"):
        pose_windows.windows_from_dataset(sequences["test"], window=3, inputs="keypoints_2d_detected")


# --------------------------------------------------------------------------- small synthetic folders


def test_synthetic_folder_builds(tmp_path):
    raw = make_raw(tmp_path / "raw")
    built = builder.build_blendmimic3d(raw, "sequences", cache_dir=tmp_path / "cache")
    assert {s: len(p) for s, p in built.items()} == {"train": 8, "test": 8}
    row = built["test"].with_format("numpy")[4]
    assert (row["image_width"], row["image_height"]) == (1280, 720)
    assert row["action"] == "Focus_multi" and row["multi_person"]
    assert row["camera_id"] == "Camera_2"
    np.testing.assert_allclose(row["keypoints_3d_world"][0], TEMPLATE, atol=0.02)  # anatomical again


def test_export_shards_large_splits(tmp_path):
    raw = make_raw(tmp_path / "raw")
    out = exporter.export_blendmimic3d(
        raw, tmp_path / "out", configs=["sequences"], cache_dir=tmp_path / "cache", max_shard_size="10KB"
    )
    shards = sorted(p.name for p in (out / "sequences").iterdir())
    assert (
        len(shards) > 2
        and shards[0] == f"test-00000-of-{len([s for s in shards if s.startswith('test')]):05d}.parquet"
    )
    loaded = datasets.load_dataset(str(out))
    assert {s: len(p) for s, p in loaded.items()} == {"train": 8, "test": 8}
    assert loaded["train"].features == builder.sequence_features()


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda r: _rewrite(r / "S2/D2_Positions/Walk/2D_positions.npz", Cam_2=None), r"2D_positions.npz: missing key 'Cam_2'"),
        (lambda r: _rewrite(r / "S1/Occlusions/Walk/occluded_kpt.npz", Cam_1=np.ones((5, 17))), r"occluded_kpt.npz: 'Cam_1' has 5 frames but .*Walk.npz has 6"),
        (lambda r: _rewrite(r / "S1/D2_Positions/Walk/2D_positions.npz", Cam_0=np.ones((7, 17, 2))), r"2D_positions.npz: 'Cam_0' has 7 frames"),
        (lambda r: _rewrite(r / "S3/D3_Positions/Focus/Focus.npz", positions_3d=np.full((6, 17, 3), np.nan)), r"Focus.npz: 'positions_3d' holds 306 NaN"),
        (lambda r: _rewrite(r / "S1/D3_Positions/Walk/Walk.npz", positions_3d=np.ones((6, 16, 3))), r"Walk.npz: 'positions_3d' expected shape \(T, 17, 3\), got \(6, 16, 3\)"),
        (lambda r: _rewrite(r / "S1/Occlusions/Walk/occluded_kpt.npz", Cam_3=np.full((6, 17), 0.5)), r"occluded_kpt.npz: 'Cam_3' expected only 0 and 1"),
        (lambda r: _rewrite(r / "S2/Cameras/matrices_S2.npz", K=None), r"matrices_S2.npz: missing key 'K'"),
        (lambda r: (r / "S1/Cameras/matrices_S1.npz").write_bytes(b"not a zip"), r"matrices_S1.npz: cannot read"),
        (lambda r: (r / "S3/Occlusions/Focus/occluded_kpt.npz").unlink(), r"occluded_kpt.npz: file is missing"),
        (lambda r: (r / "S1/Cameras/camera_params_S1.npz").unlink(), r"camera_params_S1.npz: file is missing"),
        (lambda r: _rewrite(r / "S2/D2_Positions/Walk/2D_positions.npz", Cam_1=np.zeros((6, 17, 2))), r"2D_positions.npz: 'Cam_1' differs from the projected 3D by up to"),
    ],
    ids=["missing-camera-key", "occlusion-frames", "2d-frames", "nan", "joints", "occlusion-values",
         "missing-K", "corrupt-zip", "missing-file", "missing-camera-params", "wrong-cameras"],
)  # fmt: skip
def test_bad_upstream_files_name_the_file_and_the_problem(tmp_path, corrupt, message):
    raw = make_raw(tmp_path / "raw")
    corrupt(raw)
    with pytest.raises(upstream.BlendMimic3DFileError, match=message):
        list(upstream.iter_camera_sequences(raw))


def test_errors_surface_through_the_builder(tmp_path):
    raw = make_raw(tmp_path / "raw")
    _rewrite(raw / "S1/D2_Positions/Walk/2D_positions.npz", Cam_2=None)
    with pytest.raises(ValueError, match="missing key 'Cam_2'"):
        builder.build_blendmimic3d(raw, "sequences", cache_dir=tmp_path / "cache")
    partial = make_raw(tmp_path / "partial")
    shutil.rmtree(partial / "S3")
    with pytest.raises(ValueError, match="S3: subject folder is missing"):
        builder.build_blendmimic3d(partial, "sequences", cache_dir=tmp_path / "cache")


def test_already_anatomical_files_are_refused(tmp_path):
    raw = make_raw(tmp_path / "raw")
    path = raw / "S1/D3_Positions/Walk/Walk.npz"
    with np.load(path) as archive:
        world = archive["positions_3d"]
    # A future upstream with fixed labels would be mirrored the wrong way round: refuse it.
    _rewrite(path, positions_3d=mirror_blendmimic3d(world, axis=-2))
    with pytest.raises(upstream.BlendMimic3DFileError, match="knees bend backwards"):
        list(upstream.iter_actions(raw, ["SS1"], tolerance_px=1e9))


class _Evil:
    ran = False

    def __reduce__(self):
        return (_Evil._run, ())

    @staticmethod
    def _run():  # pragma: no cover - must never be called
        _Evil.ran = True
        return {}


def test_camera_params_never_run_pickled_code(tmp_path):
    raw = make_raw(tmp_path / "raw")
    path = raw / "S1/Cameras/camera_params_S1.npz"
    np.savez(path, intrinsic_params=np.array([_Evil()] * 4, dtype=object))
    with pytest.raises(upstream.BlendMimic3DFileError, match="refusing to load"):
        upstream.read_cameras(raw, "S1")
    assert not _Evil.ran
    assert pickle.loads(pickle.dumps(_Evil())) == {} and _Evil.ran  # the payload is live with plain pickle


@pytest.fixture
def online(monkeypatch):
    """Downloads allowed (conftest sets offline mode), through a fetch the test passes."""
    for name in upstream.OFFLINE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def _fake_content(url: str) -> bytes:
    return b"PK\x03\x04" + url.encode()  # an .npz header, then different bytes per file


def _fake_checksums() -> dict[str, str]:
    return {
        path: hashlib.sha256(_fake_content(upstream.upstream_url(path))).hexdigest()
        for path in upstream.upstream_files()
    }


def test_upstream_download_is_pinned_resumable_and_annotation_only(tmp_path, online):
    requested = []

    def fake_fetch(url: str, path: Path) -> None:
        requested.append(url)
        path.write_bytes(_fake_content(url))

    checksums = _fake_checksums()
    dest = upstream.download_upstream(tmp_path / "raw", fetch=fake_fetch, checksums=checksums)
    assert len(requested) == len(upstream.upstream_files()) == 3 * 2 + (14 + 14 + 4) * 3
    assert all(f"/raw/{upstream.UPSTREAM_COMMIT}/" in url for url in requested)
    assert all(url.startswith("https://github.com/FilipaLino/BlendMimic3D/") for url in requested)
    assert not any("Videos" in url or url.endswith(".txt") for url in requested)
    assert (dest / "S3/D3_Positions/TakesItem_multi/TakesItem_multi.npz").is_file()
    requested.clear()
    upstream.download_upstream(tmp_path / "raw", fetch=fake_fetch, checksums=checksums)
    assert requested == []  # everything is there: nothing fetched again

    def lfs_pointer(url: str, path: Path) -> None:
        path.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:00\n")

    with pytest.raises(upstream.BlendMimic3DFileError, match="LFS pointer"):
        upstream.download_upstream(tmp_path / "other", fetch=lfs_pointer, checksums=checksums)
    assert not any(p.is_file() for p in (tmp_path / "other").rglob("*"))  # no partial files kept


def test_upstream_checksums_are_pinned_for_every_file_and_match_the_shared_folder(
    tmp_path, online, blendmimic3d_dir
):
    assert sorted(upstream.UPSTREAM_SHA256) == sorted(upstream.upstream_files())

    def copy_fetch(url: str, path: Path) -> None:  # the real files at the pinned commit
        shutil.copyfile(blendmimic3d_dir / url.split(f"/raw/{upstream.UPSTREAM_COMMIT}/", 1)[1], path)

    dest = upstream.download_upstream(tmp_path / "raw", fetch=copy_fetch)  # the pinned table
    for path in upstream.upstream_files():
        assert (dest / path).read_bytes() == (blendmimic3d_dir / path).read_bytes()


def test_upstream_download_refuses_and_deletes_a_file_that_differs(tmp_path, online):
    requested = []

    def tampered(url: str, path: Path) -> None:
        requested.append(url)
        with open(path, "wb") as stream:  # a valid .npz, just not the upstream one
            np.savez(stream, positions_3d=np.zeros((1, 17, 3)))

    with pytest.raises(upstream.BlendMimic3DFileError, match=r"SHA-256 .* differs from the pinned"):
        upstream.download_upstream(tmp_path / "raw", fetch=tampered)
    assert len(requested) == 1  # refused at the first file
    assert not any(p.is_file() for p in (tmp_path / "raw").rglob("*"))  # the mismatch is deleted
    with pytest.raises(ValueError, match="checksums: expected SHA-256 digests"):
        upstream.download_upstream(tmp_path / "raw", commit="0" * 40, fetch=tampered)  # nothing pinned
    assert len(requested) == 1


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_upstream_download_honours_offline_mode(tmp_path, online, monkeypatch, variable):
    requested = []

    def fake_fetch(url: str, path: Path) -> None:
        requested.append(url)
        path.write_bytes(_fake_content(url))

    monkeypatch.setenv(variable, "1")
    monkeypatch.setattr(upstream, "_http_fetch", mock.Mock(side_effect=AssertionError("network")))
    for fetch in (None, fake_fetch):
        with pytest.raises(ValueError, match=rf"{variable} is set.*--data.*GCNREFINE_BLENDMIMIC3D_DIR"):
            upstream.download_upstream(tmp_path / "raw", fetch=fetch, checksums=_fake_checksums())
    assert requested == [] and not (tmp_path / "raw").exists()
    monkeypatch.setenv(variable, "0")  # what huggingface_hub reads as off
    dest = upstream.download_upstream(tmp_path / "raw", fetch=fake_fetch, checksums=_fake_checksums())
    monkeypatch.setenv(variable, "1")
    requested.clear()
    # Offline, a complete download is used as it is (like the Hub cache).
    assert upstream.download_upstream(dest, fetch=fake_fetch, checksums=_fake_checksums()) == dest
    assert requested == []


@pytest.mark.parametrize("argv", [["evaluate"], ["data", "info"]], ids=" ".join)
def test_cli_without_data_offline_is_a_one_line_error_not_a_download(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.delenv(upstream.ENV_VAR, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no earlier download to fall back on
    monkeypatch.setattr(upstream, "_http_fetch", mock.Mock(side_effect=AssertionError("network")))
    out = ["-o", str(tmp_path / "report")] if argv == ["evaluate"] else []
    assert gcnrefine_main([*argv, *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gcnrefine {argv[0]}: error: BlendMimic3D: ") and "HF_HUB_OFFLINE is set" in err
    assert "--data" in err and upstream.ENV_VAR in err
    upstream._http_fetch.assert_not_called()


def test_upstream_action_list_matches_the_shared_folder(blendmimic3d_dir):
    for folder, actions in upstream.UPSTREAM_ACTIONS.items():
        assert tuple(upstream.list_actions(blendmimic3d_dir, folder)) == actions

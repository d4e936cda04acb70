"""`gcnrefine detect --data`, `gcnrefine lift train` and `gcnrefine lift run` on a tiny BlendMimic3D subset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modeling_gcnrefine.commands import main
from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.detection_files import load_split_detections
from modeling_gcnrefine.data.predictions import load_predictions
from modeling_gcnrefine.data.sequences import camera_sequences, detect

TINY_TRAIN = ["--channels", "16", "--epochs", "1", "--samples-per-epoch", "8", "--batch-size", "8"]


@pytest.fixture(scope="module")
def test_sequences(blendmimic3d_dir):
    return camera_sequences(load_blendmimic3d(blendmimic3d_dir)["test"], 2)


@pytest.fixture(scope="module")
def detections_file(tmp_path_factory, blendmimic3d_dir):
    out = tmp_path_factory.mktemp("detect") / "test_occluded_seed3.npz"
    argv = ["detect", "--data", str(blendmimic3d_dir), "--split", "test", "--preset", "occluded", "--seed", "3",
            "--limit", "2", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out, argv


@pytest.fixture(scope="module")
def lifter_dir(tmp_path_factory, blendmimic3d_dir):
    out = tmp_path_factory.mktemp("lift") / "fold0"
    argv = ["lift", "train", "--data", str(blendmimic3d_dir), "--out", str(out), "--actions-fold", "0",
            "--limit", "8", *TINY_TRAIN]  # fmt: skip
    assert main(argv) == 0
    return out, argv


def test_detect_split_writes_every_sequence_with_the_backbone_seeds(detections_file, test_sequences):
    path, _ = detections_file
    with np.load(path, allow_pickle=False) as data:
        names = set(data.files)
        assert str(data["meta/preset"]) == "occluded" and str(data["meta/split"]) == "test"
        assert int(data["meta/seed"]) == 3 and int(data["meta/limit"]) == 2
    for s in test_sequences:
        for field in ("keypoints_2d", "confidence", "image_size"):
            assert f"{field}/{s.subject}/{s.action}/{s.camera}" in names
    meta, sequences = load_split_detections(path)
    assert meta == {"preset": "occluded", "seed": 3, "split": "test", "limit": 2}
    assert list(sequences) == sorted(s.key for s in test_sequences)
    first = test_sequences[0]
    arrays = sequences[first.key]
    keypoints, confidence = detect(first, "occluded", 3)
    np.testing.assert_array_equal(arrays["keypoints_2d"], keypoints)
    np.testing.assert_array_equal(arrays["confidence"], confidence)
    assert arrays["keypoints_2d"].shape == (len(first.keypoints_2d), 17, 2)
    assert arrays["confidence"].shape == (len(first.keypoints_2d), 17)
    assert tuple(arrays["image_size"]) == first.image_size


def test_detect_split_resumes_refuses_and_forces(detections_file, capsys):
    path, argv = detections_file
    before = path.read_bytes()
    capsys.readouterr()
    assert main(argv) == 0  # same settings: kept, nothing redone
    assert "nothing to do" in capsys.readouterr().out
    assert path.read_bytes() == before
    other = [*argv[: argv.index("--seed") + 1], "4", *argv[argv.index("--seed") + 2 :]]
    assert main(other) == 2  # other settings: refused, in the one error format of every command
    err = capsys.readouterr().err
    assert err.startswith("gcnrefine detect: error: ") and len(err.strip().splitlines()) == 1
    assert "--force" in err and path.read_bytes() == before
    forced = path.with_name("forced.npz")
    forced.write_bytes(before)  # an existing file with other settings, replaced under --force
    assert main([*other[:-1], str(forced), "--force"]) == 0
    assert load_split_detections(forced)[0]["seed"] == 4
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, forced.name])  # no temporaries
    # Usage errors: one mode at a time.
    assert main(["detect", "in.npz", "--data", "x", "--split", "test", "-o", str(path.with_name("u.npz"))]) == 2
    assert main(["detect", "--data", "x", "-o", str(path.with_name("u.npz"))]) == 2
    assert main(["detect", "in.npz", "-o", str(path.with_name("u.npz"))]) == 2
    assert not path.with_name("u.npz").exists()


def test_lift_train_on_a_fold_prints_held_out_mpjpe_and_resumes(lifter_dir, capsys):
    out, argv = lifter_dir
    assert (out / "final" / "config.json").is_file() and (out / "best" / "config.json").is_file()
    record = json.loads((out / "lift_train.json").read_text())
    assert record["actions_fold"] == "0" and record["train_sequences"] == 4 and record["held_out_sequences"] == 4
    assert np.isfinite(record["held_out_gt2d_mpjpe_mm"]) and record["held_out_gt2d_mpjpe_mm"] > 0
    stamp = (out / "final" / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0  # finished: loaded, not retrained
    assert "held-out MPJPE" in capsys.readouterr().out
    assert (out / "final" / "model.safetensors").stat().st_mtime_ns == stamp
    other = [*argv[: argv.index("--actions-fold") + 1], "1", *argv[argv.index("--actions-fold") + 2 :]]
    assert main(other) == 2  # another fold into the same folder: refused
    assert "actions_fold" in capsys.readouterr().err


def test_lift_run_writes_predictions_for_every_sequence(lifter_dir, detections_file, test_sequences, capsys):
    lifter, _ = lifter_dir
    detections, _ = detections_file
    output = detections.parent / "pred.npz"
    argv = ["lift", "run", "--lifter", str(lifter), "--detections", str(detections), "-o", str(output)]
    assert main(argv) == 0
    predictions = load_predictions(output)
    for s in test_sequences:
        poses = predictions[s.subject][s.action][s.camera]
        assert poses.shape == (len(s.keypoints_2d), 17, 3) and np.isfinite(poses).all()
    before = output.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err and output.read_bytes() == before
    assert main([*argv, "--force", "--no-flip-test"]) == 0
    assert output.read_bytes() != before  # without flip test the poses differ


def test_lift_run_refuses_a_single_sequence_file(tmp_path, capsys):
    single = tmp_path / "one.npz"
    np.savez(single, keypoints_2d=np.zeros((5, 17, 2), np.float32), confidence=np.ones((5, 17), np.float32))
    assert main(["lift", "run", "--lifter", str(tmp_path), "--detections", str(single), "-o", str(tmp_path / "p.npz")]) == 2
    assert "split detections" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()


def test_lift_convert_help_still_works(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lift", "convert", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: gcnrefine lift convert" in out and "checkpoint" in out

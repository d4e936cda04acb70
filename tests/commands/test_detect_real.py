"""`gcnrefine detect --preset real`: the real detections of a split's videos, NaN where no person was found."""

from __future__ import annotations

import numpy as np
import pytest

from modeling_gcnrefine.commands import detect, main
from modeling_gcnrefine.data.blendmimic3d import load_blendmimic3d
from modeling_gcnrefine.data.detection_files import load_split_detections
from modeling_gcnrefine.data.real_detections import ENV_VAR, load_real_detections
from modeling_gcnrefine.data.sequences import camera_sequences


def test_real_is_a_preset_for_a_split_only(tmp_path, capsys):
    options = detect.DetectOptions(data="src", split="test", preset="real", output="o.npz")
    assert options.preset == "real"
    out = tmp_path / "det.npz"
    assert main(["detect", "in.npz", "--image-size", "10", "10", "--preset", "real", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("gcnrefine detect: error: preset: expected one of ['none', ")
    assert "for one sequence (INPUT), got 'real'" in err and "--data SRC --split SPLIT --preset real" in err
    assert not out.exists()
    with pytest.raises(ValueError, match=r"preset: expected one of .*, real, got 'bogus'"):
        detect.DetectOptions(data="src", split="test", preset="bogus", output="o.npz")


def test_detect_real_test_split(tmp_path, blendmimic3d_dir, real_detections_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, str(real_detections_path))
    out = tmp_path / "test_real.npz"
    argv = ["detect", "--data", str(blendmimic3d_dir), "--split", "test", "--preset", "real", "-o", str(out)]
    assert main(argv) == 0
    assert "16 sequences of split test, preset real" in capsys.readouterr().out
    meta, sequences = load_split_detections(out)
    assert meta == {"preset": "real", "seed": 0, "split": "test", "limit": None}
    expected = camera_sequences(load_blendmimic3d(blendmimic3d_dir)["test"])
    assert list(sequences) == sorted(s.key for s in expected) and len(sequences) == 16
    real = load_real_detections(real_detections_path)
    missing = 0
    for key, arrays in sequences.items():
        found = real[key]
        np.testing.assert_array_equal(arrays["keypoints_2d"], found.keypoints_2d)  # NaN == NaN here
        np.testing.assert_array_equal(arrays["confidence"], found.confidence)
        # A frame without a person: NaN keypoints (never a made-up 0) and confidence 0.
        assert np.isnan(arrays["keypoints_2d"][~found.found]).all()
        assert (arrays["confidence"][~found.found] == 0).all()
        missing += int((~found.found).sum())
    assert missing > 0  # the shared file has frames without a person: the NaN path is exercised
    assert main(argv) == 0  # the same settings again: kept
    assert "nothing to do" in capsys.readouterr().out

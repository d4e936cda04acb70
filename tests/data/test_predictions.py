"""Prediction files: .npz round trip with the plain-array key scheme, refusal of pickled files,
and the datasets view (one row per subject/action/camera)."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

from modeling_gcnrefine.data.predictions import (
    dataset_to_predictions,
    load_predictions,
    predictions_to_dataset,
    save_predictions,
)


def make_predictions(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def seq(t):
        return rng.normal(size=(t, 17, 3)).astype(np.float32)

    return {
        "S1": {"Walking": [seq(5), seq(5), seq(5), seq(5)], "Sit.Down 2": [seq(3)]},
        "SS3 été": {"Focus_multi": [seq(7), seq(2)]},
    }


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for subject in a:
        assert list(a[subject]) == list(b[subject])
        for action in a[subject]:
            assert len(a[subject][action]) == len(b[subject][action])
            for x, y in zip(a[subject][action], b[subject][action]):
                assert y.dtype == np.float32
                np.testing.assert_array_equal(x, y)


class Trap:
    """Unpickling this runs code: the loader must refuse before it gets that far."""

    triggered = False

    def __reduce__(self):
        return (_spring, ())


def _spring():
    Trap.triggered = True
    return {}


# ------------------------------------------------------------------ npz files
def test_round_trip_and_key_scheme(tmp_path):
    preds = make_predictions()
    path = save_predictions(tmp_path / "preds.npz", preds)
    assert_same(preds, load_predictions(path))
    with np.load(path, allow_pickle=False) as archive:  # plain arrays only, documented keys
        assert sorted(archive.files) == sorted(
            [f"positions_3d/S1/Walking/{i}" for i in range(4)]
            + [
                "positions_3d/S1/Sit.Down 2/0",
                "positions_3d/SS3 été/Focus_multi/0",
                "positions_3d/SS3 été/Focus_multi/1",
            ]
        )
        assert all(archive[k].dtype == np.float32 for k in archive.files)
    assert [p.name for p in tmp_path.iterdir()] == ["preds.npz"]  # no temp file left


def test_float64_and_lists_are_cast_to_float32(tmp_path):
    preds = {"S1": {"A": [np.zeros((2, 17, 3)).tolist(), np.ones((1, 17, 3), dtype=np.float64)]}}
    loaded = load_predictions(save_predictions(tmp_path / "p.npz", preds))
    assert [a.dtype for a in loaded["S1"]["A"]] == [np.float32, np.float32]
    np.testing.assert_array_equal(loaded["S1"]["A"][1], np.ones((1, 17, 3), np.float32))


def test_never_overwrites_unless_asked(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_predictions(path, make_predictions())
    assert path.read_bytes() == b"user data"
    save_predictions(path, make_predictions(1), overwrite=True)
    assert_same(make_predictions(1), load_predictions(path))


@pytest.mark.parametrize(
    ("preds", "match"),
    [
        ({"S/1": {"A": [np.zeros((2, 17, 3))]}}, "subject"),
        ({"S1": {"": [np.zeros((2, 17, 3))]}}, "action"),
        ({"S1": {"A": []}}, "list over cameras"),
        ({"S1": {}}, r"positions_3d\['S1'\]"),
        ({}, "positions_3d"),
        ({"S1": {"A": [np.zeros((2, 16, 3))]}}, r"\[0\]: expected shape \(T, 17, 3\)"),
        ({"S1": {"A": [np.zeros((0, 17, 3))]}}, "T >= 1"),
        ({"S1": {"A": [np.full((2, 17, 3), np.nan)]}}, "finite"),
        ({"S1": {"A": [np.zeros((2, 17, 3), dtype=object)]}}, "float"),
    ],
)
def test_save_validates(tmp_path, preds, match):
    with pytest.raises(ValueError, match=match):
        save_predictions(tmp_path / "p.npz", preds)
    assert not list(tmp_path.iterdir())


def test_missing_cameras_are_all_nan_only_when_asked(tmp_path):
    """A camera without a prediction (e.g. one that was not filmed) is an all-NaN entry, accepted only
    with missing_cameras; partly NaN poses are refused either way."""
    poses = np.ones((3, 17, 3), np.float32)
    missing = {"SS1": {"Walk": [np.full((3, 17, 3), np.nan), poses]}}
    with pytest.raises(ValueError, match=r"positions_3d\['SS1'\]\['Walk'\]\[0\]: expected finite values"):
        save_predictions(tmp_path / "p.npz", missing)
    path = save_predictions(tmp_path / "p.npz", missing, missing_cameras=True)
    with pytest.raises(ValueError, match="expected finite values"):
        load_predictions(path)
    loaded = load_predictions(path, missing_cameras=True)["SS1"]["Walk"]
    assert np.isnan(loaded[0]).all() and np.array_equal(loaded[1], poses)
    partly = poses.copy()
    partly[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\[0\]: expected finite values"):
        save_predictions(tmp_path / "q.npz", {"SS1": {"Walk": [partly]}}, missing_cameras=True)


def test_refuses_the_pickled_reference_format(tmp_path):
    """VideoPose3D-style file: positions_3d as a pickled object array holding the nested dict."""
    path = tmp_path / "reference.npz"
    trap = {"S1": {"Walking": [np.zeros((2, 17, 3))]}, "trap": Trap()}
    np.savez(path, positions_3d=np.array(trap, dtype=object))
    with pytest.raises(ValueError) as info:
        load_predictions(path)
    message = str(info.value)
    assert str(path) in message and "pickled" in message
    # It says how to export plain arrays, never how to unpickle the file.
    assert "save_predictions" in message and "positions_3d/<subject>/<action>/<camera>" in message
    assert "allow_pickle=True" not in message
    assert not Trap.triggered


def test_refuses_raw_pickle_and_object_arrays_without_running_them(tmp_path):
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps({"positions_3d": Trap()}))
    with pytest.raises(ValueError, match="pickled"):
        load_predictions(raw)
    # An object array hidden under a key that follows the scheme.
    hidden = tmp_path / "hidden.npz"
    np.savez(hidden, **{"positions_3d/S1/A/0": np.array([Trap()], dtype=object)})
    with pytest.raises(ValueError, match=r"positions_3d/S1/A/0.*pickled"):
        load_predictions(hidden)
    assert not Trap.triggered


def test_load_validates_keys_cameras_and_arrays(tmp_path):
    def write(name, arrays):
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    ok = np.zeros((2, 17, 3), np.float32)
    with pytest.raises(ValueError, match="other"):
        load_predictions(write("a.npz", {"positions_3d/S1/A/0": ok, "other": ok}))
    with pytest.raises(ValueError, match=r"cameras 0..1 for S1/A, got \[0, 2\]"):
        load_predictions(write("b.npz", {"positions_3d/S1/A/0": ok, "positions_3d/S1/A/2": ok}))
    with pytest.raises(ValueError, match=r"expected shape \(T, 17, 3\)"):
        load_predictions(write("c.npz", {"positions_3d/S1/A/0": np.zeros((2, 17, 2))}))
    with pytest.raises(ValueError, match="empty"):
        load_predictions(write("d.npz", {}))
    np.save(tmp_path / "single.npy", ok)
    with pytest.raises(ValueError, match=r"single \.npy"):
        load_predictions(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError):
        load_predictions(tmp_path / "missing.npz")
    with zipfile.ZipFile(write("e.npz", {"positions_3d/S1/A/0": ok})) as z:  # the scheme is plain zip + .npy
        assert z.namelist() == ["positions_3d/S1/A/0.npy"]


def test_real_videopose3d_output_round_trips(tmp_path, example_predictions_path):
    wild = np.load(example_predictions_path, allow_pickle=False)  # (396, 1, 17, 3) float32
    preds = {"in_the_wild": {"video": [wild[:, 0]]}}
    loaded = load_predictions(save_predictions(tmp_path / "wild.npz", preds))
    np.testing.assert_array_equal(loaded["in_the_wild"]["video"][0], wild[:, 0])


# ------------------------------------------------------------------ datasets
def test_dataset_round_trip_columns_and_features():
    from datasets import Array3D, Value

    preds = make_predictions()
    ds = predictions_to_dataset(preds)
    assert ds.num_rows == 7
    assert ds.features["camera"] == Value("int32")
    assert ds.features["poses_3d_pred"] == Array3D(shape=(None, 17, 3), dtype="float32")
    assert ds[5]["subject"] == "SS3 été" and ds[5]["action"] == "Focus_multi" and ds[5]["camera"] == 0
    np.testing.assert_array_equal(
        ds.with_format("numpy")[5]["poses_3d_pred"], preds["SS3 été"]["Focus_multi"][0]
    )
    assert_same(preds, dataset_to_predictions(ds))
    # Row order does not matter, extra columns are ignored.
    shuffled = ds.shuffle(seed=3).add_column("note", ["x"] * ds.num_rows)
    back = dataset_to_predictions(shuffled)
    for subject, actions in preds.items():
        for action, cams in actions.items():
            for x, y in zip(cams, back[subject][action]):
                np.testing.assert_array_equal(x, y)


def test_dataset_to_predictions_validates():
    ds = predictions_to_dataset(make_predictions())
    with pytest.raises(ValueError, match=r"missing \['camera'\]"):
        dataset_to_predictions(ds.remove_columns("camera"))
    doubled = ds.select([0, 0])
    with pytest.raises(ValueError, match="one row per subject/action/camera"):
        dataset_to_predictions(doubled)
    with pytest.raises(ValueError, match=r"cameras 0..0 for S1/Walking, got \[1\]"):
        dataset_to_predictions(ds.select([1]))
    with pytest.raises(ValueError, match="empty"):
        dataset_to_predictions(ds.select([]))

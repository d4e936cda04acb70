"""Remote code: the shipped checkpoints hold weights + config only (no ``auto_map``, no code); they
load through the package's Auto-class registration, and a ``save_pretrained`` copy of a loaded model
carries ``auto_map`` and the model files, so it loads with ``trust_remote_code=True`` where the
package was never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_REFINER
from transformers import AutoConfig, AutoModel

from modeling_gcnrefine import GCNRefineConfig, GCNRefineModel
from modeling_gcnrefine.lifting import LifterConfig, TemporalLifterModel

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "modeling_gcnrefine" / "checkpoints"
CHECKPOINTS = {
    "gcnrefine-blendmimic3d": (GCNRefineConfig, GCNRefineModel),
    "gcnrefine-blendmimic3d-paper": (GCNRefineConfig, GCNRefineModel),
    "gcnrefine-blendmimic3d-compact": (GCNRefineConfig, GCNRefineModel),
    "lifter-blendmimic3d": (LifterConfig, TemporalLifterModel),
}
AUTO_MAPS = {
    GCNRefineModel: {
        "AutoConfig": "configuration_gcnrefine.GCNRefineConfig",
        "AutoModel": "modeling_gcnrefine.GCNRefineModel",
    },
    TemporalLifterModel: {
        "AutoConfig": "configuration_lifter.LifterConfig",
        "AutoModel": "modeling_lifter.TemporalLifterModel",
    },
}


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_shipped_checkpoints_hold_weights_and_config_only(name):
    """A shipped folder with auto_map but no code would fail with trust_remote_code=True."""
    folder = SHIPPED / name
    config = json.loads((folder / "config.json").read_text())
    assert "auto_map" not in config
    assert not list(folder.glob("*.py"))


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_shipped_checkpoints_load_with_the_auto_classes_in_process(name):
    # Importing the package (and modeling_gcnrefine.lifting for the lifter, both done above) registers
    # the model types with AutoConfig/AutoModel; no trust_remote_code is involved.
    config_cls, model_cls = CHECKPOINTS[name]
    assert type(AutoConfig.from_pretrained(SHIPPED / name)) is config_cls
    model = AutoModel.from_pretrained(SHIPPED / name)
    assert type(model) is model_cls and not model.training


@pytest.mark.parametrize("name", ["gcnrefine-blendmimic3d-compact", "lifter-blendmimic3d"])
def test_saved_copy_of_a_shipped_checkpoint_carries_the_code(tmp_path, name):
    model = AutoModel.from_pretrained(SHIPPED / name)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == AUTO_MAPS[type(model)]
    for module in {value.split(".")[0] for value in config["auto_map"].values()}:
        assert (tmp_path / f"{module}.py").is_file(), module


_FRESH_PROCESS = """
import importlib.abc, os, sys

REPO = {repo!r}
# The editable install serves the package through a meta-path finder even under -I: block it, so the
# only code that can run is the one saved next to the weights.
class BlockPackage(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in ("modeling_gcnrefine", "dataset_scripts"):
            raise ModuleNotFoundError(f"blocked: {{fullname}}")
        return None

sys.meta_path.insert(0, BlockPackage())
assert not any(os.path.realpath(p or os.getcwd()) == REPO for p in sys.path), sys.path

import torch
from transformers import AutoModel

cases = torch.load({cases!r}, weights_only=True)  # tensors only: nothing is unpickled
for folder, case in cases.items():
    model = AutoModel.from_pretrained(folder, trust_remote_code=True)
    module = type(model).__module__
    assert module.startswith("transformers_modules."), module
    with torch.no_grad():
        output = model(case["input"])
    torch.testing.assert_close(output[0], case["expected"], rtol=0, atol=0)
    if "sequence" in case:  # refine() too, chunked: chunk_plan travels in processing_gcnrefine.py
        assert (model.refine(case["sequence"].numpy()) == case["refined"].numpy()).all()
    print("OK", type(model).__name__, module)
assert not any(name.split(".")[0] == "modeling_gcnrefine" for name in sys.modules), "the package was imported"
"""


def test_saved_folders_load_with_trust_remote_code_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    refiner = GCNRefineModel(GCNRefineConfig(**TINY_REFINER, num_frames=3)).eval()
    lifter = TemporalLifterModel(LifterConfig(filter_widths=[3, 3], channels=8)).eval()
    compact = AutoModel.from_pretrained(SHIPPED / "gcnrefine-blendmimic3d-compact")  # the publishing path
    long_range = GCNRefineModel(
        GCNRefineConfig.long_range(spatial_channels=[8, 8], temporal_channels=16, temporal_dilations=[1, 3],
                                   temporal_joint_channels=4, num_frames=15, chunk_length=30)
    ).eval()  # fmt: skip
    cases = {}
    for name, model, x in (
        ("refiner", refiner, torch.randn(2, 3, 17, 3) * 0.2),
        ("lifter", lifter, torch.randn(1, 20, 17, 2)),
        ("compact", compact, torch.randn(2, 3, 17, 3) * 0.2),
        ("long_range", long_range, torch.randn(2, 40, 17, 3) * 0.2),  # any T; confidence withheld
    ):
        folder = tmp_path / "saved" / name
        model.save_pretrained(folder)
        with torch.no_grad():
            cases[str(folder)] = {"input": x, "expected": model(x)[0]}
        if name == "long_range":
            sequence = np.random.default_rng(0).normal(scale=0.1, size=(100, 17, 3)).astype(np.float32)
            sequence[..., 2] += 4.0
            refined = model.refine(sequence)
            cases[str(folder)].update(sequence=torch.from_numpy(sequence), refined=torch.from_numpy(refined))
    torch.save(cases, tmp_path / "cases.pt")
    script = _FRESH_PROCESS.format(repo=os.path.realpath(ROOT), cases=str(tmp_path / "cases.pt"))

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    work = tmp_path / "cwd"
    work.mkdir()
    # -I: no PYTHONPATH, no user site, no script/cwd directory on sys.path; cwd outside the repository.
    result = subprocess.run(
        [sys.executable, "-I", "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.count("OK ") == 4, result.stdout

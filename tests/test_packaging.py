"""The wheel is self-contained: built from the checkout, installed into a fresh venv, it loads the
shipped checkpoints and refines the shipped example offline, from a folder outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modeling_gcnrefine.recipes.files import EXAMPLE_POSES

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_FILES = {
    "gcnrefine-blendmimic3d": {"config.json", "model.safetensors", "README.md"},
    "gcnrefine-blendmimic3d-paper": {"config.json", "model.safetensors", "README.md"},
    "gcnrefine-blendmimic3d-compact": {"config.json", "model.safetensors"},
    "lifter-blendmimic3d": {"config.json", "model.safetensors"},
}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(the wheel, the venv's bin folder, an offline environment for it) with the wheel installed."""
    root = tmp_path_factory.mktemp("packaging")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("GCNREFINE_CHECKPOINT", None)
    env.pop("GCNREFINE_LIFTER_CHECKPOINT", None)
    env.update(HF_HUB_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    wheels = root / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
        REPO_ROOT,
        env,
    )
    (wheel,) = wheels.glob("gcnrefine-*.whl")
    # --system-site-packages reuses torch & co.; the base environment's editable install is on
    # sys.meta_path after the path finder, so the venv's own copy is found first (asserted below).
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], root, env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], root, env)
    return wheel, bin_dir, env


@pytest.mark.slow
def test_the_wheel_holds_the_checkpoints_and_the_example(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for checkpoint, files in CHECKPOINT_FILES.items():
        for name in files:
            assert f"modeling_gcnrefine/checkpoints/{checkpoint}/{name}" in names
    assert any(n.startswith("modeling_gcnrefine/examples/") and n.endswith(".npy") for n in names)
    assert "dataset_scripts/dataset_card_template.md" in names
    assert not any(n.startswith(("tests/", "tools/", "benchmarks/")) for n in names)


@pytest.mark.slow
def test_the_installed_wheel_works_offline_outside_the_checkout(installed, tmp_path):
    _, bin_dir, env = installed
    venv = bin_dir.parent.resolve()
    probe = (
        "import sys; from pathlib import Path; import modeling_gcnrefine; "
        "module = Path(modeling_gcnrefine.__file__).resolve(); "
        f"assert module.is_relative_to({str(venv)!r}), module; "
        "from modeling_gcnrefine import GCNRefineModel; from modeling_gcnrefine.utils.hub import resolve_model; "
        f"assert Path(resolve_model(None, 'refiner')).resolve().is_relative_to({str(venv)!r}); "
        "GCNRefineModel.from_pretrained(); print('loaded', module)"
    )
    assert "loaded" in _run([str(bin_dir / "python"), "-c", probe], tmp_path, env)

    printed = _run([str(bin_dir / "gcnrefine"), "refine", "--example", "-o", "out.npy"], tmp_path, env)
    refined = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert refined.shape == np.load(EXAMPLE_POSES).shape and np.isfinite(refined).all()
    for measure in ("mean displacement", "bone-length spread", "left/right asymmetry", "jitter"):
        assert measure in printed

    assert "usage: gcnrefine demo" in _run([str(bin_dir / "gcnrefine"), "demo", "--help"], tmp_path, env)

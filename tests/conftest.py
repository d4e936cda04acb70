"""Test settings: offline, no network, a private HF cache, and the shared BlendMimic3D folder."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

# Must happen before huggingface_hub / transformers / datasets are imported (read at import time).
_HF_HOME = tempfile.mkdtemp(prefix="gcnrefine-hf-")
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GCNREFINE_SHARED_DIR", REPO_ROOT.parent / "shared"))
BLENDMIMIC3D_DIR = Path(os.environ.get("GCNREFINE_BLENDMIMIC3D_DIR", SHARED / "blendmimic3d"))
EXAMPLE_PREDICTIONS = SHARED / "examples" / "in_the_wild_videopose3d_predictions.npy"
REAL_DETECTIONS = SHARED / "real_detections" / "blendmimic3d_blazepose.npz"
SEMGCN_CHECKPOINT = SHARED / "lifters" / "semgcn-h36m" / "ckpt_semgcn.pth.tar"

# The one tiny refiner size every test uses when it needs a model but not a trained one (fast on CPU).
# Import it (``from conftest import TINY_REFINER``) or use the ``tiny_refiner_config`` fixture.
TINY_REFINER = dict(joint_channels=[8, 8, 16], part_channels=[16, 16], fusion_channels=8, non_local_channels=8)

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in _LOOPBACK and host is not None:
        raise OSError(f"network access blocked in tests: {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self, address):
    if isinstance(address, tuple) and address and address[0] not in _LOOPBACK:
        raise OSError(f"network access blocked in tests: {address}")
    return _real_connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect


def _require(path: Path, what: str) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required in CI but {path} is missing")
    pytest.skip(f"{what} not found at {path}")


@pytest.fixture(scope="session")
def blendmimic3d_dir() -> Path:
    """The real upstream BlendMimic3D annotations (read in place, never copied)."""
    return _require(BLENDMIMIC3D_DIR, "the BlendMimic3D folder")


@pytest.fixture(scope="session")
def example_predictions_path() -> Path:
    """The real VideoPose3D in-the-wild output, (396, 1, 17, 3) float32."""
    return _require(EXAMPLE_PREDICTIONS, "the in-the-wild example")


@pytest.fixture(scope="session")
def real_detections_path() -> Path:
    """The real BlazePose detections of the 27 BlendMimic3D videos (DATA.md)."""
    return _require(REAL_DETECTIONS, "the real detections")


@pytest.fixture(scope="session")
def tiny_refiner_config():
    """``make(**overrides) -> GCNRefineConfig`` of the tiny size (:data:`TINY_REFINER`)."""
    from modeling_gcnrefine import GCNRefineConfig  # after the offline settings above

    def make(**overrides):
        return GCNRefineConfig(**{**TINY_REFINER, **overrides})

    return make


@pytest.fixture(scope="session")
def semgcn_checkpoint() -> Path:
    """The published SemGCN Human3.6M checkpoint, re-saved in torch's zip format (see DATA.md)."""
    return _require(SEMGCN_CHECKPOINT, "the SemGCN checkpoint")


_SHARED_FIXTURES = {"blendmimic3d_dir", "example_predictions_path", "semgcn_checkpoint", "real_detections_path"}


def pytest_collection_modifyitems(items):
    # Tests that read ../shared are marked `shared`, so `-m "not shared"` runs what a clone alone can.
    for item in items:
        if _SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared)

def walking_sequence(length: int, seed: int = 0) -> np.ndarray:
    """A plausible (T, 17, 3) metre-scale sequence: a fixed skeleton drifting and swaying, 4 m deep."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(scale=0.15, size=(17, 3))
    offsets[0] = 0
    pose = np.zeros((17, 3))
    from modeling_gcnrefine.skeleton import H36M_PARENTS

    for joint, parent in enumerate(H36M_PARENTS):
        if parent >= 0:
            pose[joint] = pose[parent] + offsets[joint]
    t = np.arange(length)[:, None, None]
    motion = 0.05 * np.sin(t / 10.0 + rng.uniform(0, 6, size=(1, 17, 3)))
    root = np.stack([0.01 * np.arange(length), np.zeros(length), 4.0 + 0.002 * np.arange(length)], -1)
    return (pose[None] + motion + root[:, None]).astype(np.float32)

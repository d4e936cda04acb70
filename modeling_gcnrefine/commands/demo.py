"""`gcnrefine demo`: launch the Hugging Face Space app (``spaces_demo/app.py``) locally.

The app lives beside the package, as a Space needs it (``app.py`` at the Space's top level), so it is
imported from its file in the repository checkout rather than as a package module. Gradio is imported
only when the demo is built, so the rest of the command line does not pay for it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..utils.checks import check_path
from .config import add_dataclass_arguments, dataclass_from_namespace

APP_PATH = Path(__file__).resolve().parents[2] / "spaces_demo" / "app.py"


_MODULE_NAME = "gcnrefine_space_app"


def load_app(path: str | Path = APP_PATH) -> ModuleType:
    """Import the Space's ``app.py`` (once per process) and return the module."""
    if _MODULE_NAME in sys.modules:
        return sys.modules[_MODULE_NAME]
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"app: expected the Space app at {path}; `gcnrefine demo` needs a repository checkout "
            "(pip install -e .) that contains spaces_demo/app.py"
        )
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module  # registered first, as importlib does for normal imports
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_MODULE_NAME]
        raise
    return module


def build_demo(**kwargs: Any):
    """``spaces_demo/app.py``'s ``build_demo(**kwargs)``: the app's ``gr.Blocks``."""
    return load_app().build_demo(**kwargs)


@dataclass(kw_only=True)
class DemoOptions:
    """Options of ``gcnrefine demo``: where the app listens and which models and data it serves."""

    host: str = field(default="127.0.0.1", metadata={"help": "interface to listen on (0.0.0.0: all)"})
    port: int = field(default=7860, metadata={"help": "port to listen on"})
    share: bool = field(default=False, metadata={"help": "also open a public gradio.live link"})
    model: str | None = field(
        default=None, metadata={"help": "refiner folder or Hub id (none: the shipped checkpoint)"}
    )
    lifter: str | None = field(
        default=None, metadata={"help": "lifter folder (none: checkpoints/lifter-blendmimic3d)"}
    )
    data: str | None = field(
        default=None,
        metadata={"help": "BlendMimic3D folder or Hub id (none: $GCNREFINE_BLENDMIMIC3D_DIR, else download)"},
    )

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError(f"host: expected an interface such as 127.0.0.1, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port: expected an integer in [0, 65535], got {self.port!r}")
        for name in ("model", "lifter", "data"):
            check_path(name, getattr(self, name), optional=True)


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="launch the Gradio demo (the Hugging Face Space) locally",
        description="Serve the gcnrefine Space app on this machine; open the printed URL in a browser.",
    )
    add_dataclass_arguments(parser, DemoOptions)
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    options = dataclass_from_namespace(DemoOptions, args)
    app = load_app()
    demo = app.build_demo(refiner_path=options.model, lifter_path=options.lifter, data_source=options.data)
    app.exit_normally_on_sigterm()  # so the backends remove their temporary folders when stopped
    demo.launch(
        server_name=options.host,
        server_port=options.port,
        share=options.share,
        max_file_size=app.MAX_FILE_SIZE,
    )
    return 0

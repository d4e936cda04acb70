"""`gcnrefine demo`: launch the Hugging Face Space app (``spaces_demo/app.py``) locally.

The app lives beside the package, as a Space needs it (``app.py`` at the Space's top level), so it is
imported from its file in the repository checkout rather than as a package module. Gradio is imported
only when the demo is built, so the rest of the command line does not pay for it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

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


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="launch the Gradio demo (the Hugging Face Space) locally",
        description="Serve the gcnrefine Space app on this machine; open the printed URL in a browser.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    parser.add_argument("--model", default=None, help="refiner folder or Hub id (default: the shipped checkpoint)")
    parser.add_argument("--lifter", default=None, help="lifter folder (default: checkpoints/lifter-blendmimic3d)")
    parser.add_argument(
        "--data", default=None, help="BlendMimic3D folder or Hub id (default: $GCNREFINE_BLENDMIMIC3D_DIR, else download)"
    )
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port: expected 0 to 65535, got {args.port}")
    app = load_app()
    demo = app.build_demo(refiner_path=args.model, lifter_path=args.lifter, data_source=args.data)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=app.MAX_FILE_SIZE)
    return 0

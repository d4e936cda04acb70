"""``python -m modeling_gcnrefine.commands`` (e.g. under ``accelerate launch``) runs the ``gcnrefine`` CLI."""

import sys

from . import main

sys.exit(main())

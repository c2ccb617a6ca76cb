"""``python -m gradviz``: the same as the ``gradviz`` command."""

from __future__ import annotations

import sys

from gradviz.cli import main

sys.exit(main())

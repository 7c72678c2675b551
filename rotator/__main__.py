"""``python -m rotator``."""

import sys

from rotator.faces.cli import main

sys.exit(main())

"""``python -m retro_treadmill``."""

import sys

from retro_treadmill.cli import main

sys.exit(main())

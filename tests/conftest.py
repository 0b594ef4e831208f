"""The whole suite: sessions that tests run through the CLI (``run --simulate`` records by
default) keep their records in a temporary store, never in the user's own."""

from __future__ import annotations

import os
import tempfile

from retro_treadmill.records.paths import DATA_ENV

os.environ[DATA_ENV] = tempfile.mkdtemp(prefix="retro-treadmill-test-records-")

"""Session records: what a session leaves behind.

- :mod:`~retro_treadmill.records.model`: the values (pure).
- :mod:`~retro_treadmill.records.totals`: totals and per-segment summaries from samples (pure).
- :mod:`~retro_treadmill.records.paths`: where the database lives (``--data-dir``,
  ``RETRO_TREADMILL_DATA``, the platformdirs user data dir).
- :mod:`~retro_treadmill.records.store`: the SQLite store (WAL, schema versions, interrupted
  sessions).
- :mod:`~retro_treadmill.records.recorder`: the sink that writes a running session on its own
  thread.

Nothing is imported here, so the pure modules stay importable without the IO ones.
"""

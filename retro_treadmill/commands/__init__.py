"""Subcommands of the ``retro-treadmill`` CLI, one module each with ``register(subparsers)``."""

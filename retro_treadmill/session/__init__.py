"""Sessions: the profile model (:mod:`retro_treadmill.session.profile`) and the pure session state
machine that turns a profile into governed setpoints (:mod:`retro_treadmill.session.engine`)."""

from retro_treadmill.session.engine import (
    Outcome,
    SessionEngine,
    SessionOutput,
    SessionState,
    SessionStatus,
)

__all__ = ["Outcome", "SessionEngine", "SessionOutput", "SessionState", "SessionStatus"]

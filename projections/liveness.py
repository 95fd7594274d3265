"""How the API knows a projector is running: each one holds a shared advisory lock.

A lock held by a session vanishes with the session, so a crashed projector
stops counting at once, with no heartbeat table to go stale.
"""

PROJECTOR_LOCK = 724_002
HOLD = f"SELECT pg_advisory_lock_shared({PROJECTOR_LOCK})"
PROJECTOR_RUNNING = (
    "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    f"AND classid = 0 AND objid = {PROJECTOR_LOCK}"
)

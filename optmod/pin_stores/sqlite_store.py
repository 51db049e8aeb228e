"""The SQLite pin store: the default, one file, pins survive a restart.

Calls run directly on the event loop over one connection. With WAL and synchronous=NORMAL a commit writes
to the WAL without an fsync, so a point lookup costs about 6 us and an upsert about 25 us
(`bench/pin_store_bench.py`); handing each call to a worker thread costs more than the call itself. The one
slow step is the checkpoint, which copies the WAL into the database and fsyncs: SQLite's automatic checkpoint
would run it inside a commit, on the event loop, stalling a request for milliseconds. So automatic
checkpoints are off, and every `checkpoint_every` writes a PASSIVE checkpoint runs in a worker thread on a
second connection (SQLite releases the GIL while it works), while requests keep reading and writing.

Each write runs in one `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock first, so concurrent
turns of one session (in this process or in another process sharing the file) never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optmod.pin_stores.base import PinRecord, PinStore, PinStoreError, PinWrite

logger = logging.getLogger("optmod.pin_stores")

SCHEMA_VERSION = 1
# About three WAL pages per write: the WAL stays near 6 MB between checkpoints.
CHECKPOINT_EVERY = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pins (
    session_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    ts REAL NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pins_ts ON pins (ts);
CREATE INDEX IF NOT EXISTS pins_expires_at ON pins (expires_at);
CREATE TABLE IF NOT EXISTS pin_savings (
    session_id TEXT NOT NULL REFERENCES pins (session_id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    savings_usd REAL NOT NULL,
    warm_calls INTEGER NOT NULL,
    PRIMARY KEY (session_id, model)
) WITHOUT ROWID;
"""
_GET = """
SELECT p.model, p.ts, s.savings_usd, s.warm_calls
FROM pins p LEFT JOIN pin_savings s ON s.session_id = p.session_id AND s.model = p.model
WHERE p.session_id = ?
"""
_UPDATE_PIN = "UPDATE pins SET model = ?, ts = ?, expires_at = ? WHERE session_id = ?"
_INSERT_PIN = "INSERT INTO pins (model, ts, expires_at, session_id) VALUES (?, ?, ?, ?)"
_ADD_SAVINGS = """
INSERT INTO pin_savings (session_id, model, savings_usd, warm_calls) VALUES (?, ?, ?, ?)
ON CONFLICT (session_id, model) DO UPDATE SET
    savings_usd = savings_usd + excluded.savings_usd, warm_calls = warm_calls + excluded.warm_calls
"""
_DELETE_EXPIRED = "DELETE FROM pins WHERE expires_at <= ?"
_DELETE_OLDEST = "DELETE FROM pins WHERE session_id IN (SELECT session_id FROM pins ORDER BY ts LIMIT ?)"
# When the bound is crossed, evict a tenth more than needed, so the count query runs once per many new sessions.
PRUNE_SLACK = 0.1


class SqlitePinStore(PinStore):
    """Pins in a SQLite file, shared safely by the processes that open it."""

    kind = "sqlite"

    def __init__(self, path: Path, max_sessions: int, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.path = path
        self.max_sessions = max_sessions
        self.checkpoint_every = checkpoint_every
        with _translated_errors():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(path)
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
            self._count: int = self._db.execute("SELECT COUNT(*) FROM pins").fetchone()[0]
        self._writes = 0
        self.checkpoints = 0  # completed, for /optmod/status and the tests
        self._checkpointing: asyncio.Task[None] | None = None

    async def get(self, session_id: str) -> PinRecord | None:
        with _translated_errors():
            row = self._db.execute(_GET, (session_id,)).fetchone()
        if row is None:
            return None
        model, ts, savings, warm_calls = row
        return PinRecord(model, ts, savings or 0.0, warm_calls or 0)

    async def record(self, write: PinWrite) -> None:
        pin = (write.model, write.ts, write.ts + write.ttl_s, write.session_id)
        with _translated_errors(), self._transaction() as db:
            if db.execute(_UPDATE_PIN, pin).rowcount == 0:
                db.execute(_INSERT_PIN, pin)
                self._count += 1
            if write.savings_usd or write.warm:
                db.execute(_ADD_SAVINGS, (write.session_id, write.model, write.savings_usd, int(write.warm)))
            self._count -= db.execute(_DELETE_EXPIRED, (write.ts,)).rowcount
            if self._count > self.max_sessions:
                self._evict_oldest(db)
        self._writes += 1
        if self._writes % self.checkpoint_every == 0:
            self._start_checkpoint()

    def _evict_oldest(self, db: sqlite3.Connection) -> None:
        # Other processes may have written since our count was taken: count exactly, then cut to below the bound.
        count = db.execute("SELECT COUNT(*) FROM pins").fetchone()[0]
        target = self.max_sessions - int(self.max_sessions * PRUNE_SLACK)
        if count > self.max_sessions:
            count -= db.execute(_DELETE_OLDEST, (count - target,)).rowcount
        self._count = count

    async def drop(self, session_id: str, model: str) -> bool:
        with _translated_errors(), self._transaction() as db:
            dropped = db.execute("DELETE FROM pins WHERE session_id = ? AND model = ?", (session_id, model)).rowcount
            self._count -= dropped
            return dropped > 0

    async def count_since(self, cutoff_ts: float) -> int:
        with _translated_errors():
            count: int = self._db.execute("SELECT COUNT(*) FROM pins WHERE ts > ?", (cutoff_ts,)).fetchone()[0]
        return count

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "max_sessions": self.max_sessions,
            "checkpoints": self.checkpoints,
        }

    async def checkpoint(self) -> None:
        """Copy the WAL into the database, in a worker thread; the event loop keeps serving meanwhile."""
        with _translated_errors():
            await asyncio.to_thread(self._checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
        self.checkpoints += 1

    def _start_checkpoint(self) -> None:
        if self._checkpointing is not None and not self._checkpointing.done():
            return  # the one running will take these pages too
        self._checkpointing = asyncio.get_running_loop().create_task(self.checkpoint())
        self._checkpointing.add_done_callback(_log_checkpoint_failure)

    async def close(self) -> None:
        if self._checkpointing is not None:
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        with _translated_errors():
            self._checkpointer.close()
            self._db.close()  # the last connection to close checkpoints what is left and removes the WAL

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE ... COMMIT above, nothing implicit.
    db = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, SCHEMA_VERSION):
        db.close()
        raise PinStoreError(f"{path}: pin store schema {version} is not {SCHEMA_VERSION}; move the file away")
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return db


def _log_checkpoint_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("pin store checkpoint failed: %s", task.exception())


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise PinStoreError(f"sqlite pin store: {exc}") from exc

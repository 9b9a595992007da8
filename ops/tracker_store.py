"""Rasa's SQLTrackerStore, with SQLite in write-ahead-log mode.

Rasa commits at least once per turn, and SQLite's default rollback journal syncs
the disk several times per commit: about 10 ms of every reply on this machine.
In WAL mode with synchronous=NORMAL a commit appends to the log and syncs only at
checkpoints: a crash of the server loses nothing committed, a power cut may lose
the last turns, and readers (ops/retention.py) never wait for the writer. Any
other database (PostgreSQL in cluster/) is left as Rasa sets it up.
"""

from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy import event


def _write_ahead_log(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class SQLiteTrackerStore(SQLTrackerStore):
    """Endpoints: `type: ops.tracker_store.SQLiteTrackerStore`, then SQLTrackerStore's own keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _write_ahead_log)
            self.engine.dispose()  # the connection that created the tables had no pragmas

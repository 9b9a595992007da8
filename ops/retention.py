"""Deletes conversations nobody has touched for N days from Rasa's SQL tracker store.

A conversation is every event of one sender_id in Rasa's `events` table; it is
deleted whole once its last event is older than the cut-off, so a conversation
still going on is never cut in half. The store is the `tracker_store` of
endpoints.yml, read the way Rasa reads it (${ENV_VAR} substituted), so the same
command serves SQLite (`make run`) and PostgreSQL (the cluster profile). Only
that section is expanded, so the job needs the store's variables, not, say, the
action server's token.

    .venv/bin/python -m ops.retention --days 30 [--dry-run] [--endpoints endpoints.yml]
    make retention DAYS=30 [DRY_RUN=1]
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional

import sqlalchemy as sa
import yaml

EVENTS = sa.table("events", sa.column("sender_id"), sa.column("timestamp"))


@dataclass(frozen=True)
class Outcome:
    conversations: int
    events: int
    cutoff: float


def expand(value: Any) -> Any:
    """${VAR} substitution as rasa.shared.utils.io does it: os.path.expandvars,
    and an error for a variable that is not set."""
    if isinstance(value, dict):
        return {key: expand(item) for key, item in value.items()}
    if not isinstance(value, str) or "${" not in value:
        return value
    expanded = os.path.expandvars(value)
    missing = [word for word in expanded.split() if word.startswith("$") and word in value]
    if missing:
        raise SystemExit(f"Set these environment variables for the tracker store: {missing}")
    return expanded


def is_sql_store(type_name: str) -> bool:
    """Rasa's SQL tracker store, by its short name or as a class built on it."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.utils.common import class_from_module_path

    if type_name.lower() == "sql":
        return True
    try:
        store = class_from_module_path(type_name)
    except (ImportError, AttributeError):
        return False
    return isinstance(store, type) and issubclass(store, SQLTrackerStore)


def engine_for(endpoints: Path) -> Optional[sa.engine.Engine]:
    """An engine on the configured SQL tracker store; None if it does not exist yet."""
    from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
    from rasa.utils.endpoints import EndpointConfig

    section = (yaml.safe_load(endpoints.read_text(encoding="utf-8")) or {}).get("tracker_store")
    config = EndpointConfig.from_dict(expand(section)) if section else None
    if config is None or not is_sql_store(config.type or ""):
        raise SystemExit(f"{endpoints}: tracker_store is not Rasa's SQL tracker store; nothing to do here.")
    options = config.kwargs
    dialect, db = options.get("dialect", "sqlite"), options.get("db", "rasa.db")
    if dialect == "sqlite" and not Path(db).exists():
        return None  # do not create an empty database as a side effect
    # The working database, not login_db (which Rasa only uses to create it).
    url = SQLTrackerStore.get_db_url(
        dialect,
        options.get("host"),
        options.get("port"),
        db,
        options.get("username"),
        options.get("password"),
        None,
        options.get("query"),
    )
    return sa.create_engine(url, **create_engine_kwargs(url))


def stale_senders(cutoff: float) -> sa.sql.Select:
    """Senders whose last event is older than the cut-off."""
    return sa.select(EVENTS.c.sender_id).group_by(EVENTS.c.sender_id).having(sa.func.max(EVENTS.c.timestamp) < cutoff)


def purge(engine: sa.engine.Engine, days: float, dry_run: bool = False, now: Optional[float] = None) -> Outcome:
    """Counts, and unless dry_run deletes, the conversations idle for more than `days`, in one transaction."""
    cutoff = (now if now is not None else time.time()) - days * 86400
    stale = stale_senders(cutoff).subquery()
    with engine.begin() as connection:
        if not sa.inspect(connection).has_table("events"):
            return Outcome(0, 0, cutoff)
        conversations = connection.execute(sa.select(sa.func.count()).select_from(stale)).scalar_one()
        in_stale = EVENTS.c.sender_id.in_(sa.select(stale.c.sender_id))
        if dry_run:
            events = connection.execute(sa.select(sa.func.count()).select_from(EVENTS).where(in_stale)).scalar_one()
        else:
            events = connection.execute(sa.delete(EVENTS).where(in_stale)).rowcount
    return Outcome(conversations, events, cutoff)


def positive_days(value: str) -> float:
    days = float(value)
    if not days > 0:
        raise argparse.ArgumentTypeError("--days must be more than 0")
    return days


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--days",
        type=positive_days,
        required=True,
        help="delete conversations whose last event is older than this many days",
    )
    parser.add_argument(
        "--endpoints",
        type=Path,
        default=Path("endpoints.yml"),
        help="Rasa endpoints file naming the tracker store (default: %(default)s)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    args = parser.parse_args(argv)

    engine = engine_for(args.endpoints)
    if engine is None:
        print("No tracker store yet: nothing to delete.")
        return 0
    outcome = purge(engine, args.days, args.dry_run)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(outcome.cutoff))
    verb = "Would delete" if args.dry_run else "Deleted"
    # Counts only: sender ids can be phone-number hashes and must not reach a log.
    print(f"{verb} {outcome.conversations} conversations ({outcome.events} events) last active before {when}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

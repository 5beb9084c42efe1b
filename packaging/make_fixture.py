"""Make ``packaging/fixtures/schema-0004.sqlite3``: a database as the previous release left it
(schema revision 0004), for ``make package-test`` to open with the bundle (migrated, backed up).

Run once from the repository root (the file is committed): ``.venv/bin/python
packaging/make_fixture.py``. It applies this source tree's migrations up to 0004 only.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic import command

from app.db.engine import create_sqlite_engine
from app.db.migrate import alembic_config

PREVIOUS_REVISION = "0004"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / f"schema-{PREVIOUS_REVISION}.sqlite3"


def main() -> int:
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.unlink(missing_ok=True)
    engine = create_sqlite_engine(FIXTURE, foreign_keys=False)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, PREVIOUS_REVISION)
    finally:
        engine.dispose()
    with closing(sqlite3.connect(FIXTURE)) as plain:  # one self-contained file, no -wal
        plain.execute("PRAGMA journal_mode=DELETE")
    print(FIXTURE, FIXTURE.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

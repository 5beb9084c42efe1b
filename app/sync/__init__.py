"""Optional sync of the local database with a school's server (protocol v1).

:mod:`app.db.models` registers the outbox listeners (:mod:`app.sync.outbox`) on every ORM
session, so each local change to a synced record writes an outbox row in its own transaction.
"""

"""The optional sync service: a stateless HTTP API over PostgreSQL (see ``docs``: the protocol).

Started by ``huleedu sync-server``; the app factory is :func:`app.syncserver.app.create_app`.
"""

PROTOCOL_VERSION = "1"

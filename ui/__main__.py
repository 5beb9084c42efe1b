"""``python -m ui``: the desktop window (see :func:`ui.app.main`)."""

from ui.app import main

raise SystemExit(main())

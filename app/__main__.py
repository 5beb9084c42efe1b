"""`python -m app` is the same as the `huleedu` command."""

from app.cli import main

raise SystemExit(main())

"""Desktop user interface (PySide6). Presents and asks; all work happens in `app`."""

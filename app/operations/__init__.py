"""The use cases the command line and the desktop window both call (see :mod:`.base`)."""

"""Entry point of the packaged application (PyInstaller runs this file as ``__main__``).

The one executable is the whole product: with no arguments it opens the window (a teacher
double-clicks it); otherwise it is the ``huleedu`` command line (``gui``, ``grade``, ``import``,
``demo``, ``sim-server``, ``--version``, ...), so school IT can grade overnight with the same file.

``multiprocessing.freeze_support()`` comes first: essay import runs in a child process
(:mod:`app.operations.process`, ``spawn``), and a frozen child is this executable started again;
``freeze_support`` makes that start run the child's work instead of the command line.

``--package-probe ...`` (first argument) runs a check of the bundle itself
(:mod:`huleedu_probe`), used by ``make package-test`` and ``huleedu bench package``.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    arguments = sys.argv[1:]
    if arguments[:1] == ["--package-probe"]:
        import huleedu_probe  # noqa: PLC0415

        return huleedu_probe.main(arguments[1:])
    if not arguments:
        arguments = ["gui"]
    from app.cli import main as cli_main  # noqa: PLC0415

    return cli_main(arguments)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())

"""Dialogs awaited from coroutines without a nested event loop.

``QDialog.exec()`` inside a coroutine on the qasync loop left a running task stuck forever (see
DESIGN.md, *Known pitfalls*). Every dialog in the window is therefore opened with ``open()``
(window-modal, returns at once) and awaited through a future its ``finished`` signal resolves.
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QDialog


async def open_and_wait(dialog: QDialog) -> int:
    """Open ``dialog`` with ``open()`` and return its result code once it is closed.

    If the awaiting task is cancelled (the window closes), the dialog is rejected and the
    cancellation goes on.
    """
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[int] = loop.create_future()

    def on_finished(code: int) -> None:
        if not closed.done():
            closed.set_result(code)

    dialog.finished.connect(on_finished)
    dialog.open()
    try:
        return await closed
    except asyncio.CancelledError:
        dialog.reject()
        raise
    finally:
        dialog.finished.disconnect(on_finished)

"""Translation helpers around ``QCoreApplication.translate``.

Texts are translated with ``QCoreApplication.translate("Context", "text")`` written out in full
(a fixed context, so ``pyside6-lupdate`` finds every text and plural forms survive; DESIGN.md).
Counted texts use Qt's ``%n`` with an English source such as ``"%n batch(es)"``: a translation
supplies the right plural form, and without one :func:`english_plural` resolves the ``(s)`` or
``(es)`` so the English window never shows them.
"""

from __future__ import annotations

import re

_ALTERNATIVE = re.compile(r"\((e?s)\)")


def english_plural(text: str, n: int) -> str:
    """``text`` (a translated ``%n`` text) with any ``(s)``/``(es)`` left by a missing
    translation resolved for ``n``."""
    return _ALTERNATIVE.sub(lambda m: "" if n == 1 else m.group(1), text)


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:  # noqa: N802  (the name lupdate knows)
    """Mark ``text`` for translation in ``context`` and return it unchanged; translate it
    where it is shown with ``QCoreApplication.translate(context, text)``. (PySide6's own
    ``QT_TRANSLATE_NOOP`` is typed as returning ``object``.)"""
    return text

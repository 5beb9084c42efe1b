"""The ability chart of a run: every essay on the ability scale with its 95 % interval.

Essays are drawn best first from left to right (rank 1 at the left, as in the ranking table):
a dot at the ability, a vertical bar for its 95 % interval; anchors are diamonds in another
colour, labelled with their known grade. Grade boundaries (cut points of the grading model on
the ability scale) are dashed horizontal lines; the bands between them are shaded in turn and
named at the right. Hovering a point shows the essay, its ability with interval, its grade and
the grade's probability; clicking it emits :attr:`AbilityChart.essay_clicked`.

Drawing is done with QPainter (PySide6-Essentials has no QtCharts). Everything that is drawn
is first computed by :meth:`AbilityChart.chart_layout` as a plain :class:`ChartLayout` (pixel
positions of points, bars, boundary lines, ticks and band labels), so tests check the
geometry, not pixels. Sizes come from the font's metrics, so the chart reads well at any
scaling.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.operations.results import GradeBoundary, ResultLine

translate = QCoreApplication.translate

ESSAY_COLOR = QColor("#1f5fbf")
ANCHOR_COLOR = QColor("#d35400")
MISFIT_COLOR = QColor("#c62828")
BAND_COLOR = QColor(120, 120, 120, 22)
BOUNDARY_COLOR = QColor("#6d6d6d")

MINUS = "\u2212"


# ---------------------------------------------------------------------------------- text


def number(value: float, decimals: int = 2) -> str:
    """An ability as a teacher reads it: two decimals, a real minus sign."""
    text = f"{value:.{decimals}f}"
    if text.startswith("-"):
        text = text[1:] if float(text[1:]) == 0 else MINUS + text[1:]
    return text


def tick_decimals(step: float) -> int:
    """Decimals that tell ticks ``step`` apart (0 for whole steps)."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 2


def ability_text(line: ResultLine) -> str:
    """``"1.23 (0.80 – 1.66)"``: the ability and its 95 % interval."""
    if line.low is None or line.high is None:
        return number(line.ability)
    return f"{number(line.ability)} ({number(line.low)} \u2013 {number(line.high)})"


def percent(p: float) -> str:
    value = round(p * 100)
    if value == 100 and p < 1:
        return "> 99 %"
    if value == 0 and p > 0:
        return "< 1 %"
    return f"{value} %"


def grade_text(line: ResultLine) -> str:
    """``"B (72 %)"``: the grade and the probability of its letter (empty without grades)."""
    if line.grade is None:
        return ""
    if line.grade_probability is None:
        return line.grade
    return f"{line.grade} ({percent(line.grade_probability)})"


def tooltip_text(line: ResultLine) -> str:
    """What hovering an essay (in the chart or the table) says about it."""
    parts = [
        f"<b>{_escape(line.name)}</b>",
        translate("AbilityChart", "Rank {rank}").format(rank=line.rank),
        translate("AbilityChart", "Ability {ability}").format(ability=ability_text(line))
        + (translate("AbilityChart", " (95 % interval)") if line.se is not None else ""),
    ]
    if line.grade is not None:
        parts.append(translate("AbilityChart", "Grade {grade}").format(grade=grade_text(line)))
    if line.is_anchor:
        parts.append(
            translate("AbilityChart", "Anchor essay, known grade {grade}").format(
                grade=line.anchor_grade or "?"
            )
        )
    if line.misfit:
        parts.append(
            translate(
                "AbilityChart",
                "Misfit: the judge's verdicts on this essay disagree with each other more than "
                "expected; read it yourself.",
            )
        )
    return "<br>".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class ChartPoint:
    """One essay as drawn: ``x``, ``y`` the dot, ``y_low``/``y_high`` the ends of its bar
    (equal to ``y`` without a standard error)."""

    line: ResultLine
    x: float
    y: float
    y_low: float
    y_high: float
    radius: float


@dataclass(frozen=True)
class BoundaryLine:
    """A grade boundary inside the plot: between ``lower`` (below) and ``upper`` (above)."""

    ability: float
    y: float
    lower: str
    upper: str


@dataclass(frozen=True)
class BandLabel:
    """A grade's name at the right of the plot, centred in the visible part of its band."""

    grade: str
    y: float
    top: float
    bottom: float
    shaded: bool


@dataclass(frozen=True)
class ChartLayout:
    """Everything :class:`AbilityChart` draws, in widget pixels."""

    plot: QRectF
    minimum: float
    maximum: float
    """The ability range of the plot (bottom, top)."""
    y_ticks: tuple[tuple[float, float], ...]
    """(ability, y) of each tick on the ability axis."""
    y_decimals: int
    x_ticks: tuple[tuple[int, float], ...]
    """(rank, x) of each tick on the rank axis."""
    points: tuple[ChartPoint, ...]
    boundaries: tuple[BoundaryLine, ...]
    bands: tuple[BandLabel, ...]

    def y_of(self, ability: float) -> float:
        span = self.maximum - self.minimum
        return self.plot.bottom() - (ability - self.minimum) / span * self.plot.height()


def nice_step(span: float, target: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``target`` steps over ``span``."""
    if span <= 0 or target <= 0:
        return 1.0
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _ability_range(
    lines: Sequence[ResultLine], boundaries: Sequence[GradeBoundary]
) -> tuple[float, float]:
    lows = [line.low if line.low is not None else line.ability for line in lines]
    highs = [line.high if line.high is not None else line.ability for line in lines]
    low, high = float(min(lows)), float(max(highs))
    if high - low < 1e-9:  # every essay at one ability, no intervals
        low, high = low - 1.0, high + 1.0
    # Boundaries a little outside the essays stay in view; far-off ones (extrapolated grades
    # nobody reached) are left out rather than squash the essays.
    reach = 0.25 * (high - low)
    for b in boundaries:
        if low - reach <= b.ability < low:
            low = b.ability
        elif high < b.ability <= high + reach:
            high = b.ability
    pad = 0.04 * (high - low)
    return low - pad, high + pad


# ---------------------------------------------------------------------------------- widget


class AbilityChart(QWidget):
    """Essays on the ability scale with 95 % intervals, anchors and grade boundaries.

    :meth:`set_data` gives it a run's rows (any order; drawn best first) and boundaries;
    :meth:`clear` empties it. :meth:`set_highlighted` marks one essay (the table's selection).
    ``essay_clicked`` carries the essay id of a clicked point.
    """

    essay_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("abilityChart")
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._lines: tuple[ResultLine, ...] = ()
        self._boundaries: tuple[GradeBoundary, ...] = ()
        self._highlighted: str | None = None
        self._cache: tuple[tuple[int, int], ChartLayout] | None = None
        self._empty_text = translate("AbilityChart", "No results to draw yet.")

    # ------------------------------------------------------------------ data

    def set_data(self, lines: Sequence[ResultLine], boundaries: Sequence[GradeBoundary]) -> None:
        self._lines = tuple(sorted(lines, key=lambda line: (line.rank, line.essay_id)))
        self._boundaries = tuple(sorted(boundaries, key=lambda b: b.ability))
        self._cache = None
        self.setAccessibleDescription(
            translate(
                "AbilityChart", "{n} essays on the ability scale with {k} grade boundaries"
            ).format(n=len(self._lines), k=len(self._boundaries))
        )
        self.update()

    def clear(self, text: str | None = None) -> None:
        if text is not None:
            self._empty_text = text
        self.set_data((), ())

    @property
    def lines(self) -> tuple[ResultLine, ...]:
        return self._lines

    def set_highlighted(self, essay_id: str | None) -> None:
        if essay_id != self._highlighted:
            self._highlighted = essay_id
            self.update()

    @property
    def highlighted(self) -> str | None:
        return self._highlighted

    # ------------------------------------------------------------------ sizes

    def _em(self) -> float:
        return QFontMetricsF(self.font()).height()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        em = self._em()
        return QSize(round(em * 22), round(em * 14))

    def sizeHint(self) -> QSize:  # noqa: N802
        em = self._em()
        return QSize(round(em * 40), round(em * 24))

    # ------------------------------------------------------------------ geometry

    def chart_layout(self) -> ChartLayout:
        """The geometry for the current size and data (cached until either changes)."""
        key = (self.width(), self.height())
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        layout = self._compute_layout()
        self._cache = (key, layout)
        return layout

    def _small_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 6.0))
        return font

    def _compute_layout(self) -> ChartLayout:
        fm = QFontMetricsF(self.font())
        small = QFontMetricsF(self._small_font())
        em = fm.height()
        lines, boundaries = self._lines, self._boundaries
        if lines:
            low, high = _ability_range(lines, boundaries)
        else:
            low, high = -3.0, 3.0
        step = nice_step(high - low, max(2, round((self.height() - 5 * em) / (2.6 * em))))
        first = math.ceil(low / step - 1e-9)
        values = [k * step for k in range(first, math.floor(high / step + 1e-9) + 1)]
        decimals = tick_decimals(step)
        tick_width = max((fm.horizontalAdvance(number(v, decimals)) for v in values), default=em)
        grade_names = [b.lower for b in boundaries] + [b.upper for b in boundaries]
        band_width = max((fm.horizontalAdvance(g) for g in grade_names), default=0.0)
        left = em * 1.6 + tick_width + em * 0.6  # axis title, tick labels, tick marks
        right = band_width + em * 1.2 if grade_names else em
        top = em * 2.4 + (self._legend_rows(left, small) - 1) * small.height() * 1.3
        bottom = em * 3.0  # rank ticks and the axis title
        plot = QRectF(
            left, top, max(self.width() - left - right, em), max(self.height() - top - bottom, em)
        )

        def y_of(ability: float) -> float:
            return plot.bottom() - (ability - low) / (high - low) * plot.height()

        n = len(lines)
        slot = plot.width() / n if n else plot.width()
        radius = max(min(em * 0.32, slot * 0.42), 1.6)
        points = tuple(
            ChartPoint(
                line,
                plot.left() + (i + 0.5) * slot,
                y_of(line.ability),
                y_of(line.low) if line.low is not None else y_of(line.ability),
                y_of(line.high) if line.high is not None else y_of(line.ability),
                radius * (1.25 if line.is_anchor else 1.0),
            )
            for i, line in enumerate(lines)
        )
        visible = [b for b in boundaries if low <= b.ability <= high]
        shown = tuple(BoundaryLine(b.ability, y_of(b.ability), b.lower, b.upper) for b in visible)
        bands = self._bands(boundaries, low, high, plot, y_of, small.height())
        # rank ticks: 1, then steps of a nice size
        x_ticks: list[tuple[int, float]] = []
        if n:
            rank_step = max(1, round(nice_step(n, max(2, round(plot.width() / (em * 4))))))
            ranks = [1, *range(rank_step, n + 1, rank_step)]
            if len(ranks) > 2 and (ranks[1] - 1) * slot < em * 2.2:
                del ranks[1]  # too close to 1 to read
            if n not in ranks and (n - ranks[-1]) * slot > em * 3:
                ranks.append(n)
            for i, line in enumerate(lines):
                if line.rank in ranks:
                    x_ticks.append((line.rank, plot.left() + (i + 0.5) * slot))
        return ChartLayout(
            plot=plot,
            minimum=low,
            maximum=high,
            y_ticks=tuple((v, y_of(v)) for v in values),
            y_decimals=decimals,
            x_ticks=tuple(x_ticks),
            points=points,
            boundaries=shown,
            bands=bands,
        )

    @staticmethod
    def _bands(
        boundaries: Sequence[GradeBoundary],
        low: float,
        high: float,
        plot: QRectF,
        y_of: Callable[[float], float],
        label_height: float,
    ) -> tuple[BandLabel, ...]:
        if not boundaries:
            return ()
        edges = [-math.inf] + [b.ability for b in boundaries] + [math.inf]
        grades = [boundaries[0].lower] + [b.upper for b in boundaries]
        out = []
        for k, grade in enumerate(grades):
            lo, hi = max(edges[k], low), min(edges[k + 1], high)
            if hi <= lo:
                continue
            bottom, top = float(y_of(lo)), float(y_of(hi))
            out.append(BandLabel(grade, (top + bottom) / 2, top, bottom, shaded=k % 2 == 1))
        return tuple(out)

    # ------------------------------------------------------------------ hit testing

    def point_at(self, pos: QPointF) -> ChartPoint | None:
        """The essay drawn nearest ``pos`` (its dot or its bar), if close enough."""
        layout = self.chart_layout()
        if not layout.points:
            return None
        em = self._em()
        best: ChartPoint | None = None
        best_distance = math.inf
        for point in layout.points:
            dx = abs(point.x - pos.x())
            if dx > max(point.radius * 2, em * 0.5):
                continue
            top, bottom = min(point.y_high, point.y), max(point.y_low, point.y)
            dy = (
                0.0
                if top - point.radius <= pos.y() <= bottom + point.radius
                else min(abs(pos.y() - top), abs(pos.y() - bottom))
            )
            distance = math.hypot(dx, dy)
            if dy <= em * 0.5 and distance < best_distance:
                best, best_distance = point, distance
        return best

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            point = self.point_at(QPointF(event.pos()))
            if point is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), tooltip_text(point.line), self)
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        point = self.point_at(event.position())
        if point is not None and event.button() == Qt.MouseButton.LeftButton:
            self.set_highlighted(point.line.essay_id)
            self.essay_clicked.emit(point.line.essay_id)
        super().mousePressEvent(event)

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            if not self._lines:
                painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(
                    QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self._empty_text
                )
                return
            layout = self.chart_layout()
            self._paint_bands(painter, layout)
            self._paint_axes(painter, layout)
            self._paint_points(painter, layout)
            self._paint_legend(painter, layout)
        finally:
            painter.end()

    def _paint_bands(self, painter: QPainter, layout: ChartLayout) -> None:
        plot = layout.plot
        text = self.palette().color(QPalette.ColorRole.Text)
        for band in layout.bands:
            if band.shaded:
                painter.fillRect(
                    QRectF(plot.left(), band.top, plot.width(), band.bottom - band.top),
                    BAND_COLOR,
                )
        pen = QPen(BOUNDARY_COLOR, 1.0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        for b in layout.boundaries:
            painter.drawLine(QPointF(plot.left(), b.y), QPointF(plot.right(), b.y))
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        painter.setPen(text)
        for band in layout.bands:
            if band.bottom - band.top < fm.height() * 0.9:
                continue  # too thin to name without overlapping its neighbours
            painter.drawText(
                QRectF(
                    plot.right() + fm.height() * 0.4,
                    band.y - fm.height() / 2,
                    self.width() - plot.right(),
                    fm.height(),
                ),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                band.grade,
            )
        painter.setFont(self.font())

    def _paint_axes(self, painter: QPainter, layout: ChartLayout) -> None:
        plot = layout.plot
        fm = QFontMetricsF(self.font())
        em = fm.height()
        text = self.palette().color(QPalette.ColorRole.Text)
        axis = QPen(self.palette().color(QPalette.ColorRole.Mid), 1.0)
        axis.setCosmetic(True)
        grid = QPen(QColor(128, 128, 128, 40), 1.0)
        grid.setCosmetic(True)
        painter.setPen(grid)
        for _value, y in layout.y_ticks:
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(axis)
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.setPen(text)
        tick = em * 0.3
        for value, y in layout.y_ticks:
            painter.setPen(axis)
            painter.drawLine(QPointF(plot.left() - tick, y), QPointF(plot.left(), y))
            painter.setPen(text)
            painter.drawText(
                QRectF(0, y - em / 2, plot.left() - tick * 2, em),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                number(value, layout.y_decimals),
            )
        for rank, x in layout.x_ticks:
            painter.setPen(axis)
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + tick))
            painter.setPen(text)
            painter.drawText(
                QRectF(x - em * 2, plot.bottom() + tick, em * 4, em),
                Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                str(rank),
            )
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + em * 1.5, plot.width(), em * 1.2),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            translate("AbilityChart", "Rank (1 = strongest essay)"),
        )
        painter.save()
        painter.translate(em * 0.2, plot.center().y())
        painter.rotate(-90)
        painter.drawText(
            QRectF(-plot.height() / 2, 0, plot.height(), em * 1.2),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            translate("AbilityChart", "Ability (logits)"),
        )
        painter.restore()

    def _paint_points(self, painter: QPainter, layout: ChartLayout) -> None:
        small = self._small_font()
        sm = QFontMetricsF(small)
        painter.setFont(small)
        bar_width = max(1.0, min(layout.points[0].radius * 0.45, 2.0))
        for point in layout.points:
            line = point.line
            color = ANCHOR_COLOR if line.is_anchor else ESSAY_COLOR
            faded = QColor(color)
            faded.setAlpha(150)
            bar = QPen(faded, bar_width)
            bar.setCapStyle(Qt.PenCapStyle.FlatCap)
            painter.setPen(bar)
            if point.y_low != point.y_high:
                painter.drawLine(QPointF(point.x, point.y_low), QPointF(point.x, point.y_high))
        for point in layout.points:
            line = point.line
            color = ANCHOR_COLOR if line.is_anchor else ESSAY_COLOR
            r = point.radius
            highlighted = line.essay_id == self._highlighted
            if highlighted:
                r *= 1.6
            outline = QPen(MISFIT_COLOR if line.misfit else color.darker(130), 1.0)
            if line.misfit:
                outline.setWidthF(2.0)
            painter.setPen(outline)
            painter.setBrush(color)
            if line.is_anchor:
                painter.drawPath(_diamond(point.x, point.y, r * 1.15))
            else:
                painter.drawEllipse(QPointF(point.x, point.y), r, r)
            if highlighted:
                ring = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2.0)
                painter.setPen(ring)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(QPointF(point.x, point.y), r + 3, r + 3)
            if line.is_anchor and line.anchor_grade:
                painter.setPen(ANCHOR_COLOR.darker(120))
                label = line.anchor_grade
                w = sm.horizontalAdvance(label) + 4
                painter.drawText(
                    QRectF(point.x - w / 2, point.y_high - sm.height() - 2, w, sm.height()),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                    label,
                )
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setFont(self.font())

    @staticmethod
    def _legend_width(kind: str, label: str, sm: QFontMetricsF) -> float:
        """Width of one legend item: its mark (a boundary's dash is longer), its label and the
        gap after it."""
        r = sm.height() * 0.28
        mark = r * (5.2 if kind == "boundary" else 3.6)
        return mark + sm.horizontalAdvance(label) + sm.height() * 1.2

    def _legend_rows(self, left: float, sm: QFontMetricsF) -> int:
        """Rows the legend needs when it starts at ``left`` (it wraps as it is painted)."""
        misfit = any(line.misfit for line in self._lines)
        rows, x = 1, left
        for kind, label in _legend_items(bool(self._boundaries), misfit):
            width = self._legend_width(kind, label, sm)
            if x > left and x + width > self.width():
                rows, x = rows + 1, left
            x += width
        return rows

    def _paint_legend(self, painter: QPainter, layout: ChartLayout) -> None:
        small = self._small_font()
        sm = QFontMetricsF(small)
        painter.setFont(small)
        text = self.palette().color(QPalette.ColorRole.Text)
        y = sm.height() * 0.9
        x = layout.plot.left()
        r = sm.height() * 0.28
        items = _legend_items(bool(layout.boundaries), any(p.line.misfit for p in layout.points))
        for kind, label in items:
            if x > layout.plot.left() and x + self._legend_width(kind, label, sm) > self.width():
                x = layout.plot.left()  # the next row: the legend wraps, never clipped
                y += sm.height() * 1.3
            cx = x + r
            if kind == "essay":
                painter.setPen(QPen(ESSAY_COLOR.darker(130), 1.0))
                painter.setBrush(ESSAY_COLOR)
                painter.drawEllipse(QPointF(cx, y), r, r)
            elif kind == "anchor":
                painter.setPen(QPen(ANCHOR_COLOR.darker(130), 1.0))
                painter.setBrush(ANCHOR_COLOR)
                painter.drawPath(_diamond(cx, y, r * 1.4))
            elif kind == "bar":
                painter.setPen(QPen(ESSAY_COLOR, 2.0))
                painter.drawLine(QPointF(cx, y - r * 2), QPointF(cx, y + r * 2))
            elif kind == "boundary":
                pen = QPen(BOUNDARY_COLOR, 1.0, Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.drawLine(QPointF(x, y), QPointF(x + r * 4, y))
                cx = x + r * 2.6
            else:
                painter.setPen(QPen(MISFIT_COLOR, 2.0))
                painter.setBrush(ESSAY_COLOR)
                painter.drawEllipse(QPointF(cx, y), r, r)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(text)
            tx = cx + r * 2.6
            painter.drawText(
                QRectF(tx, y - sm.height() / 2, sm.horizontalAdvance(label) + 4, sm.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            x = tx + sm.horizontalAdvance(label) + sm.height() * 1.2
        painter.setFont(self.font())


def _legend_items(boundaries: bool, misfit: bool) -> list[tuple[str, str]]:
    """The legend's items (kind, label) for a chart with or without boundaries and misfits."""
    items = [
        ("essay", translate("AbilityChart", "Essay")),
        ("anchor", translate("AbilityChart", "Anchor (known grade)")),
        ("bar", translate("AbilityChart", "95 % interval")),
    ]
    if boundaries:
        items.append(("boundary", translate("AbilityChart", "Grade boundary")))
    if misfit:
        items.append(("misfit", translate("AbilityChart", "Misfit")))
    return items


def _diamond(x: float, y: float, r: float) -> QPainterPath:
    path = QPainterPath()
    path.moveTo(x, y - r)
    path.lineTo(x + r, y)
    path.lineTo(x, y + r)
    path.lineTo(x - r, y)
    path.closeSubpath()
    return path

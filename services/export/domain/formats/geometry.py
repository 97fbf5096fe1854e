"""Shapes as detection formats see them: boxes, polygons and areas, in pixels. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

CIRCLE_SIDES = 32  # a circle becomes a polygon of this many sides in segmentation formats
AREA_SHAPES = ("rectangle", "polygon", "circle")  # shapes that enclose a region

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max


def _points(shape: Mapping[str, Any]) -> list[tuple[float, float]]:
    return [(float(p[0]), float(p[1])) for p in shape.get("points", [])]


def polygon(shape: Mapping[str, Any]) -> list[tuple[float, float]] | None:
    """The outline of a region shape (a rectangle clockwise from its top-left corner, a
    circle as a regular polygon), or None for shapes without area (lines, points)."""
    kind = shape.get("type")
    if kind == "rectangle":
        x, y = float(shape["x"]), float(shape["y"])
        w, h = float(shape["width"]), float(shape["height"])
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    if kind == "polygon":
        return _points(shape)
    if kind == "circle":
        cx, cy, r = float(shape["cx"]), float(shape["cy"]), float(shape["r"])
        return [(cx + r * math.cos(2 * math.pi * i / CIRCLE_SIDES),
                 cy + r * math.sin(2 * math.pi * i / CIRCLE_SIDES)) for i in range(CIRCLE_SIDES)]
    return None


def box(shape: Mapping[str, Any]) -> Box | None:
    """The axis-aligned box around a region shape (exact for circles), or None."""
    kind = shape.get("type")
    if kind == "rectangle":
        x, y = float(shape["x"]), float(shape["y"])
        return x, y, x + float(shape["width"]), y + float(shape["height"])
    if kind == "circle":
        cx, cy, r = float(shape["cx"]), float(shape["cy"]), float(shape["r"])
        return cx - r, cy - r, cx + r, cy + r
    outline = polygon(shape)
    if not outline:
        return None
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    return min(xs), min(ys), max(xs), max(ys)


def area(shape: Mapping[str, Any]) -> float:
    """The enclosed area in square pixels (π r² for a circle, the shoelace for a polygon)."""
    kind = shape.get("type")
    if kind == "rectangle":
        return float(shape["width"]) * float(shape["height"])
    if kind == "circle":
        return math.pi * float(shape["r"]) ** 2
    outline = polygon(shape)
    return shoelace(outline) if outline else 0.0


def shoelace(points: Sequence[tuple[float, float]]) -> float:
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2


def clip(b: Box, width: float, height: float) -> Box:
    return (min(max(b[0], 0.0), width), min(max(b[1], 0.0), height),
            min(max(b[2], 0.0), width), min(max(b[3], 0.0), height))

"""Durations as people type them (``90s``, ``15m``, ``2h``, ``1d``, ``1h30m``) and read them."""

from __future__ import annotations

import re

_UNITS_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_WHOLE = re.compile(r"^(?:\s*\d+(?:\.\d+)?\s*[dhms])+\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: one or more ``<number><unit>`` parts, units d, h, m, s.

    ``"90s"`` -> 90.0, ``"1h30m"`` -> 5400.0, ``"1.5h"`` -> 5400.0. Case and spaces do not
    matter; a bare number or an unknown unit raises ValueError saying what is accepted.
    """
    lowered = text.strip().lower()
    if not lowered or not _WHOLE.match(lowered):
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (s, m, h, d),"
            " e.g. 90s, 15m, 2h, 1d or 1h30m"
        )
    return float(sum(float(n) * _UNITS_S[unit] for n, unit in _PART.findall(lowered)))


def format_duration(seconds: float) -> str:
    """``seconds`` as its two largest whole units, e.g. ``1h30m``, ``3d4h``, ``45s``, ``0s``.

    Under a second but above zero reads ``<1s``, so a small lag is never shown as none.
    """
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return "<1s"
    remaining = round(seconds)
    parts: list[tuple[int, str]] = []
    for unit, size in _UNITS_S.items():
        count, remaining = divmod(remaining, size)
        if count or parts:
            parts.append((count, unit))
    shown = [(c, u) for c, u in parts[:2] if c]
    return "".join(f"{c}{u}" for c, u in shown)

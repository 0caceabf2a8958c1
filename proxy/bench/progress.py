"""A one-line progress bar on stderr (`\\r`-rewritten), so stdout stays the table or the JSON."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """`show(label, fraction, detail)` redraws the line; `done()` ends it with a newline."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, width: int = 24) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._shown = 0

    def show(self, label: str, fraction: float, detail: str = "") -> None:
        if not self.enabled:
            return
        fraction = min(1.0, max(0.0, fraction))
        filled = round(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{label:<22} [{bar}] {fraction * 100:3.0f}%  {detail}".rstrip()
        padding = " " * max(0, self._shown - len(line))
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self._shown = len(line)

    def step(self, label: str) -> None:
        """A step without a measurable fraction (starting, stopping)."""
        if not self.enabled:
            return
        line = label + "…"
        self.stream.write("\r" + line + " " * max(0, self._shown - len(line)))
        self.stream.flush()
        self._shown = len(line)

    def done(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0

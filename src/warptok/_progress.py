"""One progress line for long runs: chat counting (``progress=True``) and ``warptok encode``."""

from __future__ import annotations

import sys
import time


class Progress:
    """Progress of ``total`` units on stderr, redrawn at most every 0.2 s: a bar, the
    percentage, done/total, the rate and the time left, and a caller's note.

    ``enabled``: False (silent), True (tqdm's bar when ``tqdm`` is set and installed,
    else this line), or an object with ``update(n)`` (the caller's own bar, not closed
    here). ``scale`` divides the numbers shown (1e6 with ``unit="MB"`` for bytes)."""

    def __init__(self, total: int, enabled, desc: str, *, unit: str = "", scale: float = 1.0, tqdm: bool = True):
        self.total, self.desc, self.unit, self.scale = total, desc, unit, scale
        self.enabled = bool(enabled)
        self.bar = None                  # tqdm's, or the caller's
        self.own_bar = False
        self.done = 0
        self.start = self.last = time.perf_counter()
        if enabled is not True and enabled and hasattr(enabled, "update"):
            self.bar = enabled
        elif enabled and tqdm:
            try:
                from tqdm.auto import tqdm as make_bar
            except ImportError:
                make_bar = None
            if make_bar is not None:
                self.bar = make_bar(total=total, unit=unit.rstrip("s") or "it", desc=desc, dynamic_ncols=True,
                                    smoothing=0.1)
                self.own_bar = True

    def update(self, n: int, note: str = "") -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        self.done += n
        now = time.perf_counter()
        if now - self.last >= 0.2 or self.done >= self.total:
            self.last = now
            self._draw(now, note)

    def _draw(self, now: float, note: str) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        frac = self.done / self.total if self.total else 1.0
        filled = int(min(frac, 1.0) * 24)
        left = (self.total - self.done) / rate if rate > 0 else 0
        if self.scale == 1:
            amount = f"{self.done:,}/{self.total:,} {self.unit}  {rate:,.0f} {self.unit}/s"
        else:
            amount = (f"{self.done / self.scale:,.1f}/{self.total / self.scale:,.1f} {self.unit}  "
                      f"{rate / self.scale:,.1f} {self.unit}/s")
        sys.stderr.write(f"\r{self.desc} [{'#' * filled}{'-' * (24 - filled)}] {frac * 100:5.1f}%  {amount}"
                         f"{'  ' + note if note else ''}  ETA {int(left) // 60}:{int(left) % 60:02d} ")
        sys.stderr.flush()

    def close(self, note: str = "") -> None:
        """Finish the line (with the final numbers) or close tqdm's bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            if self.own_bar:
                self.bar.close()
            return
        self._draw(time.perf_counter(), note)
        sys.stderr.write("\n")

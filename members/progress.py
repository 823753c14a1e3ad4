"""Progress of a long import on the command line: a bar redrawn in place on a terminal, plain lines
(one per phase and per tenth of the file) otherwise, so that a log file stays short. Written to
stderr: stdout keeps the command's result lines, which are a contract."""

from __future__ import annotations

_WIDTH = 30


class ProgressPrinter:
    def __init__(self, out, *, label: str):
        self.out = out
        self.label = label
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self._last: tuple[str, int] | None = None

    def __call__(self, phase: str, fraction: float) -> None:
        percent = max(0, min(100, int(fraction * 100)))
        if self.tty:
            filled = percent * _WIDTH // 100
            bar = "#" * filled + "-" * (_WIDTH - filled)
            end = "\n" if phase == "完了" else ""
            self.out.write(
                f"\r{self.label} [{bar}] {percent:3d}% {phase}\u3000\u3000",
                style_func=str,
                ending=end,
            )
            self.out.flush()
            return
        step = (phase, percent // 10)
        if step != self._last:
            self._last = step
            self.out.write(f"{self.label}: {phase} {percent}%", style_func=str)

"""Big digits readable from two metres, scaled to whatever space the widget gets."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

# A 3x5 block font. Block glyphs read the same in colour and in monochrome.
_FONT: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", "..#", "..#", "..#"),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    ".": (".", ".", ".", ".", "#"),
    ":": (".", "#", ".", "#", "."),
    "-": ("...", "...", "###", "...", "..."),
    " ": ("..",) * 5,
    # the letters of STEP ON and WAIT (the straddle start's banner)
    "S": ("###", "#..", "###", "..#", "###"),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "P": ("###", "#.#", "###", "#..", "#.."),
    "O": ("###", "#.#", "#.#", "#.#", "###"),
    "N": ("#..#", "##.#", "#.##", "#..#", "#..#"),
    "W": ("#...#", "#...#", "#.#.#", "##.##", "#...#"),
    "A": (".#.", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
}
GLYPH_ROWS = 5


def render_big(text: str, width: int, height: int) -> list[str] | None:
    """``text`` in the block font at the largest integer scale that fits ``width`` x ``height``.

    Pixels are drawn twice as wide as tall (terminal cells are about 1:2) when that fits, else
    square-celled. Returns ``None`` when not even the smallest scale fits or a character has no
    glyph; the caller then shows plain text.
    """
    if not text or any(ch not in _FONT for ch in text):
        return None
    glyphs = [_FONT[ch] for ch in text]
    columns = sum(len(g[0]) for g in glyphs)
    gaps = len(glyphs) - 1
    for sy in range(max(1, height // GLYPH_ROWS), 0, -1):
        for sx in (2 * sy, sy):
            if columns * sx + gaps * sx <= width and GLYPH_ROWS * sy <= height:
                return _draw(glyphs, sx, sy)
    return None


def _draw(glyphs: list[tuple[str, ...]], sx: int, sy: int) -> list[str]:
    lines: list[str] = []
    gap = " " * sx
    for row in range(GLYPH_ROWS):
        line = gap.join(
            "".join(("█" if px == "#" else " ") * sx for px in glyph[row]) for glyph in glyphs
        )
        lines.extend([line] * sy)
    return lines


class BigNumber(Widget):
    """A number drawn in block digits, as large as the widget's size allows.

    Falls back to plain bold text when the space is too small for the smallest block digits.
    """

    DEFAULT_CSS = """
    BigNumber {
        height: 1fr;
        width: 1fr;
        content-align: center middle;
    }
    """

    value: reactive[str] = reactive("--")

    def __init__(self, value: str = "--", *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.set_reactive(BigNumber.value, value)

    def render(self) -> Text:
        """The block digits for the current size, or plain text."""
        size = self.content_region.size
        lines = render_big(self.value, size.width, size.height)
        if lines is None:
            return Text(self.value, style="bold", justify="center")
        return Text("\n".join(lines), justify="center", no_wrap=True)

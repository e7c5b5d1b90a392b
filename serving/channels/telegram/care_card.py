"""Render the post-extraction care card images from assets/care_card.yaml.

    python -m serving.channels.telegram.care_card

The PNGs are committed (the service only sends them); render again after editing the text.
Hebrew is laid out right-to-left by Pillow's raqm layout engine.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFont, features

from serving.channels.telegram.files import ASSETS

SOURCE = ASSETS / "care_card.yaml"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
WIDTH, MARGIN, LINE_GAP = 1080, 72, 14
BACKGROUND, ACCENT, INK = (246, 250, 252), (22, 110, 150), (30, 40, 50)


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    candidates = [*FONT_DIRS, Path(matplotlib.get_data_path()) / "fonts" / "ttf"]
    for folder in candidates:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    raise FileNotFoundError(f"font {name} not found")


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int, direction: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate, direction=direction) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def render(language: str, title: str, items: list[str], target: Path) -> None:
    rtl = language == "he"
    direction = "rtl" if rtl else "ltr"
    title_font = _font("DejaVuSans-Bold.ttf", 56)
    body_font = _font("DejaVuSans.ttf", 36)
    text_width = WIDTH - 2 * MARGIN - 48
    rows: list[tuple[str, bool]] = []
    for item in items:
        for index, line in enumerate(_wrap(item, body_font, text_width, direction)):
            rows.append((line, index == 0))
    line_height = 36 + LINE_GAP
    height = MARGIN + 80 + 40 + len(rows) * line_height + len(items) * 18 + MARGIN
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 18), fill=ACCENT)
    edge = WIDTH - MARGIN if rtl else MARGIN
    anchor = "ra" if rtl else "la"
    draw.text(
        (edge, MARGIN),
        title,
        font=title_font,
        fill=ACCENT,
        anchor=anchor,
        direction=direction,
        language=language,
    )
    y = MARGIN + 80 + 40
    text_edge = edge - 48 if rtl else edge + 48
    for line, first in rows:
        if first:
            y += 18
            bullet_x = edge - 14 if rtl else edge + 14
            draw.ellipse((bullet_x - 9, y + 12, bullet_x + 9, y + 30), fill=ACCENT)
        draw.text(
            (text_edge, y),
            line,
            font=body_font,
            fill=INK,
            anchor=anchor,
            direction=direction,
            language=language,
        )
        y += line_height
    image.save(target, format="PNG", optimize=True)


def main() -> None:
    if not features.check("raqm"):
        raise SystemExit("Pillow was built without raqm: Hebrew would be laid out backwards")
    cards = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    for language, card in cards.items():
        target = ASSETS / f"care_card.{language}.png"
        render(language, card["title"], card["lines"], target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()

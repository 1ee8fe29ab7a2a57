"""The board's VN colours (assets/base.css) keep WCAG AA contrast in light and dark, flash tints included,
and stay recognisably green, red, yellow, purple and cyan."""

from __future__ import annotations

import colorsys
import re
from pathlib import Path

import pytest

from backend.market.reference import FUTURES_MULTIPLIER

ASSETS = Path(__file__).resolve().parents[3] / "assets"
TONES = ("up", "down", "ref", "ceil", "floor")
# The grid's own backgrounds: white in light mode; AG Grid's dark quartz (#2b2b2b, read from the
# browser) in dark mode and on the kiosk.
BACKGROUNDS = {"light": "#ffffff", "dark": "#2b2b2b"}
HUES = {"up": (90, 170), "down": (345, 375), "ref": (35, 60), "ceil": (255, 300), "floor": (180, 200)}


def _variables(scheme: str) -> dict[str, str]:
    css = (ASSETS / "base.css").read_text()
    selector = r":root\s*\{" if scheme == "light" else r':root\[data-mantine-color-scheme="dark"\]\s*\{'
    block = re.search(selector + r"([^}]*)\}", css)
    assert block, f"no {scheme} colour block in base.css"
    return dict(re.findall(r"--db-([a-z-]+):\s*(#[0-9a-fA-F]{6})", block.group(1)))


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#eab308", "#ffffff") < 3  # the old reference yellow, unreadable on white


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_vn_colour_reads_at_4_5_to_1_on_the_grid_and_on_every_tint(scheme: str) -> None:
    colours = _variables(scheme)
    assert set(TONES) | {"flash-up", "flash-down", "found"} <= set(colours)
    grounds = {"grid": BACKGROUNDS[scheme], **{k: colours[k] for k in ("flash-up", "flash-down", "found")}}
    ratios = {(tone, ground): round(contrast(colours[tone], colour), 2)
              for tone in TONES for ground, colour in grounds.items()}
    low = {k: r for k, r in ratios.items() if r < 4.5}
    assert low == {}, low


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_colours_keep_the_vn_conventions(scheme: str) -> None:
    colours = _variables(scheme)
    for tone, (low, high) in HUES.items():
        r, g, b = (int(colours[tone][i:i + 2], 16) / 255 for i in (1, 3, 5))
        hue = colorsys.rgb_to_hls(r, g, b)[0] * 360
        hue = hue + 360 if hue < low else hue
        assert low <= hue <= high, (scheme, tone, colours[tone], round(hue))


def test_the_browser_uses_the_futures_multiplier_of_the_reference_data() -> None:
    script = (ASSETS / "board.js").read_text()
    assert re.search(r"const FUTURES_MULTIPLIER = (\d+);", script).group(1) == str(FUTURES_MULTIPLIER)

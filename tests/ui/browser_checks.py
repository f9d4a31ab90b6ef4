"""What the browser tests measure in the page: text contrast of the rendered, computed colours,
and horizontal overflow. Each is one JavaScript function run with ``page.evaluate``."""

from __future__ import annotations

from typing import Any

#: WCAG 2 AA for body text.
MIN_CONTRAST = 4.5

#: ``(selector) => failures``: every visible text of the elements under ``selector`` whose colour,
#: composited over its effective background (the stack of ancestor backgrounds, with opacity),
#: has a contrast below the minimum. Computed colours come as ``rgb()``/``rgba()`` or, for
#: ``color-mix()``, as ``color(srgb r g b / a)``: both are read. Disabled controls are exempt
#: (WCAG), as are native ``<select>`` options (drawn by the browser, not the page).
CONTRAST_JS = """
([selector, minimum]) => {
  const parse = (c) => {
    let m = c.match(/^rgba?\\(([^)]+)\\)$/);
    if (m) { const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
    m = c.match(/^color\\(srgb ([^)]+)\\)$/);
    if (m) { const p = m[1].split(/[\\s\\/]+/).filter(Boolean).map(Number); return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
    return null;
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];  // the canvas when nothing is opaque
    for (let i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
    return colour;
  };
  const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const failures = [];
  let checked = 0;
  for (const root of document.querySelectorAll(selector)) {
    for (const el of root.querySelectorAll('*')) {
      const text = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
      if (!text) continue;
      if (el.closest('select, option, [disabled], .mod-disabled, svg')) continue;
      const style = getComputedStyle(el);
      const rect = el.getBoundingClientRect();
      if (style.visibility === 'hidden' || rect.width === 0 || rect.height === 0) continue;
      const bg = background(el);
      const fg = parse(style.color);
      if (!fg) continue;
      const shown = over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg);
      const [l1, l2] = [lum(shown), lum(bg)].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      checked++;
      if (ratio < minimum) {
        failures.push({text: text.slice(0, 40), ratio: Math.round(ratio * 100) / 100, color: style.color,
                       background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')', tag: el.tagName, cls: el.className});
      }
    }
  }
  return {checked, failures};
}
"""

#: ``(selectors) => [{selector, over}]``: how far each visible element matching one of the
#: selectors is wider than its box (scrollWidth - clientWidth), for those that overflow.
OVERFLOW_JS = """
(selectors) => {
  const out = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      const over = el.scrollWidth - el.clientWidth;
      if (over > 1) out.push({selector, over, width: el.clientWidth, text: (el.innerText || '').slice(0, 40)});
    }
  }
  return out;
}
"""

#: ``(selector) => [...]``: elements under ``selector`` that scroll sideways (their content is
#: wider than they are), code blocks and text areas excepted (long lines of exact bytes scroll).
SIDEWAYS_JS = """
(selector) => Array.from(document.querySelectorAll(selector + ' *'))
  .filter((e) => !e.closest('pre, code, textarea, select') && e.getBoundingClientRect().width > 0)
  .filter((e) => ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
  .map((e) => ({tag: e.tagName, cls: String(e.className).slice(0, 60), over: e.scrollWidth - e.clientWidth,
                text: (e.innerText || '').slice(0, 40)}))
"""

#: ``(selector) => [...]``: visible elements that stick out of the right edge of the ``selector``
#: element they are in (drawn outside it, or cut off by it), inside scrolling boxes excepted.
OUTSIDE_JS = """
(selector) => {
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    const edge = root.getBoundingClientRect().right;
    for (const e of root.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || r.right <= edge + 1) continue;
      let scrolled = false;
      for (let p = e.parentElement; p && p !== root; p = p.parentElement) {
        if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) { scrolled = true; break; }
      }
      if (!scrolled) out.push({tag: e.tagName, cls: String(e.className).slice(0, 60), over: Math.round(r.right - edge),
                               text: (e.innerText || '').slice(0, 40)});
    }
  }
  return out.slice(0, 10);
}
"""

#: The JSON code font: what the browser resolved for the payload preview's ``<pre>``.
CODE_FONT_JS = """
() => Array.from(document.querySelectorAll('.simlib-explorer pre')).filter((e) => e.getBoundingClientRect().width > 0)
  .map((e) => getComputedStyle(e).fontFamily)
"""


def contrast_failures(page: Any, selector: str) -> tuple[int, list[dict[str, Any]]]:
    """How many texts were checked under ``selector``, and those below :data:`MIN_CONTRAST`."""
    found = page.evaluate(CONTRAST_JS, [selector, MIN_CONTRAST])
    return int(found["checked"]), list(found["failures"])


def overflowing(page: Any, selectors: list[str]) -> list[dict[str, Any]]:
    return list(page.evaluate(OVERFLOW_JS, selectors))


def outside(page: Any, selector: str) -> list[dict[str, Any]]:
    return list(page.evaluate(OUTSIDE_JS, selector))


def sideways(page: Any, selector: str) -> list[dict[str, Any]]:
    return list(page.evaluate(SIDEWAYS_JS, selector))

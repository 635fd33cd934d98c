"""Small HTML building blocks shared by report.html and index.html.

No template engine: every value passes through `esc` (or `cell`) exactly once, at the point
where it becomes HTML, so text from DICOM headers can never inject markup. The pages are
self-contained (inline CSS, no scripts, no external URLs) so they open from a file system,
an archive or an air-gapped viewer alike.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:1.5rem auto;
max-width:1200px;padding:0 1rem;color:#1d1d1f;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:1.75rem 0 .5rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.25rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.kv th{width:14rem}.uid{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;
word-break:break-all}
.disclaimer{border:1px solid #c9a227;background:#fff8e1;padding:.6rem .8rem;border-radius:4px}
.note{border-left:4px solid #c9a227;background:#fffbea;padding:.3rem .6rem;margin:.3rem 0}
.verdict-consistent{font-weight:600;color:#0b4f9c}.verdict-possible{color:#8a5a00}
.verdict-unlikely{color:#666}.status-analyzed{color:#1b6e2a}.status-failed{color:#b00020;
font-weight:600}.status-skipped{color:#666}
figure{margin:0 0 1.25rem;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #ccc;background:#000}
figcaption{font-size:.85rem;color:#333;max-width:780px}
ul.tight{margin:0;padding-left:1.1rem}pre{background:#f6f6f6;padding:.5rem;overflow:auto;
font-size:.8rem}footer{margin-top:2rem;font-size:.8rem;color:#555}
"""


def esc(value: Any) -> str:
    """Any value as HTML text; None is an em dash, so an empty cell is never ambiguous."""
    if value is None or value == "":
        return "&mdash;"
    return html.escape(fmt(value))


def fmt(value: Any) -> str:
    """A value as plain text: numbers without float noise, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) >= 1e6 else _plain(value)
    return "" if value is None else str(value)


def _plain(value: float) -> str:
    """Two decimals, fewer when they are zeros; small values keep three significant digits."""
    if value != 0 and abs(value) < 1:
        return f"{value:.3g}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def href(path: str) -> str:
    """A relative path as an attribute value (quoted, then escaped)."""
    return html.escape(quote(path), quote=True)


def attr(value: Any) -> str:
    return html.escape(str(value), quote=True)


def cell(value: Any, cls: str = "") -> str:
    """A <td>; numbers right-aligned."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        cls = f"{cls} num".strip()
    klass = f' class="{cls}"' if cls else ""
    return f"<td{klass}>{esc(value)}</td>"


def raw_cell(markup: str, cls: str = "") -> str:
    """A <td> of markup the caller has already escaped."""
    klass = f' class="{cls}"' if cls else ""
    return f"<td{klass}>{markup}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Rows of ready <td> cells under escaped headers."""
    klass = f' class="{cls}"' if cls else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column table of label and ready markup."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def bullet_list(items: Iterable[Any]) -> str:
    items = list(items)
    if not items:
        return "&mdash;"
    return '<ul class="tight">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def uid(value: Any) -> str:
    return f'<span class="uid">{esc(value)}</span>'


def dicom_date(value: str | None) -> str:
    """YYYYMMDD as YYYY-MM-DD (anything else as it is)."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


def page(title: str, body: str) -> str:
    """A whole HTML document around `body`."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def disclaimer(text: str) -> str:
    """The decision-support statement, boxed at the top of every page."""
    return f'<p class="disclaimer"><strong>Not a diagnosis.</strong> {esc(text)}</p>'

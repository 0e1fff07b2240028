"""The report documents: self-contained HTML (images embedded as data URIs) and Markdown.

Jinja2 with autoescaping renders the HTML: every string from the data — narratives above all, which
an LMM wrote and which are untrusted — is escaped, so a narrative containing ``<script>`` shows as
text and never runs.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from jinja2 import Environment, select_autoescape

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

HTML = _ENV.from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .narrative { background: #f7f7f2; padding: 0.6em; border-left: 3px solid #bbb; }
.note { color: #555; font-size: 0.9em; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="note">{{ subtitle }}</p>
{% for section in sections %}
<h2>{{ section.heading }}</h2>
{% for p in section.get("paragraphs", []) %}<p>{{ p }}</p>{% endfor %}
{% if section.get("items") %}<ul>{% for item in section["items"] %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}
{% if section.get("table") is not none %}{{ section["table"] }}{% endif %}
{% for image in section.get("images", []) -%}
<figure><img alt="{{ image.alt }}" src="data:image/png;base64,{{ image.data }}">
<figcaption class="note">{{ image.alt }}</figcaption></figure>
{%- endfor %}
{% for n in section.get("narratives", []) -%}
<p><b>{{ n.label }}</b></p><div class="narrative">{{ n.text }}</div>
{%- endfor %}
{% endfor %}
</body></html>
""")


def _table_html(table: pd.DataFrame) -> Any:
    from markupsafe import Markup

    # to_html escapes cell text (escape=True): a narrative or a model name cannot inject markup
    return Markup(table.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4g}", na_rep="—", border=0))


def render_html(title: str, subtitle: str, sections: Sequence[Mapping[str, Any]]) -> str:
    """The HTML document. Each section: ``heading``, optional ``paragraphs``, ``items``, ``table`` (a
    DataFrame), ``images`` (``[{"alt", "png": bytes}]``) and ``narratives`` (``[{"label", "text"}]``)."""
    prepared = []
    for s in sections:
        s = dict(s)
        if s.get("table") is not None:
            s["table"] = _table_html(s["table"])
        s["images"] = [{"alt": i["alt"], "data": base64.b64encode(i["png"]).decode("ascii")}
                       for i in s.get("images", [])]
        prepared.append(s)
    return HTML.render(title=title, subtitle=subtitle, sections=prepared)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """``table`` as a Markdown table: floats to 4 significant digits, NaN as a dash, cells escaped."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "—" if v != v else f"{v:.4g}"
        return _md_escape(v)

    head = "| " + " | ".join(_md_escape(c) for c in table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def render_markdown(title: str, subtitle: str, sections: Sequence[Mapping[str, Any]]) -> str:
    """The same sections as Markdown (figures are in the HTML report only)."""
    out = [f"# {_md_escape(title)}", "", _md_escape(subtitle), ""]
    for s in sections:
        out += [f"## {_md_escape(s['heading'])}", ""]
        out += [_md_escape(p) + "\n" for p in s.get("paragraphs", [])]
        out += [f"- {_md_escape(i)}" for i in s.get("items", [])]
        if s.get("items"):
            out.append("")
        if s.get("table") is not None:
            out += [markdown_table(s["table"]), ""]
        if s.get("images"):
            out += [f"*Figure in report.html: {_md_escape(i['alt'])}*" for i in s["images"]] + [""]
        for n in s.get("narratives", []):
            out += [f"**{_md_escape(n['label'])}**", "", "> " + _md_escape(n["text"]), ""]
    return "\n".join(out)

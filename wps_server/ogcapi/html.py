"""The HTML view of any JSON document of the API: its links as links, the rest as nested tables."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;vertical-align:top;text-align:left}"
    "pre{white-space:pre-wrap;margin:0}"
)


def render(title: str, document: Any, json_url: str) -> str:
    links = document.get("links", []) if isinstance(document, dict) else []
    body = {k: v for k, v in document.items() if k != "links"} if isinstance(document, dict) else document
    items = "".join(
        f'<li><a href="{escape(link.get("href", ""))}">{escape(link.get("title") or link.get("rel", ""))}'
        f"</a> <small>({escape(link.get('rel', ''))})</small></li>"
        for link in links
        if isinstance(link, dict)
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f"<p><a href='{escape(json_url)}'>JSON</a></p>"
        + (f"<h2>Links</h2><ul>{items}</ul>" if items else "")
        + str(_value(body))
        + "</body></html>"
    )


def _value(value: Any, depth: int = 0) -> Markup:
    if depth > 6:
        return Markup("<pre>{}</pre>").format(json.dumps(value, indent=1, default=str))
    if isinstance(value, dict):
        if not value:
            return Markup("")
        rows = Markup("").join(
            Markup("<tr><th>{}</th><td>{}</td></tr>").format(key, _value(item, depth + 1))
            for key, item in value.items()
        )
        return Markup("<table>{}</table>").format(rows)
    if isinstance(value, list):
        if all(isinstance(v, str | int | float | bool) for v in value):
            return Markup("{}").format(", ".join(map(str, value)))
        return Markup("").join(_value(v, depth + 1) for v in value)
    text = str(value)
    if text.startswith(("http://", "https://")):
        return Markup('<a href="{}">{}</a>').format(text, text)
    return Markup("{}").format(text)

"""Checks of a service's API document and its Swagger UI page, shared by the unit tests (a
department app in-process) and the integration tests (a real orchestrator worker)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

# The OpenAPI document's URL as the page's script names it (SwaggerUIBundle({url: '...'})).
_SCRIPT_URL = re.compile(r"""\burl:\s*['"]([^'"]+)['"]""")


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def page_urls(html: str) -> list[str]:
    """Every URL a page loads: its ``src`` and ``href`` attributes and the ``url:`` its
    inline script hands Swagger UI."""
    parser = _Assets()
    parser.feed(html)
    found = list(parser.urls)
    for script in parser.scripts:
        found.extend(_SCRIPT_URL.findall(script))
    return found


def foreign_or_broken_assets(html: str, status_of: Callable[[str], int]) -> list[str]:
    """The URLs of ``html`` that name another host (or scheme), or that the service does not
    answer with 200 (``status_of(path)`` asks the service). Empty: the page works offline."""
    problems = []
    urls = page_urls(html)
    if not urls:
        return ["the page loads nothing: not Swagger UI"]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not url.startswith("/"):
            problems.append(f"{url}: not on this service")
            continue
        status = status_of(url)
        if status != 200:
            problems.append(f"{url}: answered {status}")
    return problems


def incomplete_operations(document: dict[str, Any]) -> list[str]:
    """Operations of an OpenAPI document without a summary, a description, or a schema for a
    success answer."""
    problems = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            label = f"{method.upper()} {path}"
            for field in ("summary", "description"):
                if not str(operation.get(field, "")).strip():
                    problems.append(f"{label}: no {field}")
            successes = {
                status: answer
                for status, answer in operation["responses"].items()
                if str(status).startswith("2")
            }
            schemas = [
                media.get("schema")
                for answer in successes.values()
                for media in answer.get("content", {}).values()
            ]
            if not schemas or not all(schemas):
                problems.append(f"{label}: no schema for {sorted(successes)}")
    return problems


def undeclared_retry_headers(document: dict[str, Any]) -> list[str]:
    """429 and 503 answers that do not declare ``Retry-After`` (a 429, the RateLimit headers
    too)."""
    wanted = {
        "429": {
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "RateLimit-Policy",
        },
        "503": {"Retry-After"},
    }
    problems = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status, headers in wanted.items():
                answer = operation["responses"].get(status)
                if answer is None:
                    continue
                missing = headers - set(answer.get("headers", {}))
                if missing:
                    problems.append(f"{method.upper()} {path} {status}: {sorted(missing)}")
    return problems

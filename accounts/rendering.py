"""Response helpers every app's views share: full page or the HTMX partial asked for, and redirects that
work inside an HTMX swap."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse


def is_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(request, template: str, context: dict, partial: str | None = None, status: int = 200):
    name = f"{template}#{partial}" if partial and is_partial(request) else template
    return TemplateResponse(request, name, context, status=status)


def hx_redirect(request, url: str) -> HttpResponse:
    if getattr(request, "htmx", None):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)

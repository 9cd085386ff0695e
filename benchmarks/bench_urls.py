"""URLs for the HTTP load benchmark: the product's own, plus a bare page rendered from a template through
the same frame (base.html, no queries of its own) to compare the overview against."""

from django.template.response import TemplateResponse
from django.urls import include, path


def bare(request):
    return TemplateResponse(request, "403.html", {}, status=200)


urlpatterns = [path("__bare__/", bare), path("", include("config.urls"))]

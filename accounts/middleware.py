"""Request scoping (organization, language, time zone) and the HTMX response conventions."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import caching, scoping


class OrganizationMiddleware:
    """Resolve ``/o/<org_slug>/`` to an organization the user belongs to, and scope the request to it.

    Not a member (or no such organization) is the same 404. The scope is reset in ``finally`` so a
    worker thread never carries one request's organization into the next.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        request.membership = None
        token = scoping._current_organization.set(None)
        try:
            user_language = getattr(request.user, "language", "") if request.user.is_authenticated else ""
            if user_language:
                self._activate_language(request, user_language)
            return self.get_response(request)
        finally:
            scoping._current_organization.reset(token)
            timezone.deactivate()

    def process_view(self, request, view_func, view_args, view_kwargs):
        slug = view_kwargs.get("org_slug")
        if slug is None:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))
        membership = caching.membership_for(user=request.user, slug=slug)
        if membership is None:
            raise Http404(_("No such organization."))
        organization = membership.organization
        request.organization = organization
        request.membership = membership
        scoping._current_organization.set(organization)
        timezone.activate(organization.time_zone)
        self._activate_language(request, request.user.language or organization.default_language)
        if request.session.get("last_org_slug") != organization.slug:  # a write only when it changes
            request.session["last_org_slug"] = organization.slug
        return None

    @staticmethod
    def _activate_language(request, language):
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


ERROR_MESSAGES = {
    400: gettext_lazy("The request could not be understood. Check the form and try again."),
    403: gettext_lazy("Your role in this organization does not allow this."),
    404: gettext_lazy("That page or item does not exist, or it belongs to another organization."),
    405: gettext_lazy("That action is not allowed here."),
    429: gettext_lazy("Too many attempts. Wait a minute and try again."),
}


class HtmxResponseMiddleware:
    """HTMX conventions in one place.

    - ``Vary: HX-Request`` on every response, so a cached partial is never shown as a page on Back.
    - A redirect to the login page on an HTMX request becomes ``HX-Redirect`` (a full-page load),
      instead of the login form swapped into a panel.
    - An error on an HTMX request is answered with a short message swapped into the page's message
      area, instead of a blank or half-page panel.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        htmx = getattr(request, "htmx", None)
        if not htmx:
            return response
        if response.status_code in (301, 302) and self._is_login_redirect(response):
            location = response["Location"]
            response = HttpResponse(status=204)
            response["HX-Redirect"] = location
            patch_vary_headers(response, ("HX-Request",))
            return response
        if response.status_code >= 400 and not response.get("HX-Retarget"):
            message = ERROR_MESSAGES.get(
                response.status_code,
                gettext_lazy("Something went wrong on our side. It has been logged; try again."),
            )
            html = render_to_string(
                "partials/error_message.html",
                {"message": message, "status": response.status_code},
                request=request,
            )
            error = HttpResponse(html, status=response.status_code)
            error["HX-Retarget"] = "#messages"
            error["HX-Reswap"] = "beforeend"
            patch_vary_headers(error, ("HX-Request",))
            return error
        return response

    @staticmethod
    def _is_login_redirect(response):
        login_path = resolve_url(settings.LOGIN_URL)
        return response.get("Location", "").startswith(login_path)

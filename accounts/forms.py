from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import TIME_ZONES, Organization, Role


class SignupForm(forms.Form):
    """Extra fields on allauth's signup form."""

    field_order = ["name", "email", "password1", "password2"]

    name = forms.CharField(label=_("Your name"), max_length=150)

    def signup(self, request, user):
        """allauth calls this after the user is saved; the adapter already stored the name."""


class OrganizationForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=[(tz, tz) for tz in TIME_ZONES], initial="UTC")

    class Meta:
        model = Organization
        fields = ["name", "home_currency", "time_zone", "default_language", "data_region"]


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False)

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction
from django.shortcuts import resolve_url

from accounts import services


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        user.name = form.cleaned_data.get("name", "")
        if getattr(request, "LANGUAGE_CODE", "") in ("en", "zh-hans"):
            user.language = request.LANGUAGE_CODE
        if commit:
            with transaction.atomic():
                user.save()
                services.personal_organization_create(user=user)
        return user

    def get_login_redirect_url(self, request):
        return resolve_url("home")

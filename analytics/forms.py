"""Forms of the Profit page: a unit cost, a fee row, a tax row, a cost CSV upload."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from analytics.labels import PLATFORMS
from analytics.profit import valid_currency

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class CurrencyField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=3, min_length=3, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        code = valid_currency(value)
        if code is None:
            raise forms.ValidationError(_("Enter an ISO 4217 currency code, such as USD or CNY."))
        return code


class CostForm(forms.Form):
    sku = forms.CharField(label=_("SKU"), max_length=128)
    marketplace = forms.CharField(
        label=_("Marketplace"), max_length=64, required=False, help_text=_("Empty: every marketplace.")
    )
    unit_cost = forms.DecimalField(label=_("Unit cost"), max_digits=14, decimal_places=4, min_value=Decimal(0))
    currency = CurrencyField(label=_("Currency"))

    def clean_sku(self):
        return self.cleaned_data["sku"].strip()

    def clean_marketplace(self):
        return self.cleaned_data["marketplace"].strip()


class FeeForm(forms.Form):
    platform = forms.ChoiceField(label=_("Platform"), choices=list(PLATFORMS.items()))
    marketplace = forms.CharField(
        label=_("Marketplace"), max_length=64, required=False, help_text=_("Empty: every marketplace of the platform.")
    )
    referral_pct = forms.DecimalField(
        label=_("Referral or commission %"),
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    fixed_per_order = forms.DecimalField(
        label=_("Fixed fee per order"), max_digits=12, decimal_places=4, min_value=Decimal(0)
    )
    fulfilment_per_unit = forms.DecimalField(
        label=_("Fulfilment fee per unit"), max_digits=12, decimal_places=4, min_value=Decimal(0)
    )
    currency = CurrencyField(label=_("Currency"))
    source = forms.CharField(label=_("Source"), max_length=500, required=False)

    def clean_marketplace(self):
        return self.cleaned_data["marketplace"].strip()


class TaxForm(forms.Form):
    marketplace = forms.CharField(label=_("Marketplace"), max_length=64)
    rate_pct = forms.DecimalField(
        label=_("Rate %"),
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    prices_include_tax = forms.BooleanField(label=_("Prices include it"), required=False)
    source = forms.CharField(label=_("Source"), max_length=500, required=False)

    def clean_marketplace(self):
        return self.cleaned_data["marketplace"].strip()


class CostUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Cost file (CSV)"),
        help_text=_("Columns: sku,marketplace,unit_cost,currency. An empty marketplace applies everywhere."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        return upload

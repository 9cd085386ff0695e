import re

from django import forms
from django.utils.translation import gettext_lazy as _

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class ConnectForm(forms.Form):
    region = forms.CharField(label=_("Region"), required=False, max_length=8)
    shop = forms.CharField(label=_("Shop domain"), required=False, help_text=_("your-shop.myshopify.com"))

    def __init__(self, *args, platform: str, regions=(), asks_for_shop=False, **kwargs):
        self.platform = platform
        self.regions = [value for value, _label in regions]
        self.asks_for_shop = asks_for_shop
        super().__init__(*args, **kwargs)

    def clean_region(self):
        region = self.cleaned_data["region"]
        if self.regions and region not in self.regions:
            raise forms.ValidationError(_("Choose a region from the list."))
        return region if self.regions else ""

    def clean_shop(self):
        shop = self.cleaned_data["shop"].strip().lower().removeprefix("https://").rstrip("/")
        if not self.asks_for_shop:
            return ""
        if shop and "." not in shop:
            shop = f"{shop}.myshopify.com"
        if not SHOP_DOMAIN.match(shop):
            raise forms.ValidationError(_("Enter your shop's address, like your-shop.myshopify.com."))
        return shop


class DisconnectForm(forms.Form):
    delete_history = forms.BooleanField(label=_("Also delete the data this account loaded"), required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Report file (CSV or XLSX)"))
    marketplace = forms.CharField(
        label=_("Marketplace"),
        required=False,
        max_length=32,
        help_text=_("e.g. US, DE, JP — used when the file does not say."),
    )

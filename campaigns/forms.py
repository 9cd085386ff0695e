"""Forms of the keyword tools. Thresholds a seller leaves empty take the tool's defaults, so a form posted
without them (the "Harvest selected" button of the search-term table) still runs."""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.keywords.harvest import HarvestThresholds

MAX_SELECTED_TERMS = 500


def _percent(value: Decimal | None) -> float | None:
    return None if value is None else float(value) / 100


class ThresholdForm(forms.Form):
    """A form whose empty fields fall back to ``defaults`` (field name -> value)."""

    defaults: dict = {}
    id_prefix = "tool"  # both tool forms share a page: their field ids must differ

    def __init__(self, *args, defaults: dict | None = None, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)
        self.defaults = {**self.defaults, **(defaults or {})}
        for name, value in self.defaults.items():
            if value is not None:
                self.fields[name].widget.attrs.setdefault("placeholder", str(value))
                self.fields[name].initial = value

    def clean(self):
        cleaned = super().clean()
        for name, value in self.defaults.items():
            if cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = value
        return cleaned


class HarvestForm(ThresholdForm):
    """When a search term has proven itself, and how to bid on it."""

    id_prefix = "harvest"
    defaults = {
        "min_orders": 2,
        "min_clicks": 5,
        "max_acos": None,
        "target_acos": Decimal("30"),
        "min_bid": Decimal("0.10"),
        "max_bid": Decimal("5.00"),
    }
    # a term the seller picks by hand needs only to have sold once
    selected_defaults = {"min_orders": 1, "min_clicks": 1}

    min_orders = forms.IntegerField(label=_("Minimum orders"), min_value=0, required=False)
    min_clicks = forms.IntegerField(label=_("Minimum clicks"), min_value=0, required=False)
    max_acos = forms.DecimalField(
        label=_("Maximum ACoS (%)"),
        min_value=Decimal("0"),
        max_digits=7,
        decimal_places=2,
        required=False,
        help_text=_("Leave empty for no limit."),
    )
    target_acos = forms.DecimalField(
        label=_("Target ACoS (%)"), min_value=Decimal("0.01"), max_digits=7, decimal_places=2, required=False
    )
    min_bid = forms.DecimalField(
        label=_("Minimum bid"), min_value=Decimal("0.01"), max_digits=12, decimal_places=2, required=False
    )
    max_bid = forms.DecimalField(
        label=_("Maximum bid"),
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text=_("Bids are in each ad account's own currency."),
    )

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_bid"), cleaned.get("max_bid")
        if low is not None and high is not None and low > high:
            self.add_error("max_bid", _("The maximum bid must be at least the minimum bid."))
        return cleaned

    def thresholds(self) -> HarvestThresholds:
        data = self.cleaned_data
        return HarvestThresholds(
            min_orders=data["min_orders"],
            min_clicks=data["min_clicks"],
            max_acos=_percent(data["max_acos"]),
            target_acos=_percent(data["target_acos"]),
            min_bid=float(data["min_bid"]),
            max_bid=float(data["max_bid"]),
        )


class NegativesForm(ThresholdForm):
    """When a search term has spent enough without an order to be blocked."""

    id_prefix = "negatives"
    defaults = {"min_clicks": 10, "min_spend": None}

    min_clicks = forms.IntegerField(label=_("Minimum clicks"), min_value=1, required=False)
    min_spend = forms.DecimalField(
        label=_("Minimum spend"),
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text=_("In each ad account's own currency. Leave empty for any spend."),
    )

    def parameters(self) -> dict:
        spend = self.cleaned_data["min_spend"]
        return {"min_clicks": self.cleaned_data["min_clicks"], "min_spend": None if spend is None else float(spend)}


def term_value(*, channel: str, account_id: str, campaign_id: str, search_term: str) -> str:
    """The value of a search-term row's checkbox: what "Harvest selected" sends back."""
    return json.dumps([channel, account_id, campaign_id, search_term], ensure_ascii=False)


def selected_terms(values: list[str]) -> list[tuple[str, str, str, str]]:
    """The (channel, account_id, campaign_id, search term) of the checked rows; malformed values are dropped."""
    terms = []
    for value in values[:MAX_SELECTED_TERMS]:
        try:
            parts = json.loads(value)
        except ValueError:
            continue
        if isinstance(parts, list) and len(parts) == 4 and all(isinstance(part, str) for part in parts):
            terms.append(tuple(parts))
    return list(dict.fromkeys(terms))

"""The Compliance page: paste an ad text, choose markets, channel and language, and see each finding in place
with its explanation, fix and source (checked again as the seller types)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.permissions import Perm, require
from accounts.rendering import render_page
from compliance import services

CHANNEL_CHOICES = [
    ("amazon_ads", _("Amazon Ads")),
    ("amazon_listing", _("Amazon listing")),
    ("google_ads", _("Google Ads")),
    ("meta_ads", _("Meta (Facebook, Instagram)")),
    ("tiktok_ads", _("TikTok Ads")),
    ("shopee", _("Shopee")),
    ("tiktok_shop", _("TikTok Shop")),
    ("ebay", _("eBay")),
    ("web", _("Own store or website")),
]
LANGUAGE_CHOICES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("pt", "Português"),
    ("ar", "العربية"),
    ("id", "Bahasa Indonesia"),
    ("ms", "Bahasa Melayu"),
    ("th", "ไทย"),
    ("zh", "中文"),
    ("ja", "日本語"),
    ("ko", "한국어"),
]
MAX_TEXT = 5000


class CheckForm(forms.Form):
    text = forms.CharField(label=_("Ad text"), max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 6}))
    markets = forms.CharField(
        label=_("Markets"),
        max_length=200,
        initial="US",
        help_text=_("Country codes separated by commas, or EU / GCC, e.g. DE,FR"),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=CHANNEL_CHOICES, initial="amazon_ads")
    language = forms.ChoiceField(label=_("Language of the text"), choices=LANGUAGE_CHOICES, initial="en")


def highlighted(text: str, findings: list[dict]) -> list[dict]:
    """The text cut into plain and flagged pieces (overlapping findings merge into one flagged piece that
    names them all), for the template to draw without marking anything safe."""
    spans = sorted((f["start"], f["end"], f) for f in findings if 0 <= f["start"] < f["end"] <= len(text))
    pieces, position = [], 0
    for start, end, finding in spans:
        if pieces and pieces[-1]["findings"] and start < pieces[-1]["end"]:
            last = pieces[-1]
            last["end"] = max(last["end"], end)
            last["text"] = text[last["start"] : last["end"]]
            last["findings"].append(finding)
            last["severity"] = "block" if "block" in (last["severity"], finding["severity"]) else "warn"
            position = last["end"]
            continue
        if start > position:
            pieces.append({"text": text[position:start], "start": position, "end": start, "findings": []})
        start = max(start, position)
        piece = {"text": text[start:end], "start": start, "end": end, "findings": [finding]}
        pieces.append({**piece, "severity": finding["severity"]})
        position = end
    if position < len(text):
        pieces.append({"text": text[position:], "start": position, "end": len(text), "findings": []})
    return pieces


@require_GET
@require(Perm.VIEW)
def check_page(request, org_slug):
    form = CheckForm(request.GET or None, initial={"markets": _default_markets(request)})
    result, error = None, ""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.ad_text_check(
                text=data["text"], markets=data["markets"], channel=data["channel"], language=data["language"]
            )
        except ValueError as exc:
            error = str(exc)
    context = {
        "form": form,
        "result": result,
        "error": error,
        "pieces": highlighted(form.cleaned_data["text"], result.findings) if result else [],
    }
    return render_page(request, "compliance/check.html", context, partial="compliance-result")


def _default_markets(request) -> str:
    """The organization's region as a first guess; the seller changes it per text."""
    region = (getattr(request.organization, "data_region", "") or "").lower()
    return {"eu": "DE", "sg": "SG", "us": "US"}.get(region, "US")

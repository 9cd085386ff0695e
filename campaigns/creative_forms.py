"""Forms of the creative pages: a new A/B test, an ad copy brief and its drafts, and keyword localization.

Choices that name the organization's own objects (campaigns, ad groups, converting search terms, destination
ad groups) are passed in by the view from scoped selectors, so a posted id of another organization is simply
not a valid choice."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics.labels import channel_label
from campaigns.copy.templates import CHANNEL_LIMITS, SUPPORTED_LANGUAGES, TONES, resolve_language
from campaigns.creative_selectors import VariantTarget
from campaigns.experiments import METRICS
from campaigns.keywords.text import marketplace_language
from campaigns.models import AdGroup, Channel
from campaigns.services.creative import KEYWORD_MATCH_TYPES, MAX_VARIANTS, VariantInput, copy_length_errors

VARIANT_LETTERS = "ABCD"
MAX_FEATURES = 10
MAX_LOCALIZE_KEYWORDS = 50

LANGUAGE_LABELS = {
    "en": _("English"),
    "es": _("Spanish"),
    "ar": _("Arabic"),
    "de": _("German"),
    "fr": _("French"),
    "it": _("Italian"),
    "pt": _("Portuguese"),
    "ja": _("Japanese"),
    "ko": _("Korean"),
    "id": _("Indonesian"),
    "th": _("Thai"),
    "zh-Hans": _("Simplified Chinese"),
}
LANGUAGE_CHOICES = [(code, LANGUAGE_LABELS[code]) for code in SUPPORTED_LANGUAGES]
MARKETS = (
    "US", "CA", "MX", "BR", "UK", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "ES", "IT", "PT", "PL", "SE", "TR",
    "AE", "SA", "EG", "IN", "SG", "MY", "ID", "TH", "PH", "VN", "JP", "KR", "CN", "AU",
)  # fmt: skip
METRIC_LABELS = {
    "ctr": _("Click-through rate (clicks per impression)"),
    "cvr": _("Conversion rate (orders per click)"),
    "rpc": _("Revenue per click"),
    "roas": _("ROAS (sales per unit spent)"),
}
TONE_LABELS = {"neutral": _("Neutral"), "friendly": _("Friendly"), "premium": _("Premium")}
MATCH_TYPE_LABELS = {"EXACT": _("Exact"), "PHRASE": _("Phrase"), "BROAD": _("Broad")}
LOCALIZE_DAY_CHOICES = ((30, _("Last 30 days")), (60, _("Last 60 days")), (90, _("Last 90 days")))


def language_for_marketplace(marketplace: str) -> str:
    """The copy language code shoppers of ``marketplace`` search in (``CN`` -> ``zh-Hans``); English if unknown."""
    try:
        return resolve_language(marketplace_language(marketplace))
    except ValueError:
        return "en"


def _percent(value: Decimal | None) -> float | None:
    return None if value is None else float(value) / 100


# --- A/B tests ------------------------------------------------------------------------------------------------


class ExperimentForm(forms.Form):
    """A new test: what to compare, on which metric, and the plan's inputs. Variant 1 is the control."""

    name = forms.CharField(label=_("Name"), max_length=120)
    channel = forms.ChoiceField(label=_("Channel"))
    metric = forms.ChoiceField(label=_("Metric"), choices=[(m, METRIC_LABELS[m]) for m in METRICS], initial="ctr")
    baseline_rate = forms.DecimalField(
        label=_("Baseline rate (%)"),
        min_value=Decimal("0.0001"),
        max_value=Decimal("99.9999"),
        max_digits=7,
        decimal_places=4,
        help_text=_(
            "Clicks per impression for CTR, orders per click for the other metrics; filled in from the channel's "
            "last 30 days when there is data."
        ),
    )
    minimum_effect = forms.DecimalField(
        label=_("Smallest lift worth detecting (%)"),
        initial=Decimal("10"),
        min_value=Decimal("1"),
        max_value=Decimal("500"),
        max_digits=5,
        decimal_places=1,
        help_text=_("A smaller lift needs a much larger test: half the lift, about four times the traffic."),
    )
    baseline_for = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, channels: Sequence[str] = (), targets: Sequence[VariantTarget] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [(c, channel_label(c)) for c in channels]
        source = self.data if self.is_bound else self.initial
        channel = source.get("channel") or (channels[0] if channels else "")
        self.targets = {t.key: t for t in targets if t.channel == channel}
        grouped: dict[str, list[tuple[str, str]]] = {}
        for target in self.targets.values():
            label = (
                _("Whole campaign (%(id)s)") % {"id": target.campaign_id}
                if not target.ad_group_id
                else f"{target.ad_group_name} ({target.ad_group_id})"
            )
            grouped.setdefault(target.campaign_name, []).append((target.key, label))
        choices = [("", "---------"), *grouped.items()]
        for index in range(1, MAX_VARIANTS + 1):
            self.fields[f"variant_{index}"] = forms.ChoiceField(
                label=_("Variant %(letter)s") % {"letter": VARIANT_LETTERS[index - 1]}
                if index > 1
                else _("Variant A (control)"),
                choices=choices,
                required=index <= 2,
            )
            self.fields[f"variant_{index}_name"] = forms.CharField(
                label=_("Name of variant %(letter)s") % {"letter": VARIANT_LETTERS[index - 1]},
                max_length=120,
                required=False,
                widget=forms.TextInput(attrs={"placeholder": VARIANT_LETTERS[index - 1]}),
            )

    def variant_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """(target field, name field) per variant, for the template."""
        return [(self[f"variant_{i}"], self[f"variant_{i}_name"]) for i in range(1, MAX_VARIANTS + 1)]

    def clean(self):
        cleaned = super().clean()
        variants: list[VariantInput] = []
        chosen: list[VariantTarget] = []
        for index in range(1, MAX_VARIANTS + 1):
            key = cleaned.get(f"variant_{index}")
            if not key:
                continue
            target = self.targets[key]
            if any(t.key == key for t in chosen):
                self.add_error(f"variant_{index}", _("Each variant needs its own campaign or ad group."))
                continue
            if any(
                t.campaign_id == target.campaign_id and bool(t.ad_group_id) != bool(target.ad_group_id) for t in chosen
            ):
                self.add_error(
                    f"variant_{index}",
                    _("A campaign and one of its own ad groups share traffic: choose one or the other."),
                )
                continue
            chosen.append(target)
            name = (cleaned.get(f"variant_{index}_name") or "").strip() or VARIANT_LETTERS[index - 1]
            if any(v.name == name for v in variants):
                self.add_error(f"variant_{index}_name", _("Give each variant its own name."))
                continue
            variants.append(VariantInput(name=name, campaign_id=target.campaign_id, ad_group_id=target.ad_group_id))
        cleaned["variants"] = variants
        rate, lift = _percent(cleaned.get("baseline_rate")), _percent(cleaned.get("minimum_effect"))
        if rate is not None and lift is not None and rate * (1 + lift) >= 1:
            self.add_error(
                "minimum_effect",
                _("The baseline rate raised by this lift would reach %(limit)s: choose a smaller lift.")
                % {"limit": "100%"},
            )
        cleaned["rate"], cleaned["lift"] = rate, lift
        return cleaned


# --- ad copy --------------------------------------------------------------------------------------------------


class CopyBriefForm(forms.Form):
    """What the seller tells us about the product, and where the ad runs."""

    title = forms.CharField(label=_("Product title"), max_length=200)
    brand = forms.CharField(label=_("Brand"), max_length=80, required=False)
    features = forms.CharField(
        label=_("Features"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line. The copy states these facts and nothing else."),
    )
    audience = forms.CharField(label=_("Audience"), max_length=80, required=False)
    market = forms.ChoiceField(label=_("Market"), choices=[(m, m) for m in MARKETS], initial="US")
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES, initial="en")
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[(c, Channel(c).label) for c in CHANNEL_LIMITS], initial="google_ads"
    )
    tone = forms.ChoiceField(label=_("Tone"), choices=[(t, TONE_LABELS[t]) for t in TONES], initial="neutral")

    def clean_features(self) -> list[str]:
        lines = [line.strip() for line in (self.cleaned_data.get("features") or "").splitlines()]
        lines = [line for line in lines if line]
        if len(lines) > MAX_FEATURES:
            raise forms.ValidationError(_("At most %(count)s features.") % {"count": MAX_FEATURES})
        return lines


class CopyTextForm(forms.Form):
    """A headline and body, checked against the channel's limits."""

    headline = forms.CharField(label=_("Headline"), max_length=300, required=False)
    body = forms.CharField(label=_("Text"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, channel: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel

    def clean(self):
        cleaned = super().clean()
        channel = cleaned.get("channel", self.channel)
        if channel in CHANNEL_LIMITS and not self.errors:
            headline = " ".join((cleaned.get("headline") or "").split())
            body = " ".join((cleaned.get("body") or "").split())
            cleaned["headline"], cleaned["body"] = headline, body
            for field, message in copy_length_errors(channel=channel, headline=headline, body=body).items():
                self.add_error(field, message)
        return cleaned


class CopyDraftForm(CopyTextForm):
    """A generated (and maybe edited) draft on its way to being saved: the text and where it is for."""

    product = forms.CharField(max_length=200, widget=forms.HiddenInput)
    market = forms.ChoiceField(choices=[(m, m) for m in MARKETS], widget=forms.HiddenInput)
    language = forms.ChoiceField(choices=LANGUAGE_CHOICES, widget=forms.HiddenInput)
    channel = forms.ChoiceField(choices=[(c, c) for c in CHANNEL_LIMITS], widget=forms.HiddenInput)
    provider = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


# --- keyword localization -------------------------------------------------------------------------------------


class LocalizeForm(forms.Form):
    """Keywords to translate: converting search terms of one marketplace, pasted ones, or both."""

    source_marketplace = forms.ChoiceField(label=_("Converting in"), required=False)
    days = forms.TypedChoiceField(label=_("Period"), choices=LOCALIZE_DAY_CHOICES, coerce=int, initial=90)
    keyword = forms.MultipleChoiceField(
        label=_("Converting search terms"), required=False, widget=forms.CheckboxSelectMultiple
    )
    pasted = forms.CharField(
        label=_("Or paste keywords"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line."),
    )
    source_language = forms.ChoiceField(label=_("Written in"), choices=LANGUAGE_CHOICES, initial="en")
    target_marketplace = forms.ChoiceField(label=_("For marketplace"))
    target_language = forms.ChoiceField(
        label=_("Into"),
        required=False,
        choices=[("", _("The marketplace's language")), *LANGUAGE_CHOICES],
    )

    def __init__(
        self,
        *args,
        source_marketplaces: Sequence[str] = (),
        target_marketplaces: Sequence[str] = (),
        keywords: Sequence[str] = (),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.fields["source_marketplace"].choices = [("", _("Pasted keywords only"))] + [
            (m, m) for m in source_marketplaces
        ]
        self.fields["target_marketplace"].choices = [(m, m) for m in target_marketplaces]
        self.fields["keyword"].choices = [(k, k) for k in keywords]

    def clean(self):
        cleaned = super().clean()
        pasted = [line.strip() for line in (cleaned.get("pasted") or "").splitlines()]
        keywords = list(dict.fromkeys([*(cleaned.get("keyword") or []), *(line for line in pasted if line)]))
        if not keywords:
            raise forms.ValidationError(_("Tick converting search terms or paste keywords to translate."))
        if len(keywords) > MAX_LOCALIZE_KEYWORDS:
            raise forms.ValidationError(_("At most %(count)s keywords at a time.") % {"count": MAX_LOCALIZE_KEYWORDS})
        cleaned["keywords"] = keywords
        target = cleaned.get("target_marketplace")
        if target:
            cleaned["target_language"] = cleaned.get("target_language") or language_for_marketplace(target)
            if cleaned["target_language"] == cleaned.get("source_language"):
                self.add_error("target_language", _("The keywords are already in that language."))
        return cleaned


class ProposeKeywordsForm(forms.Form):
    """Where translated keywords go, with which match type and bid; the carried translation settings."""

    destination = forms.ChoiceField(label=_("Add to ad group"))
    match_type = forms.ChoiceField(
        label=_("Match type"), choices=[(m, MATCH_TYPE_LABELS[m]) for m in KEYWORD_MATCH_TYPES], initial="EXACT"
    )
    bid = forms.DecimalField(
        label=_("Bid"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=10,
        decimal_places=2,
        help_text=_("Empty: the ad group's default bid."),
    )
    source_language = forms.ChoiceField(choices=LANGUAGE_CHOICES, widget=forms.HiddenInput)
    target_language = forms.ChoiceField(choices=LANGUAGE_CHOICES, widget=forms.HiddenInput)
    target_marketplace = forms.CharField(max_length=32, widget=forms.HiddenInput)
    source_marketplace = forms.CharField(max_length=32, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, destinations: Sequence[AdGroup] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [
            (
                str(group.pk),
                f"{channel_label(group.campaign.ad_account.channel)} · {group.campaign.name} › {group.name}",
            )
            for group in destinations
        ]

    @staticmethod
    def rows(data, *, limit: int = MAX_LOCALIZE_KEYWORDS) -> list[tuple[str, str]]:
        """The ticked ``(source, translation)`` pairs of a posted form (``include`` holds their row numbers)."""
        ticked = []
        for value in data.getlist("include")[:limit]:
            if not value.isdigit():
                continue
            source = (data.get(f"source_{value}") or "").strip()
            translation = (data.get(f"translation_{value}") or "").strip()
            if source and translation:
                ticked.append((source, translation))
        return list(dict.fromkeys(ticked))

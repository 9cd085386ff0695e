"""The Bids & budgets page (run the bid proposer or the budget allocator, preview their latest proposals) and
the market calendar (upcoming events per marketplace with budget and bid suggestions, and the seller's own
events such as Prime Day).

Who may do what (checked in each view, so a partial requested directly is refused too): every member sees
both pages (``Perm.VIEW``); running a tool and entering or removing a seller event need
``Perm.EDIT_CAMPAIGNS``. A run only proposes: the changes wait for approval on the Changes page.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import hx_redirect, is_partial, render_page
from accounts.scoping import get_org_object_or_404
from analytics.labels import channel_label
from analytics.query import today_in
from campaigns import calendar
from campaigns import optimize_selectors as selectors
from campaigns.models import Proposal, ProposalKind, SellerEvent, ToolRun
from campaigns.services import optimize as services

PAGE_TEMPLATE = "campaigns/optimize/page.html"
CALENDAR_TEMPLATE = "campaigns/optimize/calendar.html"
PREVIEW_ROWS = 50
CALENDAR_DAYS = 90
CALENDAR_DAY_CHOICES = (30, 60, 90, 180, 365)
MAX_CALENDAR_DAYS = 366
MAX_SELLER_EVENT_DAYS = 31
WINDOW_DAYS = 30
# The Changes page, where proposals are approved: the first of these URL names that exists.
CHANGES_URL_NAMES = ("campaigns_changes", "changes")


# --- forms ----------------------------------------------------------------------------------------------------


class BidRunForm(forms.Form):
    """The seller's goal and guardrails for a bid run."""

    ACOS, ROAS, PROFIT = "acos", "roas", "profit"
    GOALS = (
        (ACOS, gettext_lazy("Target ACoS (%)")),
        (ROAS, gettext_lazy("Target ROAS (sales per 1 spent)")),
        (PROFIT, gettext_lazy("Profit margin after ads (%)")),
    )
    goal = forms.ChoiceField(label=gettext_lazy("Goal"), choices=GOALS, initial=ACOS, widget=forms.RadioSelect)
    target = forms.DecimalField(
        label=gettext_lazy("Target"),
        initial=Decimal("25"),
        max_digits=8,
        decimal_places=2,
        help_text=gettext_lazy(
            "ACoS and profit margin in percent, ROAS as a multiple. The profit margin needs product costs and "
            "fees on the Profit page."
        ),
    )
    min_bid = forms.DecimalField(
        label=gettext_lazy("Minimum bid"),
        initial=Decimal("0.02"),
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=2,
        help_text=gettext_lazy("In each ad account's currency."),
    )
    max_bid = forms.DecimalField(
        label=gettext_lazy("Maximum bid"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=10,
        decimal_places=2,
        help_text=gettext_lazy("Optional, in each ad account's currency."),
    )
    max_step = forms.IntegerField(
        label=gettext_lazy("Largest change per run (%)"), initial=20, min_value=1, max_value=90
    )
    ignore_last_days = forms.IntegerField(
        label=gettext_lazy("Leave out the last days"),
        required=False,
        min_value=0,
        max_value=WINDOW_DAYS - 1,
        help_text=gettext_lazy("Empty: as many days as each channel's platform still restates conversions."),
    )
    channels = forms.MultipleChoiceField(
        label=gettext_lazy("Channels"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every channel."),
    )

    def __init__(self, *args, channels: list[str] = (), **kwargs):
        super().__init__(*args, auto_id="bid_%s", **kwargs)  # ids unique next to the budget form
        self.fields["channels"].choices = [(channel, channel_label(channel)) for channel in channels]

    def clean(self):
        cleaned = super().clean()
        goal, target = cleaned.get("goal"), cleaned.get("target")
        if goal and target is not None:
            valid = {
                self.ACOS: Decimal(0) < target <= Decimal(200),
                self.ROAS: Decimal(0) < target <= Decimal(100),
                self.PROFIT: Decimal(0) <= target < Decimal(100),
            }[goal]
            if not valid:
                self.add_error("target", self._target_error(goal))
        min_bid, max_bid = cleaned.get("min_bid"), cleaned.get("max_bid")
        if min_bid is not None and max_bid is not None and max_bid < min_bid:
            self.add_error("max_bid", _("The maximum bid is below the minimum bid."))
        return cleaned

    def _target_error(self, goal: str) -> str:
        if goal == self.ACOS:
            return _("Enter a target ACoS above 0 and up to 200 %.")
        if goal == self.ROAS:
            return _("Enter a target ROAS above 0 and up to 100.")
        return _("Enter a profit margin from 0 to under 100 %.")

    def run_input(self, *, as_of: date | None = None) -> services.BidRunInput:
        data = self.cleaned_data
        target = float(data["target"])
        goal = {
            self.ACOS: {"target_acos": target / 100},
            self.ROAS: {"target_roas": target},
            self.PROFIT: {"profit_target_margin": target / 100},
        }[data["goal"]]
        return services.BidRunInput(
            **goal,
            min_bid=float(data["min_bid"]),
            max_bid=None if data["max_bid"] is None else float(data["max_bid"]),
            max_step=data["max_step"] / 100,
            ignore_last_days=data["ignore_last_days"],
            window_days=WINDOW_DAYS,
            channels=tuple(data["channels"]),
            as_of=as_of,
        )


class BudgetRunForm(forms.Form):
    """How much to spend per day in one currency, and over which channels."""

    currency = forms.ChoiceField(label=gettext_lazy("Currency"))
    daily_total = forms.DecimalField(
        label=gettext_lazy("Daily total"), min_value=Decimal("0.01"), max_digits=14, decimal_places=2
    )
    min_budget = forms.DecimalField(
        label=gettext_lazy("Minimum per campaign"),
        initial=services.DEFAULT_MIN_BUDGET,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        help_text=gettext_lazy("No campaign gets less (platforms refuse budgets below their own minimum)."),
    )
    channels = forms.MultipleChoiceField(
        label=gettext_lazy("Channels"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every channel."),
    )

    def __init__(self, *args, scopes: list[selectors.BudgetScope] = (), channels: list[str] = (), **kwargs):
        super().__init__(*args, auto_id="budget_%s", **kwargs)
        self.fields["currency"].choices = [
            (
                scope.currency,
                ngettext("%(currency)s (%(count)s campaign)", "%(currency)s (%(count)s campaigns)", scope.campaigns)
                % {"currency": scope.currency, "count": scope.campaigns},
            )
            for scope in scopes
        ]
        self.fields["channels"].choices = [(channel, channel_label(channel)) for channel in channels]
        if scopes and not self.is_bound:
            self.fields["currency"].initial = scopes[0].currency
            self.fields["daily_total"].initial = Decimal(str(scopes[0].total_budget)).quantize(Decimal("0.01"))


class SellerEventForm(forms.Form):
    """A date only the seller knows, in one marketplace."""

    key = forms.ChoiceField(label=gettext_lazy("Event"))
    marketplace = forms.ChoiceField(label=gettext_lazy("Marketplace"))
    start = forms.DateField(label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("Last day"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, marketplaces: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = list(selectors.SELLER_EVENT_NAMES.items())
        codes = sorted(set(marketplaces) | set(calendar.MARKET_EVENTS))
        self.fields["marketplace"].choices = [(code, code) for code in codes]
        if marketplaces and not self.is_bound:
            self.fields["marketplace"].initial = marketplaces[0]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end date is before the start date."))
            elif (end - start).days + 1 > MAX_SELLER_EVENT_DAYS:
                self.add_error("end", _("An event lasts at most %(days)s days.") % {"days": MAX_SELLER_EVENT_DAYS})
        return cleaned


# --- the Bids & budgets page ----------------------------------------------------------------------------------


def _percent(value) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def _number(value, places: int = 2) -> str:
    return "-" if value is None else f"{float(value):.{places}f}"


def _preview_row(proposal: Proposal) -> dict:
    """What the preview table shows of a proposal, formatted once here rather than per cell in the template."""
    evidence = proposal.evidence or {}
    row = {"proposal": proposal, "reason": proposal.reason, "currency": proposal.currency}
    if proposal.kind == ProposalKind.BID:
        change = evidence.get("change_pct")
        row.update(
            change="-" if change is None else f"{change:+.1f}%",
            clicks=evidence.get("clicks"),
            orders=evidence.get("orders"),
            acos=_percent(evidence.get("acos")),
            target_acos=_percent(evidence.get("target_acos")),
            ignored_days=evidence.get("ignored_days"),
        )
    else:
        shift = evidence.get("shift")
        row.update(
            change="-" if shift is None else f"{shift:+.2f}",
            p_best=_percent(evidence.get("p_best")),
            roas=_number(evidence.get("roas")),
            roas_range=f"{_number(evidence.get('roas_p05'))} - {_number(evidence.get('roas_p95'))}",
            spend=_number(evidence.get("spend")),
            orders=evidence.get("orders"),
        )
    return row


def _run_summary(run: ToolRun) -> list[str]:
    """Sentences about a run beyond its proposals: holds, campaigns left out and why."""
    summary = run.summary or {}
    notes = []
    if run.tool == ToolRun.Tool.BIDS:
        holds = summary.get("hold", 0)
        if holds:
            notes.append(
                ngettext(
                    "%(count)s keyword or target keeps its bid.",
                    "%(count)s keywords and targets keep their bids.",
                    holds,
                )
                % {"count": holds}
            )
        for channel, days in sorted((summary.get("ignored_days") or {}).items()):
            if days:
                notes.append(
                    ngettext(
                        "%(channel)s: the last %(days)s day was left out while the platform restates it.",
                        "%(channel)s: the last %(days)s days were left out while the platform restates them.",
                        days,
                    )
                    % {"channel": channel_label(channel), "days": days}
                )
        return notes
    left_out = summary.get("left_out") or {}
    for currency, count in sorted((left_out.get("other_currency") or {}).items()):
        notes.append(
            ngettext(
                "%(count)s campaign in %(currency)s was left out: one currency at a time.",
                "%(count)s campaigns in %(currency)s were left out: one currency at a time.",
                count,
            )
            % {"count": count, "currency": currency}
        )
    reasons = {
        "not_serving": lambda n: ngettext(
            "%(count)s paused or ended campaign was left out.", "%(count)s paused or ended campaigns were left out.", n
        ),
        "no_budget": lambda n: ngettext(
            "%(count)s campaign without a campaign-level budget was left out.",
            "%(count)s campaigns without a campaign-level budget were left out.",
            n,
        ),
        "lifetime_budget": lambda n: ngettext(
            "%(count)s campaign with a lifetime budget was left out.",
            "%(count)s campaigns with a lifetime budget were left out.",
            n,
        ),
    }
    for key, sentence in reasons.items():
        count = left_out.get(key) or 0
        if count:
            notes.append(sentence(count) % {"count": count})
    unchanged = summary.get("unchanged") or 0
    if unchanged:
        notes.append(
            ngettext(
                "%(count)s campaign would move by less than 1 %% and keeps its budget.",
                "%(count)s campaigns would move by less than 1 %% and keep their budgets.",
                unchanged,
            )
            % {"count": unchanged}
        )
    if summary.get("total_kept") is False:
        notes.append(_("The budgets kept as they are leave too little to share: the total is not met exactly."))
    return notes


def _page_context(request, *, bid_form: BidRunForm | None = None, budget_form: BudgetRunForm | None = None) -> dict:
    organization = request.organization
    can_run = has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS)
    runs = selectors.latest_runs(organization=organization, tools=[ToolRun.Tool.BIDS, ToolRun.Tool.BUDGETS])
    proposals = selectors.run_proposals(organization=organization, runs=runs.values(), limit=PREVIEW_ROWS)
    previews = [
        {
            "run": run,
            "rows": [_preview_row(proposal) for proposal in proposals.get(run.pk, [])],
            "notes": _run_summary(run),
            "more": max(0, run.proposed - len(proposals.get(run.pk, []))),
        }
        for tool in (ToolRun.Tool.BIDS, ToolRun.Tool.BUDGETS)
        if (run := runs.get(tool)) is not None
    ]
    context = {"can_run": can_run, "previews": previews, "changes_url": _changes_url(request)}
    if (can_run and not is_partial(request)) or bid_form is not None or budget_form is not None:
        channels = selectors.ad_channels(organization=organization)
        today = today_in(organization.time_zone)
        restated = selectors.provisional_days(
            organization=organization, as_of=today, channels=channels, window_days=WINDOW_DAYS
        )
        context.update(
            bid_form=bid_form or BidRunForm(channels=channels),
            budget_form=budget_form
            or BudgetRunForm(scopes=selectors.budget_scopes(organization=organization), channels=channels),
            restated=[(channel_label(channel), days) for channel, days in restated.items() if days],
            window_days=WINDOW_DAYS,
        )
    return context


def _changes_url(request, run: ToolRun | None = None) -> str | None:
    """The Changes page (filtered to ``run``), when that page is installed."""
    for name in CHANGES_URL_NAMES:
        try:
            url = reverse(name, kwargs={"org_slug": request.organization.slug})
        except NoReverseMatch:
            continue
        return f"{url}?{urlencode({'run': run.pk})}" if run is not None else url
    return None


@require_GET
@require(Perm.VIEW)
def optimize_page(request, org_slug):
    return render_page(request, PAGE_TEMPLATE, _page_context(request), partial="optimize-runs")


def _after_run(request, proposed) -> object:
    """Tell what the run proposed and go where the proposals are approved."""
    messages.success(
        request,
        ngettext(
            "%(count)s proposal waiting for approval.", "%(count)s proposals waiting for approval.", proposed.created
        )
        % {"count": proposed.created},
    )
    if proposed.skipped:
        messages.info(
            request,
            ngettext(
                "%(count)s change was already waiting for approval and was not proposed again.",
                "%(count)s changes were already waiting for approval and were not proposed again.",
                proposed.skipped,
            )
            % {"count": proposed.skipped},
        )
    url = _changes_url(request, proposed.run) or reverse("optimize", kwargs={"org_slug": request.organization.slug})
    return hx_redirect(request, url)


def _invalid(request, partial: str, **forms):
    """A form with its errors: the form again (an HTMX swap answers 200, as 4xx would become a message), or the
    whole page without JavaScript."""
    context = _page_context(request, **forms)
    if is_partial(request):
        return render_page(request, PAGE_TEMPLATE, context, partial=partial)
    return render_page(request, PAGE_TEMPLATE, context, status=400)


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def bids_run(request, org_slug):
    organization = request.organization
    form = BidRunForm(request.POST, channels=selectors.ad_channels(organization=organization))
    if form.is_valid():
        proposed = services.bids_run(organization=organization, actor=request.user, policy_input=form.run_input())
        return _after_run(request, proposed)
    return _invalid(request, "bid-form", bid_form=form)


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def budgets_run(request, org_slug):
    organization = request.organization
    form = BudgetRunForm(
        request.POST,
        scopes=selectors.budget_scopes(organization=organization),
        channels=selectors.ad_channels(organization=organization),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            proposed = services.budgets_run(
                organization=organization,
                actor=request.user,
                daily_total=data["daily_total"],
                currency=data["currency"],
                channels=tuple(data["channels"]),
                min_budget=data["min_budget"],
                window_days=WINDOW_DAYS,
            )
        except services.OptimizeError as exc:
            form.add_error(None, str(exc))
        else:
            return _after_run(request, proposed)
    return _invalid(request, "budget-form", budget_form=form)


# --- the market calendar --------------------------------------------------------------------------------------


def _calendar_filters(request) -> tuple[date, int, str]:
    """The first day (``?start=``, default today), the number of days ahead (``?days=``) and one marketplace
    (``?marketplace=``, empty for all); anything unreadable falls back to the default."""
    today = today_in(request.organization.time_zone)
    try:
        start = date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        start = today
    try:
        days = int(request.GET.get("days", CALENDAR_DAYS))
    except ValueError:
        days = CALENDAR_DAYS
    if not 1 <= days <= MAX_CALENDAR_DAYS:
        days = CALENDAR_DAYS
    marketplace = selectors.normalise_marketplace(request.GET.get("marketplace", ""))
    return start, days, marketplace


PHASE_LABELS = {
    calendar.RAMP_UP: gettext_lazy("Ramp-up"),
    calendar.EVENT: gettext_lazy("Event"),
    calendar.COOL_DOWN: gettext_lazy("Cool-down"),
}
KIND_LABELS = {
    calendar.SHOPPING: gettext_lazy("Shopping event"),
    calendar.HOLIDAY: gettext_lazy("Holiday"),
    calendar.RELIGIOUS: gettext_lazy("Religious festival"),
}


def _change(multiplier: float) -> str:
    return f"{multiplier - 1:+.0%}"


def _calendar_entry(entry: selectors.CalendarEntry) -> dict:
    """An entry with its labels and multipliers written out, and the seller's entries it can remove."""
    event = entry.event
    return {
        "entry": entry,
        "event": event,
        "kind": KIND_LABELS.get(event.kind, event.kind),
        "suggestions": [
            {
                "phase": PHASE_LABELS.get(suggestion.phase, suggestion.phase),
                "start": suggestion.start,
                "end": suggestion.end,
                "budget": _change(suggestion.budget_multiplier),
                "bid": _change(suggestion.bid_multiplier),
                "reason": suggestion.reason,
            }
            for suggestion in entry.suggestions
        ],
        "removable": list(zip(entry.seller_events, event.markets, strict=False)),
    }


def _calendar_context(request, *, event_form: SellerEventForm | None = None) -> dict:
    organization = request.organization
    start, days, marketplace = _calendar_filters(request)
    own = selectors.organization_marketplaces(organization=organization)
    if marketplace not in set(own) | set(calendar.MARKET_EVENTS):
        marketplace = ""
    result = selectors.market_calendar(
        organization=organization, start=start, days=days, marketplaces=[marketplace] if marketplace else own
    )  # an organization without a marketplace yet gets an empty calendar and the form to enter one
    can_edit = has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS)
    context = {
        "calendar": result,
        "entries": [_calendar_entry(entry) for entry in result.entries],
        "start": start,
        "days": days,
        "marketplace": marketplace,
        "marketplaces": own,
        "day_choices": sorted({*CALENDAR_DAY_CHOICES, days}),
        "can_edit": can_edit,
    }
    if can_edit:
        context["event_form"] = event_form or SellerEventForm(marketplaces=own)
    return context


@require_GET
@require(Perm.VIEW)
def calendar_page(request, org_slug):
    return render_page(request, CALENDAR_TEMPLATE, _calendar_context(request), partial="calendar-events")


def _calendar_url(request, *, start: date | None = None, days: int | None = None) -> str:
    url = reverse("optimize_calendar", kwargs={"org_slug": request.organization.slug})
    params = {key: value for key, value in (("start", start), ("days", days)) if value is not None}
    return f"{url}?{urlencode(params)}" if params else url


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def seller_event_add(request, org_slug):
    organization = request.organization
    form = SellerEventForm(request.POST, marketplaces=selectors.organization_marketplaces(organization=organization))
    if form.is_valid():
        data = form.cleaned_data
        try:
            event = services.seller_event_add(organization=organization, actor=request.user, **data)
        except services.OptimizeError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("%(event)s in %(marketplace)s is in the calendar.")
                % {"event": selectors.SELLER_EVENT_NAMES[event.key], "marketplace": event.marketplace},
            )
            start = min(today_in(organization.time_zone), event.start)
            days = max(CALENDAR_DAYS, min(MAX_CALENDAR_DAYS, (event.end - start).days + 1))
            return hx_redirect(request, _calendar_url(request, start=start, days=days))
    context = _calendar_context(request, event_form=form)
    if is_partial(request):
        return render_page(request, CALENDAR_TEMPLATE, context, partial="seller-event-form")
    return render_page(request, CALENDAR_TEMPLATE, context, status=400)


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def seller_event_delete(request, org_slug, seller_event_id):
    organization = request.organization
    event = get_org_object_or_404(SellerEvent, organization, pk=seller_event_id)
    services.seller_event_delete(organization=organization, actor=request.user, event=event)
    messages.success(
        request,
        _("%(event)s in %(marketplace)s was removed from the calendar.")
        % {"event": selectors.SELLER_EVENT_NAMES.get(event.key, event.key), "marketplace": event.marketplace},
    )
    return hx_redirect(request, _calendar_url(request))

"""The Rules pages: the list with each rule's last run and an on/off switch, the form that creates and edits a
rule, a rule's page with its runs, a dry run that shows exactly what would change, and a real run that
proposes those changes (seen and approved on the Changes page, or approved at once for a rule that applies
itself). Every page works without JavaScript; HTMX swaps rows, condition rows and run results in place."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import hx_redirect, is_partial, render_page
from accounts.scoping import get_org_object_or_404
from campaigns import rule_selectors, rules
from campaigns.models import Channel, Rule, RuleRun
from campaigns.services import rules as services

LIST_TEMPLATE = "campaigns/rules/list.html"
FORM_TEMPLATE = "campaigns/rules/form.html"
DETAIL_TEMPLATE = "campaigns/rules/detail.html"
RUN_TEMPLATE = "campaigns/rules/run.html"
CONDITIONS_PREFIX = "conditions"
FIXED_CONDITION_ROWS = 3  # rows the form shows without JavaScript; "Add a condition" adds more

ACTION_CHOICES = [
    (
        gettext_lazy("Campaigns"),
        [(key, rules.ACTION_LABELS[key]) for key in ("budget_pct", "budget_set")],
    ),
    (
        gettext_lazy("Keywords and targets"),
        [(key, rules.ACTION_LABELS[key]) for key in ("bid_pct", "bid_set")],
    ),
    (
        gettext_lazy("Campaigns, keywords and targets"),
        [(key, rules.ACTION_LABELS[key]) for key in ("pause", "enable")],
    ),
    (
        gettext_lazy("Search terms"),
        [(key, rules.ACTION_LABELS[key]) for key in ("negative_exact", "negative_phrase", "harvest_exact")],
    ),
]


class ConditionForm(forms.Form):
    """One condition row; a row without a metric is left out. ACoS, CTR and CVR are entered as percentages."""

    metric = forms.ChoiceField(
        label=gettext_lazy("Metric"),
        required=False,
        choices=[("", "—"), *((key, label) for key, (label, _kind) in rules.METRICS.items())],
    )
    window_days = forms.IntegerField(
        label=gettext_lazy("Over the last (days)"),
        required=False,
        min_value=rules.MIN_WINDOW,
        max_value=rules.MAX_WINDOW,
    )
    op = forms.ChoiceField(label=gettext_lazy("Is"), required=False, choices=list(rules.OP_LABELS.items()))
    value = forms.DecimalField(label=gettext_lazy("Value"), required=False, min_value=0, max_digits=14)

    def clean(self):
        data = super().clean()
        if not data.get("metric"):
            return data
        for name in ("window_days", "op", "value"):
            if data.get(name) in (None, ""):
                self.add_error(name, _("Required when a metric is chosen."))
        return data

    def as_condition(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("metric"):
            return None
        value = data["value"] / 100 if data["metric"] in rules.PERCENT_METRICS else data["value"]
        return {"metric": data["metric"], "window_days": data["window_days"], "op": data["op"], "value": float(value)}


def _plain(value) -> str | None:
    """A stored number as a person types it: 30 rather than 30.0 or 3E+1."""
    if value is None or value == "":
        return None
    return format(Decimal(str(value)).normalize(), "f")


def condition_initial(condition: dict) -> dict:
    value = condition.get("value")
    if condition.get("metric") in rules.PERCENT_METRICS and value is not None:
        value = Decimal(str(value)) * 100
    return {**condition, "value": _plain(value)}


def condition_formset(*, data=None, initial=None, extra: int | None = None):
    initial = initial or []
    if extra is None:
        extra = max(FIXED_CONDITION_ROWS - len(initial), 1)
    formset_class = formset_factory(
        ConditionForm, extra=extra, max_num=rules.MAX_CONDITIONS, absolute_max=rules.MAX_CONDITIONS
    )
    return formset_class(data=data, initial=initial, prefix=CONDITIONS_PREFIX)


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    scope = forms.ChoiceField(label=gettext_lazy("Applies to"), choices=Rule.Scope.choices)
    channels = forms.MultipleChoiceField(
        label=gettext_lazy("Channels"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every channel."),
    )
    action_type = forms.ChoiceField(label=gettext_lazy("Then"), choices=ACTION_CHOICES)
    action_value = forms.DecimalField(
        label=gettext_lazy("Percentage or amount"),
        required=False,
        max_digits=12,
        help_text=gettext_lazy(
            "A percentage for changes by a percentage (-20 lowers by 20 %), an amount in the account's currency "
            "to set a budget or bid; for new exact keywords, the bid (empty: the search term's cost per click)."
        ),
    )
    ignore_last_days = forms.IntegerField(
        label=gettext_lazy("Leave out the most recent days"),
        min_value=0,
        max_value=rules.MAX_IGNORE_DAYS,
        initial=2,
        help_text=gettext_lazy("Platforms still add late orders to recent days; leaving them out avoids acting early."),
    )
    schedule = forms.ChoiceField(label=gettext_lazy("Runs"), choices=Rule.Schedule.choices)
    enabled = forms.BooleanField(label=gettext_lazy("Enabled"), required=False, initial=True)
    auto_apply = forms.BooleanField(
        label=gettext_lazy("Apply changes without approval"),
        required=False,
        help_text=gettext_lazy("Only members who may push changes can turn this on."),
    )
    max_changes = forms.IntegerField(
        label=gettext_lazy("Most changes per run"), min_value=1, max_value=rules.MAX_CHANGES_LIMIT, initial=50
    )
    max_spend_increase_pct = forms.DecimalField(
        label=gettext_lazy("Most daily spend increase per run (%)"),
        min_value=0,
        max_value=rules.MAX_SPEND_INCREASE_PCT,
        max_digits=6,
        decimal_places=2,
        initial=20,
    )

    def rule_data(self, conditions: list[dict]) -> dict:
        data = self.cleaned_data
        value = data.get("action_value")
        return {
            "name": data["name"],
            "scope": data["scope"],
            "channels": list(data["channels"]),
            "conditions": conditions,
            "action": {
                "type": data["action_type"],
                "value": float(value) if value is not None else None,
                "ignore_last_days": data["ignore_last_days"],
            },
            "schedule": data["schedule"],
            "enabled": data["enabled"],
            "auto_apply": data["auto_apply"],
            "max_changes": data["max_changes"],
            "max_spend_increase_pct": data["max_spend_increase_pct"],
        }


def rule_initial(rule: Rule) -> dict:
    action = rule.action if isinstance(rule.action, dict) else {}
    return {
        "name": rule.name,
        "scope": rule.scope,
        "channels": rule.channels,
        "action_type": action.get("type"),
        "action_value": _plain(action.get("value")),
        "ignore_last_days": action.get("ignore_last_days", 0),
        "schedule": rule.schedule,
        "enabled": rule.enabled,
        "auto_apply": rule.auto_apply,
        "max_changes": rule.max_changes,
        "max_spend_increase_pct": _plain(rule.max_spend_increase_pct),
    }


def _role(request) -> str:
    return request.membership.role


def _changes_url(request, run: RuleRun) -> str:
    """The Changes page filtered to a real run's proposals, when that page exists."""
    if run.tool_run_id is None:
        return ""
    try:
        base = reverse("changes", kwargs={"org_slug": request.organization.slug})
    except NoReverseMatch:
        return ""
    return f"{base}?run={run.tool_run_id}"


# --- list -------------------------------------------------------------------------------------------------------


@require_GET
@require(Perm.VIEW)
def rules_list(request, org_slug):
    context = {
        "rows": rule_selectors.rules_list(organization=request.organization),
        "can_edit": has_perm(_role(request), Perm.EDIT_CAMPAIGNS),
    }
    return render_page(request, LIST_TEMPLATE, context, partial="rules-table")


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def rule_toggle(request, org_slug, rule_id):
    organization = request.organization
    rule = get_org_object_or_404(Rule, organization, pk=rule_id)
    services.rule_set_enabled(organization=organization, actor=request.user, rule=rule, enabled=not rule.enabled)
    if is_partial(request):
        [row] = rule_selectors.rules_list(organization=organization, rule_ids=[rule.pk])
        return render_page(request, LIST_TEMPLATE, {"row": row, "can_edit": True}, partial="rule-row")
    return redirect("rules", org_slug=org_slug)


# --- create and edit --------------------------------------------------------------------------------------------


def _form_page(request, rule: Rule | None):
    organization = request.organization
    if request.method == "POST":
        form = RuleForm(request.POST)
        conditions = condition_formset(data=request.POST)
        if "add_condition" in request.POST:
            conditions = _with_one_more_row(request.POST)
        elif form.is_valid() and conditions.is_valid():
            rows = [row for row in (f.as_condition() for f in conditions.forms) if row is not None]
            try:
                saved = services.rule_save(
                    organization=organization, actor=request.user, data=form.rule_data(rows), rule=rule
                )
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
                return hx_redirect(request, reverse("rule_detail", args=[organization.slug, saved.pk]))
    elif rule is not None:
        form = RuleForm(initial=rule_initial(rule))
        conditions = condition_formset(initial=[condition_initial(c) for c in rule.conditions if isinstance(c, dict)])
    else:
        form = RuleForm()
        conditions = condition_formset()
    context = {
        "form": form,
        "conditions": conditions,
        "rule": rule,
        "can_add_condition": conditions.total_form_count() < rules.MAX_CONDITIONS,
        "next_index": conditions.total_form_count(),
    }
    return render_page(request, FORM_TEMPLATE, context, partial="rule-form")


def _with_one_more_row(data):
    """The submitted form again with an empty condition row more (adding a row without JavaScript)."""
    data = data.copy()
    key = f"{CONDITIONS_PREFIX}-TOTAL_FORMS"
    try:
        total = int(data.get(key, 0))
    except ValueError:
        total = 0
    data[key] = str(min(total + 1, rules.MAX_CONDITIONS))
    return condition_formset(data=data)


@require_http_methods(["GET", "POST"])
@require(Perm.EDIT_CAMPAIGNS)
def rule_create(request, org_slug):
    return _form_page(request, None)


@require_http_methods(["GET", "POST"])
@require(Perm.EDIT_CAMPAIGNS)
def rule_edit(request, org_slug, rule_id):
    rule = get_org_object_or_404(Rule, request.organization, pk=rule_id)
    return _form_page(request, rule)


@require_GET
@require(Perm.EDIT_CAMPAIGNS)
def rule_condition_row(request, org_slug):
    """One more empty condition row (HTMX), with the formset's row count and the add button updated out of band.
    Without HTMX the form itself adds rows (its "Add a condition" button posts the form)."""
    if not is_partial(request):
        return redirect("rule_create", org_slug=org_slug)
    try:
        index = int(request.GET.get("index", 0))
    except ValueError:
        index = -1
    if not 0 <= index < rules.MAX_CONDITIONS:
        return HttpResponse(status=204)
    form = ConditionForm(prefix=f"{CONDITIONS_PREFIX}-{index}")
    context = {
        "condition": form,
        "total": index + 1,
        "next_index": index + 1,
        "can_add_condition": index + 1 < rules.MAX_CONDITIONS,
        "oob": True,
    }
    return render_page(request, FORM_TEMPLATE, context, partial="condition-added")


# --- a rule and its runs ----------------------------------------------------------------------------------------


def _detail_context(request, rule: Rule, run: RuleRun | None = None) -> dict:
    role = _role(request)
    return {
        "rule": rule,
        "row": rule_selectors.rule_row(rule),
        "runs": rule_selectors.rule_runs(organization=request.organization, rule=rule),
        "run": run,
        "run_view": _run_view(request, run) if run else None,
        "can_edit": has_perm(role, Perm.EDIT_CAMPAIGNS),
        "can_run": has_perm(role, Perm.EDIT_CAMPAIGNS) and (not rule.auto_apply or has_perm(role, Perm.PUSH_CHANGES)),
    }


def _run_view(request, run: RuleRun) -> dict:
    return {
        "run": run,
        "changes": [
            {**dict.fromkeys(rules.CHANGE_COLUMNS), **change} for change in run.changes if isinstance(change, dict)
        ],
        "guardrails": rules.describe_guardrail(run.stopped_by_guardrail),
        "changes_url": _changes_url(request, run),
        "summary": ngettext(
            "%(matched)s matched, %(count)s change.",
            "%(matched)s matched, %(count)s changes.",
            len(run.changes),
        )
        % {"matched": run.matched, "count": len(run.changes)},
    }


@require_GET
@require(Perm.VIEW)
def rule_detail(request, org_slug, rule_id):
    rule = get_org_object_or_404(Rule, request.organization, pk=rule_id)
    return render_page(request, DETAIL_TEMPLATE, _detail_context(request, rule), partial="rule-runs")


def _run(request, org_slug, rule_id, *, dry_run: bool):
    organization = request.organization
    rule = get_org_object_or_404(Rule, organization, pk=rule_id)
    try:
        run = services.rule_run(organization=organization, rule=rule, actor=request.user, dry_run=dry_run)
    except rules.InvalidRule as invalid:
        messages.error(request, " ".join(invalid.messages))
        return hx_redirect(request, reverse("rule_detail", args=[org_slug, rule.pk]))
    if is_partial(request):
        context = {**_detail_context(request, rule, run), "oob": True}
        return render_page(request, DETAIL_TEMPLATE, context, partial="run-response")
    return redirect("rule_run_detail", org_slug=org_slug, run_id=run.pk)


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def rule_dry_run(request, org_slug, rule_id):
    return _run(request, org_slug, rule_id, dry_run=True)


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def rule_run(request, org_slug, rule_id):
    """Propose the rule's changes now. A rule that applies itself approves them, so running it needs the push
    permission too (checked by the service)."""
    return _run(request, org_slug, rule_id, dry_run=False)


@require_GET
@require(Perm.VIEW)
def rule_run_detail(request, org_slug, run_id):
    run = get_org_object_or_404(
        RuleRun.unscoped_objects.select_related("rule", "tool_run"), request.organization, pk=run_id
    )
    context = {"rule": run.rule, "run": run, "run_view": _run_view(request, run)}
    return render_page(request, RUN_TEMPLATE, context, partial="run-result")

"""The creative pages: A/B tests with their plan and Bayesian readout, ad copy (generate, check, edit, save,
approve) and keyword localization (translate converting keywords, propose them in another marketplace).

Who may do what (checked in each view, so a partial requested directly is refused too): every member sees the
pages (``Perm.VIEW``); creating and starting tests, generating, checking, saving and editing copy, and
translating and proposing keywords need ``Perm.EDIT_CAMPAIGNS``; approving copy and stopping a test need
``Perm.PUSH_CHANGES``. Localized keywords become proposals: nothing reaches a platform before approval on the
Changes page.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import hx_redirect, is_partial, render_page
from accounts.scoping import get_org_object_or_404
from analytics.labels import channel_label
from analytics.query import today_in
from campaigns import creative_selectors as selectors
from campaigns.copy.checks import CheckResult
from campaigns.copy.providers import CopyProviderError
from campaigns.copy.templates import ProductBrief
from campaigns.creative_forms import (
    LANGUAGE_LABELS,
    MAX_LOCALIZE_KEYWORDS,
    METRIC_LABELS,
    CopyBriefForm,
    CopyDraftForm,
    CopyTextForm,
    ExperimentForm,
    LocalizeForm,
    ProposeKeywordsForm,
    language_for_marketplace,
)
from campaigns.experiments import CONTINUE, NEED_MORE_DATA, STOP_NO_DIFFERENCE, STOP_WINNER
from campaigns.models import AdCopy, Experiment
from campaigns.services import creative as services

TESTS_TEMPLATE = "campaigns/creative/tests.html"
TEST_NEW_TEMPLATE = "campaigns/creative/test_new.html"
TEST_DETAIL_TEMPLATE = "campaigns/creative/test_detail.html"
COPY_TEMPLATE = "campaigns/creative/copy.html"
LOCALIZE_TEMPLATE = "campaigns/creative/localize.html"
LOCALIZE_DAYS = 90

RECOMMENDATION_LABELS = {
    NEED_MORE_DATA: gettext_lazy("Keep running: not enough data yet"),
    CONTINUE: gettext_lazy("Keep running: no clear winner yet"),
    STOP_WINNER: gettext_lazy("Stop: a winner is clear"),
    STOP_NO_DIFFERENCE: gettext_lazy("Stop: the variants perform the same"),
}
UNIT_LABELS = {"impressions": gettext_lazy("impressions"), "clicks": gettext_lazy("clicks")}
VERDICT_LABELS = {
    "clean": gettext_lazy("Passed the compliance check"),
    "warn": gettext_lazy("Passed with warnings: read them before approving"),
    "blocked": gettext_lazy("Blocked by the compliance check"),
    "": gettext_lazy("Not checked yet: no compliance rule engine is installed"),
}


def _url(request, name: str, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": request.organization.slug, **kwargs})


def _today(request):
    return today_in(request.organization.time_zone)


def _tabs(request, current: str) -> list[tuple[str, str, bool]]:
    return [
        (label, _url(request, name), name == current)
        for name, label in (
            ("creative_tests", _("A/B tests")),
            ("creative_copy", _("Ad copy")),
            ("creative_localize", _("Keyword localization")),
        )
    ]


# --- formatting -----------------------------------------------------------------------------------------------


def _metric_value(metric: str, value: float | None) -> str:
    """A metric as a seller reads it: rates in percent, revenue per click and ROAS as numbers."""
    if value is None:
        return "–"
    if metric in ("ctr", "cvr"):
        return f"{value * 100:.2f}%"
    return f"{value:,.2f}"


def _signed_percent(value: float) -> str:
    return f"{value * 100:+.1f}%"


def _finding_rows(findings) -> list[dict]:
    """Each finding as rule, message and fix, whatever keys the engine used."""
    rows = []
    for finding in findings or ():
        item = finding if isinstance(finding, dict) else {"message": str(finding)}
        rows.append(
            {
                "rule": item.get("rule") or item.get("rule_id") or item.get("code") or "",
                "message": item.get("message") or item.get("why") or item.get("explanation") or "",
                "fix": item.get("fix") or item.get("suggestion") or "",
                "excerpt": item.get("excerpt") or item.get("match") or item.get("text") or "",
            }
        )
    return rows


def _check_view(check: CheckResult) -> dict:
    verdict = check.verdict if check.checked else ""
    return {"verdict": verdict, "label": VERDICT_LABELS[verdict], "findings": _finding_rows(check.findings)}


def _stored_check_view(ad_copy: AdCopy) -> dict:
    verdict = ad_copy.check_verdict if ad_copy.check_verdict in VERDICT_LABELS else ""
    return {"verdict": verdict, "label": VERDICT_LABELS[verdict], "findings": _finding_rows(ad_copy.check_findings)}


# --- A/B tests ------------------------------------------------------------------------------------------------


def _experiment_row(request, experiment: Experiment) -> dict:
    return {
        "experiment": experiment,
        "url": _url(request, "creative_test_detail", experiment_id=experiment.pk),
        "channel": channel_label(experiment.channel),
        "metric": METRIC_LABELS.get(experiment.metric, experiment.metric),
    }


@require_GET
@require(Perm.VIEW)
def tests_list(request, org_slug):
    status = request.GET.get("status", "")
    if status not in Experiment.Status.values:
        status = ""
    base = _url(request, "creative_tests")
    filters = [("", _("All")), *Experiment.Status.choices]
    context = {
        "tabs": _tabs(request, "creative_tests"),
        "rows": [
            _experiment_row(request, e)
            for e in selectors.experiments_list(organization=request.organization, status=status)
        ],
        "status": status,
        "filters": [
            (label, f"{base}?{urlencode({'status': key})}" if key else base, key == status) for key, label in filters
        ],
        "can_create": has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS),
    }
    return render_page(request, TESTS_TEMPLATE, context, partial="experiment-list")


def _plan_view(plan: services.ExperimentPlan, *, variants: int) -> dict:
    days_note = ""
    if variants < 2:
        days_note = _("Choose at least two variants to estimate how long the test runs.")
    elif plan.days is None:
        days_note = _("A variant had no traffic in the last %(days)s days: at that pace the test would not end.") % {
            "days": selectors.TRAFFIC_DAYS
        }
    return {
        "per_variant": plan.per_variant,
        "unit": UNIT_LABELS[plan.unit],
        "daily": [round(u, 1) for u in plan.daily_units] if variants >= 2 else [],
        "days": plan.days if variants >= 2 else None,
        "days_note": days_note,
        "traffic_days": selectors.TRAFFIC_DAYS,
    }


def _experiment_plan(request, cleaned: dict) -> tuple[services.ExperimentPlan | None, dict]:
    """The plan of the form's current values and what the page shows of it, or why there is none yet."""
    rate, lift = cleaned.get("rate"), cleaned.get("lift")
    metric, channel = cleaned.get("metric"), cleaned.get("channel")
    variants = cleaned.get("variants") or []
    if rate is None or lift is None or not metric or not channel:
        return None, {"error": _("Enter the baseline rate and the smallest lift to see the sample size.")}
    daily = []
    if len(variants) >= 2:
        daily = selectors.daily_units(
            organization=request.organization,
            channel=channel,
            metric=metric,
            variants=[(v.campaign_id, v.ad_group_id) for v in variants],
            today=_today(request),
        )
    try:
        plan = services.experiment_plan(metric=metric, baseline_rate=rate, minimum_effect=lift, daily_units=daily)
    except ValueError:
        return None, {
            "error": _("This baseline rate and lift cannot be planned: the raised rate must stay below %(limit)s.")
            % {"limit": "100%"}
        }
    return plan, _plan_view(plan, variants=len(variants))


def _prefilled(request, channels: list[str]) -> dict:
    """The form's values from the query string, with the baseline filled in from the channel's last 30 days when
    it is empty or was filled in for another channel or metric (a rate the seller typed stays)."""
    params = {key: request.GET.get(key, "") for key in request.GET}
    channel = params.get("channel") or (channels[0] if channels else "")
    metric = params.get("metric") or "ctr"
    params.update(channel=channel, metric=metric)
    params.setdefault("minimum_effect", "10")
    key = f"{channel}:{metric}"
    if channel and (not params.get("baseline_rate") or params.get("baseline_for") != key):
        rate = selectors.baseline_rate(
            organization=request.organization, channel=channel, metric=metric, today=_today(request)
        )
        if rate is not None:
            params["baseline_rate"] = f"{rate * 100:.4f}".rstrip("0").rstrip(".")
            params["baseline_for"] = key
    return params


def _new_test_context(request, form: ExperimentForm, plan: dict, channels: list[str]) -> dict:
    return {
        "tabs": _tabs(request, "creative_tests"),
        "form": form,
        "plan": plan,
        "channels": channels,
        "new_url": _url(request, "creative_test_new"),
    }


@require_http_methods(["GET", "POST"])
@require(Perm.EDIT_CAMPAIGNS)
def test_new(request, org_slug):
    """GET: the form and the plan of its current values (HTMX swaps it on every change). POST: create."""
    organization = request.organization
    channels = selectors.ad_channels(organization=organization)
    if request.method == "POST":
        channel = request.POST.get("channel", "")
        targets = selectors.variant_targets(organization=organization, channel=channel) if channel in channels else []
        form = ExperimentForm(request.POST, channels=channels, targets=targets)
        valid = form.is_valid()
        plan_obj, plan = _experiment_plan(request, form.cleaned_data)
        if valid and plan_obj is not None:
            data = form.cleaned_data
            try:
                experiment = services.experiment_create(
                    organization=organization,
                    actor=request.user,
                    name=data["name"],
                    channel=data["channel"],
                    metric=data["metric"],
                    baseline_rate=data["rate"],
                    minimum_effect=data["lift"],
                    variants=data["variants"],
                    plan=plan_obj,
                )
            except services.CreativeError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("The test %(name)s is saved as a draft.") % {"name": experiment.name})
                return hx_redirect(request, _url(request, "creative_test_detail", experiment_id=experiment.pk))
        context = _new_test_context(request, form, plan, channels)
        if is_partial(request):
            return render_page(request, TEST_NEW_TEMPLATE, context, partial="test-form")
        return render_page(request, TEST_NEW_TEMPLATE, context, status=400)

    params = _prefilled(request, channels)
    channel = params["channel"]
    targets = selectors.variant_targets(organization=organization, channel=channel) if channel in channels else []
    # the plan of what is filled in so far; the form is shown unbound so untouched fields show no errors
    probe = ExperimentForm(params, channels=channels, targets=targets)
    probe.is_valid()
    _plan, plan = _experiment_plan(request, probe.cleaned_data)
    form = ExperimentForm(initial=params, channels=channels, targets=targets)
    return render_page(
        request, TEST_NEW_TEMPLATE, _new_test_context(request, form, plan, channels), partial="test-form"
    )


def _target_labels(request, experiment: Experiment) -> dict[tuple[str, str], str]:
    return {
        (t.campaign_id, t.ad_group_id): t.label
        for t in selectors.variant_targets(organization=request.organization, channel=experiment.channel)
    }


def _readout_view(experiment: Experiment, result, totals) -> dict:
    metric = experiment.metric
    rows = []
    for variant, total in zip(result.variants, totals, strict=True):
        lift = ""
        if variant.lift_interval is not None:
            lift = _("%(median)s (%(low)s to %(high)s)") % {
                "median": _signed_percent(variant.lift_median),
                "low": _signed_percent(variant.lift_interval[0]),
                "high": _signed_percent(variant.lift_interval[1]),
            }
        rows.append(
            {
                "name": variant.name,
                "units": int(variant.units),
                "totals": total,
                "observed": _metric_value(metric, variant.observed),
                "mean": _metric_value(metric, variant.posterior_mean),
                "interval": " – ".join(_metric_value(metric, bound) for bound in variant.interval),
                "p_best": f"{variant.p_best * 100:.1f}%",
                "loss": f"{variant.relative_expected_loss * 100:.2f}%",
                "lift": lift,
                "winner": variant.name == result.winner,
            }
        )
    return {
        "rows": rows,
        "recommendation": result.recommendation,
        "label": RECOMMENDATION_LABELS[result.recommendation],
        "explanation": result.explanation,
        "details": result.details,
        "min_units": int(result.min_units),
        "unit": UNIT_LABELS["impressions" if metric == "ctr" else "clicks"],
        "metric": METRIC_LABELS.get(metric, metric),
    }


@require_GET
@require(Perm.VIEW)
def test_detail(request, org_slug, experiment_id):
    organization = request.organization
    experiment = get_org_object_or_404(Experiment, organization, pk=experiment_id)
    variants = selectors.experiment_variants(organization=organization, experiment=experiment)
    labels = _target_labels(request, experiment)
    computed = selectors.experiment_readout(
        organization=organization, experiment=experiment, variants=variants, today=_today(request)
    )
    role = request.membership.role
    context = {
        "tabs": _tabs(request, "creative_tests"),
        "experiment": experiment,
        "channel": channel_label(experiment.channel),
        "metric": METRIC_LABELS.get(experiment.metric, experiment.metric),
        "variants": [
            {
                "variant": v,
                "target": labels.get((v.campaign_id, v.ad_group_id))
                or " › ".join(part for part in (v.campaign_id, v.ad_group_id) if part),
            }
            for v in variants
        ],
        "unit": UNIT_LABELS["impressions" if experiment.metric == "ctr" else "clicks"],
        "baseline": "–" if experiment.baseline_rate is None else f"{float(experiment.baseline_rate) * 100:.2f}%",
        "minimum_effect": f"{float(experiment.minimum_effect) * 100:+.1f}%",
        "readout": _readout_view(experiment, *computed) if computed else None,
        "detail_url": _url(request, "creative_test_detail", experiment_id=experiment.pk),
        "can_start": experiment.status == Experiment.Status.DRAFT and has_perm(role, Perm.EDIT_CAMPAIGNS),
        "can_stop": experiment.status == Experiment.Status.RUNNING and has_perm(role, Perm.PUSH_CHANGES),
    }
    return render_page(request, TEST_DETAIL_TEMPLATE, context, partial="experiment-readout")


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def test_start(request, org_slug, experiment_id):
    organization = request.organization
    experiment = get_org_object_or_404(Experiment, organization, pk=experiment_id)
    try:
        services.experiment_start(
            organization=organization, actor=request.user, experiment_id=experiment.pk, today=_today(request)
        )
    except services.CreativeError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("The test is running: its numbers count from today. Make sure every variant is live on the platform."),
        )
    return hx_redirect(request, _url(request, "creative_test_detail", experiment_id=experiment.pk))


@require_POST
@require(Perm.PUSH_CHANGES)
def test_stop(request, org_slug, experiment_id):
    organization = request.organization
    experiment = get_org_object_or_404(Experiment, organization, pk=experiment_id)
    today = _today(request)
    winner = ""
    if experiment.status == Experiment.Status.RUNNING:
        variants = selectors.experiment_variants(organization=organization, experiment=experiment)
        computed = selectors.experiment_readout(
            organization=organization, experiment=experiment, variants=variants, today=today
        )
        if computed and computed[0].recommendation == STOP_WINNER:
            winner = computed[0].winner or ""
    try:
        services.experiment_stop(
            organization=organization, actor=request.user, experiment_id=experiment.pk, today=today, winner=winner
        )
    except services.CreativeError as exc:
        messages.error(request, str(exc))
    else:
        if winner:
            messages.success(request, _("The test is stopped. Keep %(name)s.") % {"name": winner})
        else:
            messages.success(request, _("The test is stopped without a clear winner."))
    return hx_redirect(request, _url(request, "creative_test_detail", experiment_id=experiment.pk))


# --- ad copy --------------------------------------------------------------------------------------------------


def _copy_row(request, ad_copy: AdCopy, *, notice: str = "", notice_level: str = "") -> dict:
    return {
        "copy": ad_copy,
        "check": _stored_check_view(ad_copy),
        "channel": channel_label(ad_copy.channel),
        "language": LANGUAGE_LABELS.get(ad_copy.language, ad_copy.language),
        "row_url": _url(request, "creative_copy_row", ad_copy_id=ad_copy.pk),
        "edit_url": _url(request, "creative_copy_edit", ad_copy_id=ad_copy.pk),
        "approve_url": _url(request, "creative_copy_approve", ad_copy_id=ad_copy.pk),
        "notice": notice,
        "notice_level": notice_level,
    }


def _draft_view(index: int, form: CopyDraftForm, check: dict | None, truncated: bool = False) -> dict:
    return {"index": index, "form": form, "check": check, "truncated": truncated}


def _copy_urls(request) -> dict:
    """What every part of the copy page needs: its actions and what the member may do."""
    role = request.membership.role
    return {
        "can_edit": has_perm(role, Perm.EDIT_CAMPAIGNS),
        "can_approve": has_perm(role, Perm.PUSH_CHANGES),
        "generate_url": _url(request, "creative_copy_generate"),
        "check_url": _url(request, "creative_copy_check"),
        "save_url": _url(request, "creative_copy_save"),
        "copy_url": _url(request, "creative_copy"),
    }


def _copy_context(
    request,
    *,
    brief: CopyBriefForm | None = None,
    drafts: list[dict] | None = None,
    error: str = "",
    editing: int | None = None,
    edit_form: CopyTextForm | None = None,
) -> dict:
    status = request.GET.get("status", "")
    if status not in AdCopy.Status.values:
        status = ""
    base = _url(request, "creative_copy")
    filters = [("", _("All")), *AdCopy.Status.choices]
    return {
        **_copy_urls(request),
        "tabs": _tabs(request, "creative_copy"),
        "brief": brief or CopyBriefForm(),
        "drafts": drafts or [],
        "provider_error": error,
        "rows": [_copy_row(request, c) for c in selectors.ad_copies(organization=request.organization, status=status)],
        "status": status,
        "filters": [
            (label, f"{base}?{urlencode({'status': key})}" if key else base, key == status) for key, label in filters
        ],
        "editing": editing,
        "edit_form": edit_form,
    }


@require_GET
@require(Perm.VIEW)
def copy_page(request, org_slug):
    return render_page(request, COPY_TEMPLATE, _copy_context(request), partial="copy-list")


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def copy_generate(request, org_slug):
    brief = CopyBriefForm(request.POST)
    if not brief.is_valid():
        context = _copy_context(request, brief=brief)
        if is_partial(request):
            return render_page(request, COPY_TEMPLATE, context, partial="copy-generator")
        return render_page(request, COPY_TEMPLATE, context, status=400)
    data = brief.cleaned_data
    product = ProductBrief(
        title=data["title"], brand=data["brand"], features=data["features"], audience=data["audience"]
    )
    drafts, error = [], ""
    try:
        generated = services.copy_generate(
            product=product,
            market=data["market"],
            language=data["language"],
            channel=data["channel"],
            tone=data["tone"],
        )
    except CopyProviderError as exc:
        error = str(exc.user_message)
    except services.CreativeError as exc:
        error = str(exc)
    except ValueError:
        error = _("No ad copy could be written from this brief. Check the title and the channel.")
    else:
        for index, item in enumerate(generated, start=1):
            form = CopyDraftForm(
                initial={
                    "headline": item.draft.headline,
                    "body": item.draft.body,
                    "product": data["title"],
                    "market": data["market"],
                    "language": item.draft.language,
                    "channel": data["channel"],
                    "provider": item.draft.provider,
                },
                prefix=f"d{index}",
            )
            drafts.append(_draft_view(index, form, _check_view(item.check), item.draft.truncated))
    context = _copy_context(request, brief=brief, drafts=drafts, error=error)
    return render_page(request, COPY_TEMPLATE, context, partial="copy-generator")


def _posted_draft(request) -> tuple[int, CopyDraftForm]:
    try:
        index = max(1, min(int(request.POST.get("index", "1")), 99))
    except ValueError:
        index = 1
    return index, CopyDraftForm(request.POST, prefix=f"d{index}")


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def copy_check(request, org_slug):
    """Check an edited draft again before it is saved."""
    index, form = _posted_draft(request)
    check = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = services.copy_check_draft(
                headline=data["headline"],
                body=data["body"],
                market=data["market"],
                channel=data["channel"],
                language=data["language"],
            )
        except services.CreativeError as exc:
            form.add_error(None, str(exc))
        else:
            check = _check_view(result)
    draft = _draft_view(index, form, check)
    if is_partial(request):
        return render_page(request, COPY_TEMPLATE, {**_copy_urls(request), "draft": draft}, partial="copy-draft")
    return render_page(request, COPY_TEMPLATE, _copy_context(request, drafts=[draft]))


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def copy_save(request, org_slug):
    index, form = _posted_draft(request)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ad_copy = services.copy_save(
                organization=request.organization,
                actor=request.user,
                product=data["product"],
                market=data["market"],
                language=data["language"],
                channel=data["channel"],
                headline=data["headline"],
                body=data["body"],
                provider=data["provider"],
            )
        except services.CreativeError as exc:
            form.add_error(None, str(exc))
        else:
            if ad_copy.status == AdCopy.Status.BLOCKED:
                notice = _("Saved, but the compliance check blocks this text: edit it before approval.")
            else:
                notice = _("Saved as a draft.")
            if is_partial(request):
                context = {**_copy_context(request), "index": index, "saved_notice": notice, "oob": True}
                return render_page(request, COPY_TEMPLATE, context, partial="copy-saved")
            messages.success(request, notice)
            return HttpResponseRedirect(_url(request, "creative_copy"))
    draft = _draft_view(index, form, None)
    if is_partial(request):
        return render_page(request, COPY_TEMPLATE, {**_copy_urls(request), "draft": draft}, partial="copy-draft")
    return render_page(request, COPY_TEMPLATE, _copy_context(request, drafts=[draft]), status=400)


@require_GET
@require(Perm.VIEW)
def copy_row(request, org_slug, ad_copy_id):
    """One saved copy as a table row (what an inline edit goes back to); the page without JavaScript."""
    ad_copy = get_org_object_or_404(
        AdCopy.unscoped_objects.select_related("approved_by"), request.organization, pk=ad_copy_id
    )
    if not is_partial(request):
        return HttpResponseRedirect(_url(request, "creative_copy"))
    context = {**_copy_urls(request), "row": _copy_row(request, ad_copy)}
    return render_page(request, COPY_TEMPLATE, context, partial="copy-row")


@require_http_methods(["GET", "POST"])
@require(Perm.EDIT_CAMPAIGNS)
def copy_edit(request, org_slug, ad_copy_id):
    """GET: the row as a form. POST: save the edited text (checked again; an approval is dropped)."""
    organization = request.organization
    ad_copy = get_org_object_or_404(AdCopy.unscoped_objects.select_related("approved_by"), organization, pk=ad_copy_id)
    if request.method == "POST":
        form = CopyTextForm(request.POST, channel=ad_copy.channel)
        if form.is_valid():
            try:
                ad_copy = services.copy_update(
                    organization=organization,
                    actor=request.user,
                    ad_copy_id=ad_copy.pk,
                    headline=form.cleaned_data["headline"],
                    body=form.cleaned_data["body"],
                )
            except services.CreativeError as exc:
                form.add_error(None, str(exc))
            else:
                notice = (
                    _("Saved. The compliance check blocks this text.")
                    if ad_copy.status == AdCopy.Status.BLOCKED
                    else _("Saved.")
                )
                if is_partial(request):
                    row = _copy_row(request, ad_copy, notice=notice, notice_level="success")
                    return render_page(request, COPY_TEMPLATE, {**_copy_urls(request), "row": row}, partial="copy-row")
                messages.success(request, notice)
                return HttpResponseRedirect(_url(request, "creative_copy"))
        status = 400
    else:
        form = CopyTextForm(initial={"headline": ad_copy.headline, "body": ad_copy.body}, channel=ad_copy.channel)
        status = 200
    if is_partial(request):
        context = {**_copy_urls(request), "row": _copy_row(request, ad_copy), "edit_form": form}
        return render_page(request, COPY_TEMPLATE, context, partial="copy-row-edit")
    context = _copy_context(request, editing=ad_copy.pk, edit_form=form)
    return render_page(request, COPY_TEMPLATE, context, status=status)


def _approval_notice(approval: services.CopyApproval) -> tuple[str, str]:
    if approval.approved and approval.check.checked:
        return _("Approved."), "success"
    if approval.approved:
        return _("Approved without a compliance check: no rule engine is installed."), "warning"
    return _("Not approved: the compliance check blocks this text. Edit it and try again."), "error"


@require_POST
@require(Perm.PUSH_CHANGES)
def copy_approve(request, org_slug, ad_copy_id):
    """Approve a saved copy: its stored text is checked again here, and a blocked verdict refuses it."""
    organization = request.organization
    ad_copy = get_org_object_or_404(AdCopy, organization, pk=ad_copy_id)
    try:
        approval = services.copy_approve(organization=organization, actor=request.user, ad_copy_id=ad_copy.pk)
    except services.CreativeError as exc:
        notice, level = str(exc), "error"
    else:
        notice, level = _approval_notice(approval)
    if is_partial(request):
        ad_copy = AdCopy.unscoped_objects.select_related("approved_by").get(pk=ad_copy.pk)
        row = _copy_row(request, ad_copy, notice=notice, notice_level=level)
        return render_page(request, COPY_TEMPLATE, {**_copy_urls(request), "row": row}, partial="copy-row")
    getattr(messages, level)(request, notice)
    return HttpResponseRedirect(_url(request, "creative_copy"))


# --- keyword localization -------------------------------------------------------------------------------------


def _localize_marketplaces(request) -> tuple[list[str], list[str]]:
    organization = request.organization
    sources = selectors.search_term_marketplaces(organization=organization)
    targets = selectors.account_marketplaces(organization=organization)
    return sources, targets


def _days(value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        return LOCALIZE_DAYS
    return days if days in (30, 60, 90) else LOCALIZE_DAYS


def _converting(request, marketplace: str, days: int) -> list[dict]:
    if not marketplace:
        return []
    today = _today(request)
    return selectors.converting_keywords(
        organization=request.organization, marketplace=marketplace, start=today - timedelta(days=days), end=today
    )


def _localize_context(
    request,
    *,
    form: LocalizeForm,
    keywords: list[dict],
    result: dict | None = None,
) -> dict:
    return {
        "tabs": _tabs(request, "creative_localize"),
        "form": form,
        "keywords": keywords,
        "result": result,
        "can_edit": has_perm(request.membership.role, Perm.EDIT_CAMPAIGNS),
        "localize_url": _url(request, "creative_localize"),
        "translate_url": _url(request, "creative_localize_translate"),
        "propose_url": _url(request, "creative_localize_propose"),
    }


@require_GET
@require(Perm.VIEW)
def localize_page(request, org_slug):
    sources, targets = _localize_marketplaces(request)
    marketplace = request.GET.get("source_marketplace", sources[0] if sources else "")
    if marketplace not in sources:
        marketplace = ""
    days = _days(request.GET.get("days"))
    keywords = _converting(request, marketplace, days)
    form = LocalizeForm(
        initial={
            "source_marketplace": marketplace,
            "days": days,
            "source_language": language_for_marketplace(marketplace) if marketplace else "en",
            "target_marketplace": next((t for t in targets if t != marketplace), targets[0] if targets else ""),
        },
        source_marketplaces=sources,
        target_marketplaces=targets,
        keywords=[k["search_term"] for k in keywords],
    )
    return render_page(
        request,
        LOCALIZE_TEMPLATE,
        _localize_context(request, form=form, keywords=keywords),
        partial="localize-keywords",
    )


def _propose_rows(translations: list[dict], ticked: set[tuple[str, str]] | None = None) -> list[dict]:
    return [
        {
            "index": index,
            "source": item["source"],
            "translation": item["translation"],
            "included": ticked is None or (item["source"], item["translation"]) in ticked,
        }
        for index, item in enumerate(translations)
    ]


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def localize_translate(request, org_slug):
    sources, targets = _localize_marketplaces(request)
    marketplace = request.POST.get("source_marketplace", "")
    keywords = _converting(request, marketplace if marketplace in sources else "", _days(request.POST.get("days")))
    form = LocalizeForm(
        request.POST,
        source_marketplaces=sources,
        target_marketplaces=targets,
        keywords=[k["search_term"] for k in keywords],
    )
    if not form.is_valid():
        context = _localize_context(request, form=form, keywords=keywords)
        if is_partial(request):
            return render_page(request, LOCALIZE_TEMPLATE, context, partial="localizer")
        return render_page(request, LOCALIZE_TEMPLATE, context, status=400)
    data = form.cleaned_data
    result: dict = {"error": ""}
    try:
        translations = services.keywords_localize(
            keywords=data["keywords"], source_language=data["source_language"], target_language=data["target_language"]
        )
    except CopyProviderError as exc:
        result["error"] = str(exc.user_message)
    else:
        destinations = selectors.destination_ad_groups(
            organization=request.organization, marketplace=data["target_marketplace"]
        )
        result.update(
            rows=_propose_rows(translations),
            form=ProposeKeywordsForm(
                initial={
                    "source_language": data["source_language"],
                    "target_language": data["target_language"],
                    "target_marketplace": data["target_marketplace"],
                    # the reason names where the keywords sell only when every one of them came from there
                    "source_marketplace": data["source_marketplace"] if not data.get("pasted") else "",
                },
                destinations=destinations,
            ),
            has_destinations=bool(destinations),
            target_marketplace=data["target_marketplace"],
            source_language=LANGUAGE_LABELS.get(data["source_language"], data["source_language"]),
            target_language=LANGUAGE_LABELS.get(data["target_language"], data["target_language"]),
        )
    context = _localize_context(request, form=form, keywords=keywords, result=result)
    return render_page(request, LOCALIZE_TEMPLATE, context, partial="localizer")


def _changes_url(request, run_id: int) -> str | None:
    try:
        url = _url(request, "changes")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode({'run': run_id})}"


def _localize_done(request, outcome: services.LocalizeResult) -> dict:
    """What a proposal run did, for the result panel: counts, the Changes link, and what was left out."""
    proposed = outcome.proposed
    return {
        "created": proposed.created if proposed else 0,
        "skipped": proposed.skipped if proposed else 0,
        "changes_url": _changes_url(request, proposed.run.pk) if proposed else None,
        "blocked": [
            {"source": item.source, "translation": item.translation, "findings": _finding_rows(item.findings)}
            for item in outcome.left_out
            if item.reason == "blocked"
        ],
        "existing": [item for item in outcome.left_out if item.reason == "existing"],
        "checked": outcome.checked,
    }


@require_POST
@require(Perm.EDIT_CAMPAIGNS)
def localize_propose(request, org_slug):
    organization = request.organization
    sources, targets = _localize_marketplaces(request)
    target = request.POST.get("target_marketplace", "")
    destinations = (
        selectors.destination_ad_groups(organization=organization, marketplace=target) if target in targets else []
    )
    form = ProposeKeywordsForm(request.POST, destinations=destinations)
    ticked = ProposeKeywordsForm.rows(request.POST)
    posted = [
        {"source": request.POST.get(f"source_{i}", ""), "translation": request.POST.get(f"translation_{i}", "")}
        for i in range(MAX_LOCALIZE_KEYWORDS)
        if request.POST.get(f"source_{i}")
    ]
    valid = form.is_valid()
    if valid and not ticked:
        form.add_error(None, _("Tick at least one keyword to propose."))
        valid = False
    done = None
    if valid:
        data = form.cleaned_data
        try:
            outcome = services.localized_keywords_propose(
                organization=organization,
                actor=request.user,
                ad_group_id=int(data["destination"]),
                keywords=ticked,
                match_type=data["match_type"],
                bid=data["bid"],
                source_language=data["source_language"],
                target_language=data["target_language"],
                source_marketplace=data["source_marketplace"],
            )
        except services.CreativeError as exc:
            form.add_error(None, str(exc))
            valid = False
        else:
            done = _localize_done(request, outcome)
    result = {
        "error": "",
        "done": done,
        "rows": _propose_rows(posted, set(ticked)),
        "form": form,
        "has_destinations": bool(destinations),
        "target_marketplace": target,
    }
    context = _localize_context(
        request,
        form=LocalizeForm(source_marketplaces=sources, target_marketplaces=targets),
        keywords=[],
        result=result,
    )
    status = 200 if valid or is_partial(request) else 400
    return render_page(request, LOCALIZE_TEMPLATE, context, partial="localize-result", status=status)

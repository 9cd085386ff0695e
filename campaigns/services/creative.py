"""Writes for creative work: A/B tests (plan, create, start, stop), ad copy (generate, save, edit, approve) and
keyword localization (translate converting keywords, propose them as keywords of another marketplace).

Every text a seller may publish passes ``campaigns.copy.checks.copy_check``: at saving, at editing, again at
approval (the text as stored then, not as it was when shown), and before a localized keyword becomes a
proposal. A blocked text is never approved or proposed. While no rule engine is installed the check answers
"clean, not checked": the copy may be approved, and the pages say it was not checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import record_audit
from campaigns.copy.checks import CheckResult, copy_check
from campaigns.copy.providers import CopyProvider, provider_from_settings, translate_keywords
from campaigns.copy.templates import CopyDraft, ProductBrief, channel_limits, text_length
from campaigns.experiments import METRICS, duration_days, sample_size
from campaigns.models import AdCopy, AdGroup, Experiment, ExperimentVariant, ProposalKind, Target, ToolRun
from campaigns.services.proposals import Proposed, proposals_create

MIN_VARIANTS = 2
MAX_VARIANTS = 4
KEYWORD_MATCH_TYPES = ("EXACT", "PHRASE", "BROAD")
MAX_KEYWORD_LENGTH = 80


class CreativeError(Exception):
    """A creative action that cannot be done as asked; the message is translated and says why."""


# --- A/B tests ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentPlan:
    """How much a test needs: ``per_variant`` units (``unit``: impressions for CTR, clicks otherwise) for each
    variant, and ``days`` at the variants' recent daily traffic (``None`` when a variant had none: it would
    never end). The slowest variant sets the pace, since each variant is its own campaign or ad group."""

    metric: str
    per_variant: int
    unit: str
    daily_units: tuple[float, ...]
    days: int | None


@dataclass(frozen=True)
class VariantInput:
    """One arm to create: its name and the platform ids whose facts are its numbers."""

    name: str
    campaign_id: str
    ad_group_id: str = ""


def experiment_plan(
    *, metric: str, baseline_rate: float, minimum_effect: float, daily_units: Sequence[float]
) -> ExperimentPlan:
    """The sample size per variant (``sample_size``) and the duration (``duration_days``) of a test with one
    variant per entry of ``daily_units``. ``baseline_rate`` is the CTR for ``ctr`` and the conversion rate for
    the other metrics: revenue per click and ROAS need at least the clicks that detect the same lift in
    conversions. Raises ``ValueError`` for an impossible plan (see ``sample_size``)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    variants = len(daily_units)
    per_variant = sample_size(
        baseline_rate=baseline_rate, minimum_detectable_effect=minimum_effect, variants=max(variants, MIN_VARIANTS)
    )
    slowest = min(daily_units) if daily_units else 0.0
    days = None
    if slowest > 0:
        days = duration_days(per_variant=per_variant, daily_units=slowest * variants, variants=variants)
    return ExperimentPlan(
        metric=metric,
        per_variant=per_variant,
        unit="impressions" if metric == "ctr" else "clicks",
        daily_units=tuple(float(u) for u in daily_units),
        days=days,
    )


@transaction.atomic
def experiment_create(
    *,
    organization: Organization,
    actor: User | None,
    name: str,
    channel: str,
    metric: str,
    baseline_rate: float,
    minimum_effect: float,
    variants: Sequence[VariantInput],
    plan: ExperimentPlan,
) -> Experiment:
    """A draft test with its variants (the first is the control) and its plan."""
    if metric not in METRICS:
        raise CreativeError(_("Choose a metric to compare the variants on."))
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise CreativeError(_("A test has %(min)s to %(max)s variants.") % {"min": MIN_VARIANTS, "max": MAX_VARIANTS})
    names = [v.name.strip() for v in variants]
    if len(set(names)) != len(names) or not all(names):
        raise CreativeError(_("Give each variant its own name."))
    targets = [(v.campaign_id, v.ad_group_id) for v in variants]
    if len(set(targets)) != len(targets):
        raise CreativeError(_("Each variant needs its own campaign or ad group."))
    experiment = Experiment.unscoped_objects.create(
        organization=organization,
        name=name.strip(),
        channel=channel,
        metric=metric,
        baseline_rate=Decimal(str(round(baseline_rate, 6))),
        minimum_effect=Decimal(str(round(minimum_effect, 4))),
        planned_units=plan.per_variant,
        planned_days=plan.days,
    )
    ExperimentVariant.unscoped_objects.bulk_create(
        [
            ExperimentVariant(
                organization=organization,
                experiment=experiment,
                name=variant_name,
                position=position,
                campaign_id=variant.campaign_id,
                ad_group_id=variant.ad_group_id,
            )
            for position, (variant_name, variant) in enumerate(zip(names, variants, strict=True))
        ]
    )
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.experiment_created",
        target=experiment,
        data={"channel": channel, "metric": metric, "variants": len(variants), "planned_units": plan.per_variant},
    )
    return experiment


def _locked_experiment(organization: Organization, experiment_id: int) -> Experiment:
    return Experiment.unscoped_objects.select_for_update().get(organization=organization, pk=experiment_id)


@transaction.atomic
def experiment_start(*, organization: Organization, actor: User | None, experiment_id: int, today: date) -> Experiment:
    """Start a draft test: its numbers count from ``today``."""
    experiment = _locked_experiment(organization, experiment_id)
    if experiment.status != Experiment.Status.DRAFT:
        raise CreativeError(_("Only a draft test can be started."))
    experiment.status = Experiment.Status.RUNNING
    experiment.started_on = today
    experiment.save(update_fields=["status", "started_on", "updated_at"])
    record_audit(
        organization=organization, actor=actor, verb="campaigns.experiment_started", target=experiment, data={}
    )
    return experiment


@transaction.atomic
def experiment_stop(
    *, organization: Organization, actor: User | None, experiment_id: int, today: date, winner: str = ""
) -> Experiment:
    """Stop a running test on ``today``, recording ``winner`` (the readout's winner, or empty)."""
    experiment = _locked_experiment(organization, experiment_id)
    if experiment.status != Experiment.Status.RUNNING:
        raise CreativeError(_("Only a running test can be stopped."))
    experiment.status = Experiment.Status.STOPPED
    experiment.stopped_on = max(today, experiment.started_on or today)
    experiment.winner = winner[:120]
    experiment.save(update_fields=["status", "stopped_on", "winner", "updated_at"])
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.experiment_stopped",
        target=experiment,
        data={"winner": experiment.winner},
    )
    return experiment


# --- ad copy --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedDraft:
    """A generated draft and the compliance check of its text."""

    draft: CopyDraft
    check: CheckResult


@dataclass(frozen=True)
class CopyApproval:
    """The outcome of an approval: ``approved`` False means the check blocked the stored text."""

    ad_copy: AdCopy
    approved: bool
    check: CheckResult


def copy_text(*, headline: str, body: str) -> str:
    """Headline and body as the check reads them (the same joining as a generated draft's ``text``)."""
    return "\n".join(part for part in (headline, body) if part)


def copy_length_errors(*, channel: str, headline: str, body: str) -> dict[str, str]:
    """Field -> message for a headline or body longer than ``channel`` allows, or given where it has none."""
    limits = channel_limits(channel)
    errors = {}
    for field, text, limit in (("headline", headline, limits.headline), ("body", body, limits.body)):
        if limit is None:
            if text:
                errors[field] = _("This channel's ads have no %(field)s: leave it empty.") % {
                    "field": _("headline") if field == "headline" else _("body text")
                }
            continue
        length = text_length(text, channel=channel)
        if length > limit:
            errors[field] = _("%(length)s characters: this channel allows %(limit)s.") % {
                "length": length,
                "limit": limit,
            }
    if not headline and not body:
        errors["headline" if limits.headline is not None else "body"] = _("Write the ad text.")
    return errors


def _checked(*, text: str, market: str, channel: str, language: str) -> CheckResult:
    """``copy_check`` of ``text``; a market or channel the rule engine cannot read is a ``CreativeError`` (the
    text is then neither saved as checked nor approved)."""
    try:
        return copy_check(text=text, markets=[market] if market else [], channel=channel, language=language)
    except ValueError as exc:
        raise CreativeError(
            _("The compliance check cannot check texts for %(market)s on %(channel)s.")
            % {"market": market or "-", "channel": channel}
        ) from exc


def _check(*, headline: str, body: str, market: str, channel: str, language: str) -> CheckResult:
    return _checked(text=copy_text(headline=headline, body=body), market=market, channel=channel, language=language)


def findings_json(findings: Sequence) -> list[dict]:
    """The engine's findings as JSON objects (it may answer with dicts, dataclasses or plain strings)."""
    result = []
    for finding in findings or ():
        if isinstance(finding, Mapping):
            item = dict(finding)
        elif dataclasses.is_dataclass(finding) and not isinstance(finding, type):
            item = dataclasses.asdict(finding)
        elif hasattr(finding, "__dict__"):
            item = {k: v for k, v in vars(finding).items() if not k.startswith("_")}
        else:
            item = {"message": str(finding)}
        result.append({str(key): _json_value(value) for key, value in item.items()})
    return result


def _json_value(value):
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    return str(value)


def _verdict(check: CheckResult) -> str:
    """What is stored: the verdict, or empty when the text was not checked by a rule engine."""
    return check.verdict if check.checked else ""


def copy_generate(
    *,
    product: ProductBrief,
    market: str,
    language: str,
    channel: str,
    tone: str = "neutral",
    variants: int = 3,
    provider: CopyProvider | None = None,
) -> list[CheckedDraft]:
    """Drafts from the configured provider (templates offline, a language model when configured), each with
    its check. Raises ``CopyProviderError`` when the provider cannot deliver."""
    provider = provider or provider_from_settings()
    drafts = provider.generate(
        product=product, market=market, language=language, channel=channel, tone=tone, variants=variants
    )
    return [
        CheckedDraft(
            draft=draft,
            check=_check(
                headline=draft.headline, body=draft.body, market=market, channel=channel, language=draft.language
            ),
        )
        for draft in drafts
    ]


def copy_check_draft(*, headline: str, body: str, market: str, channel: str, language: str) -> CheckResult:
    """The check of an edited, not yet saved draft."""
    return _check(headline=headline, body=body, market=market, channel=channel, language=language)


@transaction.atomic
def copy_save(
    *,
    organization: Organization,
    actor: User | None,
    product: str,
    market: str,
    language: str,
    channel: str,
    headline: str,
    body: str,
    provider: str,
) -> AdCopy:
    """Save a draft after checking its text: status ``draft``, or ``blocked`` when the check blocks it."""
    errors = copy_length_errors(channel=channel, headline=headline, body=body)
    if errors:
        raise CreativeError(" ".join(errors.values()))
    market = market.strip().upper()
    check = _check(headline=headline, body=body, market=market, channel=channel, language=language)
    ad_copy = AdCopy.unscoped_objects.create(
        organization=organization,
        product=product.strip()[:255],
        market=market,
        language=language,
        channel=channel,
        headline=headline,
        body=body,
        provider=(provider or "manual")[:64],
        status=AdCopy.Status.DRAFT if check.approvable else AdCopy.Status.BLOCKED,
        check_verdict=_verdict(check),
        check_findings=findings_json(check.findings),
    )
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.copy_saved",
        target=ad_copy,
        data={"channel": channel, "market": market, "language": language, "verdict": ad_copy.check_verdict},
    )
    return ad_copy


@transaction.atomic
def copy_update(*, organization: Organization, actor: User | None, ad_copy_id: int, headline: str, body: str) -> AdCopy:
    """Edit a saved copy. Its text is checked again; a changed text loses an earlier approval (it goes back to
    ``draft``, or ``blocked`` when the check blocks it)."""
    ad_copy = AdCopy.unscoped_objects.select_for_update().get(organization=organization, pk=ad_copy_id)
    errors = copy_length_errors(channel=ad_copy.channel, headline=headline, body=body)
    if errors:
        raise CreativeError(" ".join(errors.values()))
    changed = (headline, body) != (ad_copy.headline, ad_copy.body)
    check = _check(
        headline=headline, body=body, market=ad_copy.market, channel=ad_copy.channel, language=ad_copy.language
    )
    ad_copy.headline, ad_copy.body = headline, body
    ad_copy.check_verdict = _verdict(check)
    ad_copy.check_findings = findings_json(check.findings)
    if not check.approvable:
        ad_copy.status = AdCopy.Status.BLOCKED
    elif changed or ad_copy.status == AdCopy.Status.BLOCKED:
        ad_copy.status = AdCopy.Status.DRAFT
    if ad_copy.status != AdCopy.Status.APPROVED:
        ad_copy.approved_by = None
    ad_copy.save(
        update_fields=["headline", "body", "check_verdict", "check_findings", "status", "approved_by", "updated_at"]
    )
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.copy_edited",
        target=ad_copy,
        data={"status": ad_copy.status, "verdict": ad_copy.check_verdict},
    )
    return ad_copy


@transaction.atomic
def copy_approve(*, organization: Organization, actor: User, ad_copy_id: int) -> CopyApproval:
    """Approve a saved copy after checking its stored text again. A blocked verdict refuses the approval and
    marks the copy ``blocked`` with the findings; otherwise it is ``approved`` by ``actor``."""
    ad_copy = AdCopy.unscoped_objects.select_for_update().get(organization=organization, pk=ad_copy_id)
    check = _check(
        headline=ad_copy.headline,
        body=ad_copy.body,
        market=ad_copy.market,
        channel=ad_copy.channel,
        language=ad_copy.language,
    )
    ad_copy.check_verdict = _verdict(check)
    ad_copy.check_findings = findings_json(check.findings)
    if check.approvable:
        ad_copy.status, ad_copy.approved_by = AdCopy.Status.APPROVED, actor
    else:
        ad_copy.status, ad_copy.approved_by = AdCopy.Status.BLOCKED, None
    ad_copy.save(update_fields=["check_verdict", "check_findings", "status", "approved_by", "updated_at"])
    record_audit(
        organization=organization,
        actor=actor,
        verb="campaigns.copy_approved" if check.approvable else "campaigns.copy_blocked",
        target=ad_copy,
        data={"verdict": ad_copy.check_verdict, "checked": check.checked},
    )
    return CopyApproval(ad_copy=ad_copy, approved=check.approvable, check=check)


# --- keyword localization -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    """A translated keyword that was not proposed: ``reason`` is ``blocked`` (with the check's findings) or
    ``existing`` (the ad group already has it)."""

    source: str
    translation: str
    reason: str
    findings: tuple[dict, ...] = ()


@dataclass(frozen=True)
class LocalizeResult:
    """What a proposal of localized keywords did: the run (``None`` when nothing was left to propose) and the
    keywords left out."""

    proposed: Proposed | None
    left_out: tuple[LeftOut, ...]
    checked: bool


def keywords_localize(
    *, keywords: Sequence[str], source_language: str, target_language: str, provider: CopyProvider | None = None
) -> list[dict]:
    """Each keyword with its translation (``source``, ``translation``) from the configured provider. Raises
    ``CopyProviderError`` (code ``needs_provider`` without a language model)."""
    provider = provider or provider_from_settings()
    return translate_keywords(
        provider=provider,
        keywords=list(keywords),
        source_language=source_language,
        target_language=target_language,
    )


def _clean_keyword(text: str) -> str:
    return " ".join((text or "").split())[:MAX_KEYWORD_LENGTH]


@transaction.atomic
def localized_keywords_propose(
    *,
    organization: Organization,
    actor: User | None,
    ad_group_id: int,
    keywords: Sequence[tuple[str, str]],
    match_type: str,
    bid: Decimal | None,
    source_language: str,
    target_language: str,
    source_marketplace: str = "",
) -> LocalizeResult:
    """Propose each ``(source, translation)`` as a keyword of the ad group ``ad_group_id`` (one run, tool
    "manual"). Every translation passes the compliance check first: blocked ones, and ones the ad group
    already has with this match type, are left out and returned. The bid defaults to the ad group's."""
    if match_type not in KEYWORD_MATCH_TYPES:
        raise CreativeError(_("Choose exact, phrase or broad match."))
    try:
        ad_group = AdGroup.unscoped_objects.select_related("campaign__ad_account").get(
            organization=organization, pk=ad_group_id
        )
    except AdGroup.DoesNotExist:
        raise CreativeError(_("Choose an ad group to add the keywords to.")) from None
    account = ad_group.campaign.ad_account
    marketplace = account.marketplace
    existing = {
        text.casefold()
        for text in Target.unscoped_objects.filter(
            organization=organization, ad_group=ad_group, match_type=match_type
        ).values_list("text", flat=True)
    }
    bid = bid if bid is not None else ad_group.default_bid
    rows, left_out, seen, checked = [], [], set(), True
    for source, translation in keywords:
        text = _clean_keyword(translation)
        if not text or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        if text.casefold() in existing:
            left_out.append(LeftOut(source=source, translation=text, reason="existing"))
            continue
        check = _checked(text=text, market=marketplace, channel=account.channel, language=target_language)
        checked = checked and check.checked
        if not check.approvable:
            left_out.append(
                LeftOut(
                    source=source, translation=text, reason="blocked", findings=tuple(findings_json(check.findings))
                )
            )
            continue
        if source_marketplace:
            reason = _('Translation of "%(source)s", a search term with orders in %(marketplace)s.') % {
                "source": source,
                "marketplace": source_marketplace,
            }
        else:
            reason = _('Translation of "%(source)s".') % {"source": source}
        rows.append(
            {
                "channel": account.channel,
                "account_id": account.external_id,
                "marketplace": marketplace,
                "campaign_id": ad_group.campaign.external_id,
                "campaign_name": ad_group.campaign.name,
                "ad_group_id": ad_group.external_id,
                "ad_group_name": ad_group.name,
                "text": text,
                "match_type": match_type,
                "proposed_value": bid,
                "currency": account.currency,
                "reason": reason,
                "evidence": {
                    "source": source,
                    "source_language": source_language,
                    "target_language": target_language,
                    "source_marketplace": source_marketplace,
                    "check": _verdict(check) or "not_checked",
                },
            }
        )
    proposed = None
    if rows:
        proposed = proposals_create(
            organization=organization,
            tool=ToolRun.Tool.MANUAL,
            kind=ProposalKind.KEYWORD,
            rows=rows,
            actor=actor,
            parameters={
                "localized": True,
                "source_language": source_language,
                "target_language": target_language,
                "source_marketplace": source_marketplace,
                "match_type": match_type,
                "bid": None if bid is None else str(bid),
            },
        )
    return LocalizeResult(proposed=proposed, left_out=tuple(left_out), checked=checked)

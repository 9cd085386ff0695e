"""The Changes page: every proposed change with its reason and evidence, approved or rejected in bulk by the
people allowed to push, followed while it is pushed, and rolled back when the platform allows. Negatives warn
about the converting terms and keywords they would block before anyone approves them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Perm, has_perm, require
from accounts.rendering import is_partial, render_page
from accounts.scoping import get_org_object_or_404
from campaigns import selectors
from campaigns.models import Channel, Proposal, ProposalKind, ProposalStatus
from campaigns.services.keyword_tools import Conflict, negative_conflicts
from campaigns.services.proposals import RollbackError, proposal_rollback, proposals_decide, rollback_possible

TEMPLATE = "campaigns/changes.html"
DEFAULT_STATUS = ProposalStatus.PENDING.value
IN_FLIGHT = "in_flight"
ALL = "all"
STATUS_FILTERS = {
    DEFAULT_STATUS: ProposalStatus.PENDING.label,
    IN_FLIGHT: gettext_lazy("Approved or pushing"),
    **{status.value: status.label for status in ProposalStatus if status != ProposalStatus.PENDING},
    ALL: gettext_lazy("All"),
}
FILTER_KEYS = ("status", "kind", "channel", "run")


@dataclass(frozen=True)
class Filters:
    status: str = DEFAULT_STATUS
    kind: str = ""
    channel: str = ""
    run: int | None = None
    page: str = "1"

    @classmethod
    def from_params(cls, params) -> Filters:
        """Unknown or malformed values fall back to no filter: an old link still opens. One tool run's changes
        show in every state by default, so approved rows stay in view while they are pushed."""
        kind = params.get("kind") or ""
        channel = params.get("channel") or ""
        run = params.get("run") or ""
        default = ALL if run.isdigit() else DEFAULT_STATUS
        status = params.get("status") or default
        return cls(
            status=status if status in STATUS_FILTERS else default,
            kind=kind if kind in ProposalKind.values else "",
            channel=channel if channel in Channel.values else "",
            run=int(run) if run.isdigit() else None,
            page=params.get("page") or "1",
        )

    def statuses(self) -> list[str]:
        if self.status == ALL:
            return []
        if self.status == IN_FLIGHT:
            return [status.value for status in selectors.IN_FLIGHT_STATUSES]
        return [self.status]

    def params(self, *, page: int | None = None) -> list[tuple[str, str]]:
        default = ALL if self.run else DEFAULT_STATUS
        pairs = [("status", self.status)] if self.status != default else []
        pairs += [(key, str(value)) for key, value in (("kind", self.kind), ("channel", self.channel)) if value]
        pairs += [("run", str(self.run))] if self.run else []
        return pairs + ([("page", str(page))] if page and page > 1 else [])


@dataclass(frozen=True)
class Row:
    proposal: Proposal
    conflicts: list[Conflict]
    can_rollback: bool
    acos_pct: float | None


def _url(request, filters: Filters, *, page: int | None = None) -> str:
    base = reverse("changes", kwargs={"org_slug": request.organization.slug})
    query = urlencode(filters.params(page=page))
    return f"{base}?{query}" if query else base


def _context(request, filters: Filters) -> dict:
    organization = request.organization
    page = selectors.proposals_page(
        organization=organization,
        statuses=filters.statuses(),
        kinds=[filters.kind] if filters.kind else [],
        channels=[filters.channel] if filters.channel else [],
        run_ids=[filters.run] if filters.run else [],
        page=filters.page,
    )
    proposals = list(page.object_list)
    conflicts = negative_conflicts(organization=organization, proposals=proposals)
    rows = []
    for proposal in proposals:
        acos = (proposal.evidence or {}).get("acos")
        rows.append(
            Row(
                proposal=proposal,
                conflicts=conflicts.get(proposal.pk, []),
                can_rollback=rollback_possible(proposal) and not proposal.rollback_open,
                acos_pct=None if acos is None else float(acos) * 100,
            )
        )
    context = {
        "filters": filters,
        "rows": rows,
        "page": page,
        "pager": {
            "previous": _url(request, filters, page=page.previous_page_number()) if page.has_previous() else "",
            "next": _url(request, filters, page=page.next_page_number()) if page.has_next() else "",
        },
        "self_url": _url(request, filters, page=page.number),
        "filter_params": filters.params(page=page.number),
        "polling": any(p.status in selectors.IN_FLIGHT_STATUSES for p in proposals),
        "can_push": has_perm(request.membership.role, Perm.PUSH_CHANGES),
        "pending_on_page": any(p.status == ProposalStatus.PENDING for p in proposals),
    }
    if not is_partial(request):
        context["status_filters"] = STATUS_FILTERS.items()
        context["kinds"] = ProposalKind.choices
        context["channels"] = Channel.choices
        context["runs"] = selectors.tool_runs_for_filter(
            organization=organization, include=[filters.run] if filters.run else []
        )
    return context


@require_GET
@require(Perm.VIEW)
def changes(request, org_slug):
    filters = Filters.from_params(request.GET)
    return render_page(request, TEMPLATE, _context(request, filters), partial="changes-table")


def _after_write(request):
    """The table again, with the messages swapped in beside it (HTMX), or the page it was posted from."""
    filters = Filters.from_params(request.POST)
    if is_partial(request):
        context = {**_context(request, filters), "oob_messages": True}
        return render_page(request, TEMPLATE, context, partial="changes-table")
    page = int(filters.page) if filters.page.isdigit() else None
    return redirect(_url(request, filters, page=page))


def _ids(values: list[str]) -> list[int]:
    return [int(value) for value in values if value.isdigit()]


@require_POST
@require(Perm.PUSH_CHANGES)
def changes_decide(request, org_slug):
    """Approve (queue for push) or reject the checked proposals, or every one on the page (``all``). Ids of
    another organization, or of proposals no longer waiting, are ignored."""
    action = request.POST.get("action")
    if action not in {"approve", "reject"}:
        return HttpResponseBadRequest(_("Choose to approve or to reject."))
    ids = _ids(request.POST.getlist("page_ids" if request.POST.get("all") else "ids"))
    if not ids:
        messages.warning(request, _("Select at least one change."))
        return _after_write(request)
    approve = action == "approve"
    changed = proposals_decide(organization=request.organization, actor=request.user, ids=ids, approve=approve)
    if approve:
        message = ngettext(
            "%(count)s change approved; it is being pushed to the platform.",
            "%(count)s changes approved; they are being pushed to the platforms.",
            changed,
        )
    else:
        message = ngettext("%(count)s change rejected.", "%(count)s changes rejected.", changed)
    messages.success(request, message % {"count": changed})
    return _after_write(request)


@require_POST
@require(Perm.PUSH_CHANGES)
def change_rollback(request, org_slug, proposal_id):
    proposal = get_org_object_or_404(Proposal, request.organization, pk=proposal_id)
    try:
        proposal_rollback(organization=request.organization, actor=request.user, proposal_id=proposal.pk)
    except RollbackError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Rollback of “%(text)s” queued for push.") % {"text": proposal.text or proposal})
    return _after_write(request)


urlpatterns = [
    path("changes/", changes, name="changes"),
    path("changes/decide/", changes_decide, name="changes_decide"),
    path("changes/<int:proposal_id>/rollback/", change_rollback, name="changes_rollback"),
]

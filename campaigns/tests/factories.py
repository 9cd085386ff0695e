"""Factories for proposals and tool runs, and search-term facts for the keyword tools."""

from datetime import date
from decimal import Decimal

import factory

from accounts.tests.factories import OrganizationFactory
from analytics.tests.factories import AdFactFactory
from campaigns.models import Proposal, ProposalKind, ProposalStatus, ToolRun


class _Unscoped(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped_objects.create(*args, **kwargs)


class ToolRunFactory(_Unscoped):
    class Meta:
        model = ToolRun

    organization = factory.SubFactory(OrganizationFactory)
    tool = ToolRun.Tool.HARVEST
    window_start = date(2026, 11, 1)
    window_end = date(2026, 11, 30)


class ProposalFactory(_Unscoped):
    class Meta:
        model = Proposal

    organization = factory.SubFactory(OrganizationFactory)
    run = factory.SubFactory(ToolRunFactory, organization=factory.SelfAttribute("..organization"))
    kind = ProposalKind.KEYWORD
    status = ProposalStatus.PENDING
    channel = "amazon_ads"
    account_id = "A1"
    marketplace = "US"
    campaign_id = "C1"
    campaign_name = "Lamps auto"
    ad_group_id = "G1"
    ad_group_name = "Lamps"
    text = factory.Sequence(lambda n: f"lamp {n}")
    match_type = "EXACT"
    proposed_value = Decimal("0.75")
    currency = "USD"
    evidence = factory.LazyFunction(lambda: {"clicks": 12, "orders": 3, "cost": 9.0, "sales": 60.0, "acos": 0.15})
    reason = "3 orders from 12 clicks"
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")


def search_term_fact(organization, search_term: str, **fields):
    """One day of one search term (grain ``search_term``) in campaign C1, ad group G1, through an automatic target
    unless told otherwise."""
    values = {
        "organization": organization,
        "grain": "search_term",
        "campaign_id": "C1",
        "campaign_name": "Lamps auto",
        "ad_group_id": "G1",
        "ad_group_name": "Lamps",
        "target_id": "T1",
        "target_text": "close-match",
        "match_type": "TARGETING_EXPRESSION_PREDEFINED",
        "search_term": search_term,
        "impressions": 100,
        "clicks": 10,
        "cost": Decimal("5.00"),
        "orders": 0,
        "units": 0,
        "sales": Decimal("0"),
        **fields,
    }
    return AdFactFactory(**values)

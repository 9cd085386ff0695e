from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from analytics.tests.factories import AdFactFactory
from campaigns import selectors
from campaigns.models import AdAccount, AdGroup, Campaign, NegativeKeyword, Target

START, END = date(2026, 11, 1), date(2026, 11, 30)


def fact(organization, search_term, **fields):
    values = {
        "organization": organization,
        "grain": "search_term",
        "date": date(2026, 11, 10),
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
        "cost": Decimal("5.2500"),
        "orders": 1,
        "units": 1,
        "sales": Decimal("20.0000"),
        **fields,
    }
    return AdFactFactory(**values)


def rows_of(frame):
    return [tuple(row) for row in frame.itertuples(index=False)]


@pytest.mark.django_db
def test_search_terms_are_summed_over_the_window_for_the_organization_only(org, other_org):
    fact(org, "desk lamp", date=date(2026, 11, 1))
    fact(org, "desk lamp", date=date(2026, 11, 30), clicks=4, cost=Decimal("1.1000"), orders=0, sales=Decimal("0"))
    fact(org, "desk lamp", date=date(2026, 12, 1))  # after the window
    fact(org, "desk lamp", date=date(2026, 11, 5), grain="campaign")  # another grain
    fact(org, "floor lamp", ad_group_id="G2", ad_group_name="Floor", marketplace="DE", currency="EUR")
    fact(other_org, "desk lamp")  # another seller

    frame = selectors.search_terms_frame(organization=org, start=START, end=END)

    assert list(frame.columns) == selectors.SEARCH_TERM_COLUMNS
    assert rows_of(frame.sort_values("search_term")) == [
        ("amazon_ads", "A1", "US", "USD", "C1", "Lamps auto", "G1", "Lamps", "close-match")
        + ("TARGETING_EXPRESSION_PREDEFINED", "desk lamp", 200, 14, 6.35, 1, 20.0),
        ("amazon_ads", "A1", "DE", "EUR", "C1", "Lamps auto", "G2", "Floor", "close-match")
        + ("TARGETING_EXPRESSION_PREDEFINED", "floor lamp", 100, 10, 5.25, 1, 20.0),
    ]
    assert [frame[column].dtype for column in selectors.NUMBER_COLUMNS] == [
        np.int64,
        np.int64,
        np.float64,
        np.int64,
        np.float64,
    ]


@pytest.mark.django_db
def test_search_terms_keep_targets_and_odd_text_apart(org):
    fact(org, 'lamp, "brass"', target_id="T1", target_text="lamp", match_type="BROAD")
    fact(org, 'lamp, "brass"', target_id="T2", target_text="lamp", match_type="PHRASE")
    fact(org, "", target_id="T3", target_text="", match_type="")

    frame = selectors.search_terms_frame(organization=org, start=START, end=END)

    assert sorted(zip(frame["search_term"], frame["match_type"], strict=True)) == [
        ("", ""),
        ('lamp, "brass"', "BROAD"),
        ('lamp, "brass"', "PHRASE"),
    ]


@pytest.mark.django_db
def test_search_terms_can_be_limited_to_channels_and_marketplaces(org):
    fact(org, "lamp us")
    fact(org, "lamp de", marketplace="DE", currency="EUR", account_id="A2")
    fact(org, "lamp google", channel="google_ads", account_id="G-1")

    amazon = selectors.search_terms_frame(organization=org, start=START, end=END, channels=["amazon_ads"])
    germany = selectors.search_terms_frame(organization=org, start=START, end=END, marketplaces=["DE"])

    assert sorted(amazon["search_term"]) == ["lamp de", "lamp us"]
    assert list(germany["search_term"]) == ["lamp de"]


@pytest.mark.django_db
def test_no_search_terms_give_an_empty_frame_of_the_same_shape(org):
    frame = selectors.search_terms_frame(organization=org, start=START, end=END)

    assert frame.empty
    assert list(frame.columns) == selectors.SEARCH_TERM_COLUMNS
    assert frame["clicks"].dtype == np.int64


def _campaign(organization, external_id="C1", marketplace="US"):
    account = AdAccount.unscoped_objects.create(
        organization=organization,
        channel="amazon_ads",
        external_id=f"A-{marketplace}",
        name="Main",
        marketplace=marketplace,
        currency="USD",
    )
    campaign = Campaign.unscoped_objects.create(
        organization=organization, ad_account=account, external_id=external_id, name="Lamps"
    )
    group = AdGroup.unscoped_objects.create(organization=organization, campaign=campaign, external_id="G1", name="G")
    return campaign, group


@pytest.mark.django_db
def test_keywords_frame_lists_positive_keywords_with_platform_ids(org, other_org):
    _campaign_, group = _campaign(org)
    for external_id, text, match_type, bid in [
        ("K2", "desk lamp", "EXACT", Decimal("0.7500")),
        ("K1", "lamp", "BROAD", None),
        ("K3", "asin=B000", "TARGETING_EXPRESSION", Decimal("1")),  # a product target, not a keyword
    ]:
        Target.unscoped_objects.create(
            organization=org, ad_group=group, external_id=external_id, text=text, match_type=match_type, bid=bid
        )
    _other, other_group = _campaign(other_org)
    Target.unscoped_objects.create(organization=other_org, ad_group=other_group, external_id="X", text="x")

    frame = selectors.keywords_frame(organization=org)

    assert list(frame.columns) == [*selectors.KEYWORD_COLUMNS, "bid"]
    assert rows_of(frame.fillna({"bid": -1.0})) == [
        ("amazon_ads", "A-US", "US", "C1", "G1", "desk lamp", "EXACT", "", 0.75),
        ("amazon_ads", "A-US", "US", "C1", "G1", "lamp", "BROAD", "", -1.0),
    ]


@pytest.mark.django_db
def test_negatives_frame_lists_campaign_and_ad_group_negatives(org, other_org):
    campaign, group = _campaign(org, marketplace="JP")
    NegativeKeyword.unscoped_objects.create(
        organization=org, campaign=campaign, external_id="N1", text="中古", match_type="NEGATIVE_PHRASE"
    )
    NegativeKeyword.unscoped_objects.create(
        organization=org, campaign=campaign, ad_group=group, external_id="N2", text="free", match_type="NEGATIVE_EXACT"
    )
    other_campaign, _group = _campaign(other_org)
    NegativeKeyword.unscoped_objects.create(
        organization=other_org, campaign=other_campaign, external_id="N", text="x", match_type="NEGATIVE_EXACT"
    )

    frame = selectors.negatives_frame(organization=org)

    assert list(frame.columns) == selectors.KEYWORD_COLUMNS
    assert rows_of(frame) == [
        ("amazon_ads", "A-JP", "JP", "C1", "", "中古", "NEGATIVE_PHRASE", ""),
        ("amazon_ads", "A-JP", "JP", "C1", "G1", "free", "NEGATIVE_EXACT", ""),
    ]

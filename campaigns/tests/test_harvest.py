import pandas as pd
import pytest

from campaigns.keywords.harvest import HARVEST_COLUMNS, HarvestThresholds, harvest_search_terms

AUTO = {"match_type": "TARGETING_EXPRESSION_PREDEFINED", "target_text": "close-match"}
DESTINATIONS = pd.DataFrame([{"campaign_id": "AUTO", "dest_campaign_id": "EXACT", "dest_ad_group_id": "E1"}])
NO_KEYWORDS = pd.DataFrame(columns=["campaign_id", "ad_group_id", "text", "match_type"])


def term(search_term, *, clicks=10, cost=5.0, orders=0, sales=0.0, **fields):
    row = {
        "channel": "amazon_ads",
        "account_id": "A1",
        "marketplace": "US",
        "currency": "USD",
        "campaign_id": "AUTO",
        "campaign_name": "Shirts auto",
        "ad_group_id": "G1",
        "ad_group_name": "Shirts",
        **AUTO,
        "search_term": search_term,
        "impressions": clicks * 10,
        "clicks": clicks,
        "cost": cost,
        "orders": orders,
        "sales": sales,
    }
    row.update(fields)
    return row


def harvest(rows, *, keywords=NO_KEYWORDS, thresholds=None, **kwargs):
    return harvest_search_terms(
        terms=pd.DataFrame(rows), keywords=keywords, thresholds=thresholds or HarvestThresholds(), **kwargs
    )


def proposals(result):
    return [
        (row.kind, row.campaign_id, row.ad_group_id, row.text, row.match_type, None if pd.isna(row.bid) else row.bid)
        for row in result.itertuples(index=False)
    ]


def test_a_converting_term_becomes_an_exact_keyword_and_a_negative_in_its_source():
    rows = [
        term("red shirt", clicks=10, cost=4.0, orders=1, sales=30.0),
        term("red shirt", clicks=10, cost=6.0, orders=2, sales=50.0, ad_group_id="G2"),
        term("blue shirt", clicks=20, cost=5.0, orders=1, sales=30.0),  # one order: not yet proven
        term("green shirt", clicks=4, cost=2.0, orders=2, sales=60.0),  # too few clicks
    ]

    result = harvest(rows, destinations=DESTINATIONS)

    assert list(result.columns) == HARVEST_COLUMNS
    # bid: 30% of the 4.00 the term earns per click
    assert proposals(result) == [
        ("keyword", "EXACT", "E1", "red shirt", "EXACT", 1.2),
        ("negative", "AUTO", "", "red shirt", "NEGATIVE_EXACT", None),
    ]
    keyword = result.iloc[0]
    # the evidence sums the term over the source campaign's ad groups
    assert (keyword["clicks"], keyword["orders"], keyword["cost"], keyword["sales"]) == (20, 3, 10.0, 80.0)
    assert (keyword["acos"], keyword["cvr"], keyword["cpc"]) == (0.125, 0.15, 0.5)
    assert (keyword["source_campaign_id"], keyword["source_ad_group_id"]) == ("AUTO", "G2")  # where it sold most
    assert keyword["source_campaign_name"] == "Shirts auto"
    assert keyword["reason"] == (
        "3 orders from 20 clicks (CVR 15.0%, ACoS 12.5%, 80.00 USD sales on 10.00 USD): "
        "add as an exact keyword at 1.20 USD"
    )
    assert result.iloc[1]["reason"] == (
        "“red shirt” becomes an exact keyword in campaign EXACT: a negative exact here stops the two competing"
    )


def test_terms_are_compared_by_normalized_text():
    rows = [term("Red-Shirt", orders=1, sales=20.0), term("red shirt", orders=1, sales=20.0, ad_group_id="G2")]

    result = harvest(rows, destinations=DESTINATIONS)

    assert proposals(result)[0][:4] == ("keyword", "EXACT", "E1", "Red-Shirt")
    assert result.iloc[0]["term_key"] == "red shirt"
    assert result.iloc[0]["orders"] == 2


def test_a_term_already_exact_in_the_destination_is_not_proposed():
    rows = [term("red shirt", orders=2, sales=40.0), term("blue shirt", orders=2, sales=40.0)]
    keywords = pd.DataFrame(
        [
            {"campaign_id": "EXACT", "ad_group_id": "E1", "text": "Red Shirt", "match_type": "EXACT", "state": ""},
            {
                "campaign_id": "EXACT",
                "ad_group_id": "E1",
                "text": "blue shirt",
                "match_type": "EXACT",
                "state": "paused",
            },
            {"campaign_id": "EXACT", "ad_group_id": "E2", "text": "blue shirt", "match_type": "EXACT", "state": ""},
        ]
    )
    # the facts show an exact target "green shirt" serving in the destination ad group
    seen = term("green shirt", orders=2, sales=40.0, campaign_id="EXACT", ad_group_id="E1", match_type="EXACT")
    rows += [term("green shirt", orders=2, sales=40.0), {**seen, "target_text": "Green shirt"}]

    result = harvest(rows, keywords=keywords, destinations=DESTINATIONS)

    # a paused keyword, or one in another ad group, does not count
    assert [row[3] for row in proposals(result) if row[0] == "keyword"] == ["blue shirt"]


def test_the_bid_is_clamped_and_rounded():
    thresholds = HarvestThresholds(target_acos=0.3, min_bid=0.2, max_bid=2.0)
    rows = [
        term("cheap shirt", clicks=10, orders=2, sales=5.0, campaign_id="C1"),  # 0.15 -> 0.20
        term("silk shirt", clicks=10, orders=2, sales=1000.0, campaign_id="C2"),  # 30.00 -> 2.00
        term("linen shirt", clicks=7, orders=2, sales=10.0, campaign_id="C3"),  # 0.428571 -> 0.43
    ]

    result = harvest(rows, thresholds=thresholds)

    bids = {row[3]: row[5] for row in proposals(result) if row[0] == "keyword"}
    assert bids == {"cheap shirt": 0.2, "silk shirt": 2.0, "linen shirt": 0.43}


def test_a_term_without_clicks_gets_the_default_bid():
    thresholds = HarvestThresholds(min_clicks=0, default_bid=0.55)

    result = harvest([term("red shirt", clicks=0, cost=0.0, orders=2, sales=40.0)], thresholds=thresholds)

    assert proposals(result)[0][5] == 0.55
    assert pd.isna(result.iloc[0]["cpc"])


def test_max_acos_leaves_out_expensive_terms():
    rows = [
        term("red shirt", cost=20.0, orders=2, sales=40.0),  # ACoS 50%
        term("blue shirt", cost=10.0, orders=2, sales=40.0),  # ACoS 25%
    ]

    result = harvest(rows, thresholds=HarvestThresholds(max_acos=0.4))

    assert [row[3] for row in proposals(result) if row[0] == "keyword"] == ["blue shirt"]


def test_a_destination_in_the_source_campaign_is_protected_per_ad_group():
    rows = [
        term("red shirt", orders=3, sales=60.0, campaign_id="M", ad_group_id="G1", match_type="BROAD"),
        term("red shirt", orders=1, sales=20.0, campaign_id="M", ad_group_id="G2", match_type="PHRASE"),
        term("red shirt", orders=1, sales=20.0, campaign_id="M", ad_group_id="G3", match_type="EXACT"),
    ]

    result = harvest(rows)

    # a campaign-level negative would block the new keyword too; G3 already matched it exactly
    assert proposals(result) == [
        ("keyword", "M", "G1", "red shirt", "EXACT", 1.0),  # 30% of 100.00 over 30 clicks
        ("negative", "M", "G2", "red shirt", "NEGATIVE_EXACT", None),
    ]
    assert result.iloc[1]["reason"] == (
        "“red shirt” becomes an exact keyword in ad group G1: a negative exact here stops the two competing"
    )


def test_a_term_that_only_came_through_exact_targets_needs_no_negative():
    rows = [term("red shirt", orders=2, sales=40.0, match_type="EXACT", target_text="red shirts")]

    result = harvest(rows, destinations=DESTINATIONS)

    assert [row[0] for row in proposals(result)] == ["keyword"]


def test_an_existing_negative_is_not_proposed_again():
    rows = [term("red shirt", orders=2, sales=40.0), term("blue dress", orders=2, sales=40.0)]
    negatives = pd.DataFrame(
        [
            {"campaign_id": "AUTO", "ad_group_id": "", "text": "shirts", "match_type": "NEGATIVE_PHRASE"},
            {"campaign_id": "AUTO", "ad_group_id": "G1", "text": "blue dress", "match_type": "NEGATIVE_EXACT"},
        ]
    )

    result = harvest(rows, destinations=DESTINATIONS, negatives=negatives)

    # the ad-group negative does not cover the whole campaign, so the campaign-level one is still proposed
    assert [(row[0], row[3]) for row in proposals(result)] == [
        ("keyword", "blue dress"),
        ("negative", "blue dress"),
        ("keyword", "red shirt"),
    ]


def test_thresholds_can_differ_per_currency():
    thresholds = {
        "USD": HarvestThresholds(),
        "JPY": HarvestThresholds(min_bid=2, max_bid=500, default_bid=50),
    }
    rows = [
        term("red shirt", orders=2, sales=40.0),
        term("赤いシャツ", clicks=10, cost=900.0, orders=2, sales=10000.0, marketplace="JP", currency="JPY"),
    ]

    result = harvest(rows, thresholds=thresholds)

    assert {row[3]: row[5] for row in proposals(result) if row[0] == "keyword"} == {
        "赤いシャツ": 300.0,
        "red shirt": 1.2,
    }
    assert "300.00 JPY" in result[result["currency"] == "JPY"].iloc[0]["reason"]
    with pytest.raises(ValueError, match="JPY"):
        harvest(rows, thresholds={"USD": HarvestThresholds()})


def test_proposals_come_by_source_campaign_then_orders():
    rows = [
        term("a shirt", orders=2, sales=40.0, campaign_id="C2"),
        term("b shirt", orders=2, sales=40.0, campaign_id="C1"),
        term("c shirt", orders=5, sales=90.0, campaign_id="C1"),
    ]

    result = harvest(rows)

    assert [(row.source_campaign_id, row.text) for row in result.itertuples() if row.kind == "keyword"] == [
        ("C1", "c shirt"),
        ("C1", "b shirt"),
        ("C2", "a shirt"),
    ]


def test_nothing_converting_gives_an_empty_frame():
    assert harvest([term("red shirt", orders=1, sales=20.0)]).empty
    empty = harvest([term("red shirt")][:0])
    assert empty.empty
    assert list(empty.columns) == HARVEST_COLUMNS


def test_asins_and_undisclosed_terms_are_not_harvested():
    rows = [
        term("*", clicks=50, cost=10.0, orders=5, sales=150.0),  # Amazon's undisclosed term
        term("B0ABCDE123", clicks=50, cost=10.0, orders=5, sales=150.0),  # a product page: a product target
        term("lamp b0 style", clicks=50, cost=10.0, orders=5, sales=150.0),  # words that only start like one
    ]
    assert [row[3] for row in proposals(harvest(rows, destinations=DESTINATIONS)) if row[0] == "keyword"] == [
        "lamp b0 style"
    ]

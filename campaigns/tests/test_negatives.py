import pandas as pd

from campaigns.keywords.negatives import NEGATIVE_COLUMNS, mine_negatives


def term(search_term, *, clicks=10, cost=5.0, orders=0, sales=0.0, **fields):
    row = {
        "channel": "amazon_ads",
        "account_id": "A1",
        "marketplace": "US",
        "currency": "USD",
        "campaign_id": "C1",
        "campaign_name": "Shirts",
        "ad_group_id": "G1",
        "ad_group_name": "Shirts",
        "target_text": "shirt",
        "match_type": "BROAD",
        "search_term": search_term,
        "impressions": clicks * 10,
        "clicks": clicks,
        "cost": cost,
        "orders": orders,
        "sales": sales,
    }
    row.update(fields)
    return row


def mine(rows, **kwargs):
    return mine_negatives(terms=pd.DataFrame(rows), **kwargs)


def proposals(result):
    return [
        (row.campaign_id, row.ad_group_id, row.text, row.match_type, row.terms, row.clicks, row.cost)
        for row in result.itertuples(index=False)
    ]


def test_terms_that_spend_without_orders_become_exact_negatives():
    rows = [
        term("red shirt", clicks=12, cost=6.0),
        term("green shirt", clicks=6, cost=4.0, ad_group_id="G2"),
        term("green shirt", clicks=6, cost=4.0, ad_group_id="G3"),  # 12 clicks over the campaign
        term("blue shirt", clicks=9, cost=9.0),  # too few clicks
        term("pink shirt", clicks=30, cost=15.0, orders=1, sales=25.0),  # sold
    ]

    result = mine(rows)

    assert list(result.columns) == NEGATIVE_COLUMNS
    assert proposals(result) == [
        ("C1", "", "green shirt", "NEGATIVE_EXACT", 1, 12, 8.0),
        ("C1", "", "red shirt", "NEGATIVE_EXACT", 1, 12, 6.0),
    ]
    first = result.iloc[0]
    assert (first["orders"], first["sales"], first["cpc"], first["campaign_name"]) == (0, 0.0, 0.67, "Shirts")
    assert first["reason"] == "12 clicks and 8.00 USD spent with no orders"


def test_a_spend_floor_can_be_set():
    rows = [term("red shirt", clicks=12, cost=6.0), term("green shirt", clicks=12, cost=8.0)]

    result = mine(rows, min_spend=7.0)

    assert [row[2] for row in proposals(result)] == ["green shirt"]


def test_a_root_wasted_across_several_terms_becomes_one_phrase_negative():
    rows = [
        term("free shirt", clicks=10, cost=5.0),
        term("free shirts pattern", clicks=4, cost=2.0),  # too small alone, still covered by the root
        term("shirt for free", clicks=3, cost=1.5),
        term("free dress", clicks=11, cost=7.0, campaign_id="C2"),  # another campaign
        term("red shirt", clicks=10, cost=6.0, orders=2, sales=40.0),
    ]

    result = mine(rows)

    assert proposals(result) == [
        ("C1", "", "free", "NEGATIVE_PHRASE", 3, 17, 8.5),
        ("C2", "", "free dress", "NEGATIVE_EXACT", 1, 11, 7.0),
    ]
    phrase = result.iloc[0]
    assert phrase["examples"] == "free shirt"  # the wasted terms it stands for
    assert phrase["reason"] == "3 search terms containing “free” took 17 clicks and 8.50 USD with no orders"


def test_the_root_covering_most_terms_wins_and_covers_its_terms():
    rows = [
        term("free shipping shirt", clicks=10, cost=5.0),
        term("free shipping dress", clicks=10, cost=5.0),
        term("free shipping", clicks=10, cost=5.0),
        term("free sample", clicks=10, cost=5.0),
    ]

    result = mine(rows)

    assert proposals(result) == [("C1", "", "free", "NEGATIVE_PHRASE", 4, 40, 20.0)]
    assert result.iloc[0]["examples"] == "free sample, free shipping, free shipping dress"


def test_no_phrase_from_a_root_that_sold_or_is_only_stop_words():
    rows = [
        term("shirt for men", clicks=10, cost=5.0),
        term("shirt for women", clicks=10, cost=5.0),
        term("shirt for kids", clicks=10, cost=5.0),
        term("shirt for dogs", clicks=10, cost=5.0, orders=1, sales=20.0),
    ]

    result = mine(rows)

    # "shirt", "for" and "shirt for" all sold once, "for" is a stop word anyway: exact negatives only
    assert [(row[2], row[3]) for row in proposals(result)] == [
        ("shirt for kids", "NEGATIVE_EXACT"),
        ("shirt for men", "NEGATIVE_EXACT"),
        ("shirt for women", "NEGATIVE_EXACT"),
    ]


def test_phrase_min_terms_sets_how_many_terms_make_a_root():
    rows = [term("free shirt", clicks=10, cost=5.0), term("free dress", clicks=10, cost=5.0)]

    assert [row[3] for row in proposals(mine(rows))] == ["NEGATIVE_EXACT", "NEGATIVE_EXACT"]
    assert proposals(mine(rows, phrase_min_terms=2)) == [("C1", "", "free", "NEGATIVE_PHRASE", 2, 20, 10.0)]


def test_what_existing_negatives_block_is_left_out():
    rows = [
        term("red shirt", clicks=12, cost=6.0),
        term("Red Shirts", clicks=12, cost=6.0, campaign_id="C2"),
        term("green shirt", clicks=8, cost=4.0, ad_group_id="G1"),
        term("green shirt", clicks=8, cost=4.0, ad_group_id="G2"),
        term("blue shirt", clicks=12, cost=5.0),
        term("pink shirt", clicks=12, cost=5.0, orders=1, sales=20.0),
    ]
    negatives = pd.DataFrame(
        [
            {"campaign_id": "C1", "ad_group_id": "", "text": "red shirts", "match_type": "NEGATIVE_EXACT"},
            {"campaign_id": "C1", "ad_group_id": "G1", "text": "green", "match_type": "NEGATIVE_PHRASE"},
            {
                "campaign_id": "C1",
                "ad_group_id": "",
                "text": "blue",
                "match_type": "NEGATIVE_PHRASE",
                "state": "archived",
            },
        ]
    )

    result = mine(rows, negatives=negatives)

    # "red shirt" is negated in C1 only; "green shirt" keeps the 8 clicks of G2, under the threshold
    assert [(row[0], row[2], row[5]) for row in proposals(result)] == [
        ("C1", "blue shirt", 12),
        ("C2", "Red Shirts", 12),
    ]
    assert [(row[0], row[2], row[5]) for row in proposals(mine(rows, negatives=negatives, min_clicks=8))] == [
        ("C1", "blue shirt", 12),
        ("C1", "green shirt", 8),
        ("C2", "Red Shirts", 12),
    ]


def test_japanese_terms_are_mined_on_their_cjk_runs():
    japan = {"marketplace": "JP", "currency": "JPY"}
    rows = [
        term("中古 iphone", clicks=10, cost=500.0, **japan),
        term("中古 ケース", clicks=10, cost=500.0, **japan),
        term("ケース 中古", clicks=10, cost=500.0, **japan),
        term("iphone ケース", clicks=10, cost=500.0, orders=1, sales=3000.0, **japan),
    ]

    result = mine(rows)

    assert proposals(result) == [("C1", "", "中古", "NEGATIVE_PHRASE", 3, 30, 1500.0)]
    assert result.iloc[0]["reason"] == "3 search terms containing “中古” took 30 clicks and 1,500.00 JPY with no orders"


def test_nothing_wasted_gives_an_empty_frame():
    assert mine([term("red shirt", orders=1, sales=20.0)]).empty
    empty = mine([term("red shirt")][:0])
    assert empty.empty
    assert list(empty.columns) == NEGATIVE_COLUMNS


def test_asins_and_undisclosed_terms_are_not_made_negative_keywords():
    rows = [term("*", clicks=40, cost=20.0), term("b0abcde123", clicks=40, cost=20.0), term("cheap lamp", clicks=40)]
    assert [row[2] for row in proposals(mine(rows))] == ["cheap lamp"]

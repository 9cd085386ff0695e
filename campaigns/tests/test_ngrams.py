import math

import pandas as pd

from campaigns.keywords.ngrams import NGRAM_COLUMNS, ngram_table, wasted_roots


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


def frame(*rows):
    return pd.DataFrame(list(rows))


def rows_of(table, columns=("n", "ngram", "stem_key", "terms", "clicks", "cost", "orders", "sales")):
    return [tuple(row) for row in table[list(columns)].itertuples(index=False)]


def test_unigrams_and_bigrams_are_summed_over_stems_per_distinct_term():
    terms = frame(
        term("Red T-Shirts", clicks=10, cost=5.0, orders=1, sales=20.0),
        term("red shirt", clicks=4, cost=2.0),
        term("free shirt", clicks=4, cost=2.0, campaign_id="C2"),
    )

    table = ngram_table(terms=terms, n=(1, 2))

    assert list(table.columns) == NGRAM_COLUMNS
    assert rows_of(table) == [
        (1, "shirts", "shirt", 3, 18, 9.0, 1, 20.0),  # labelled as the most-clicked term spells it
        (1, "red", "red", 2, 14, 7.0, 1, 20.0),
        (1, "t", "t", 1, 10, 5.0, 1, 20.0),
        (1, "free", "free", 1, 4, 2.0, 0, 0.0),
        (2, "red t", "red t", 1, 10, 5.0, 1, 20.0),
        (2, "t shirts", "t shirt", 1, 10, 5.0, 1, 20.0),
        (2, "free shirt", "free shirt", 1, 4, 2.0, 0, 0.0),  # ties in cost: by stems
        (2, "red shirt", "red shirt", 1, 4, 2.0, 0, 0.0),
    ]
    first = table.iloc[0]
    assert (first["language"], first["currency"], first["impressions"]) == ("en", "USD", 180)
    assert first["acos"] == 9.0 / 20.0
    assert first["cvr"] == 1 / 18
    assert list(table["generic"]) == [False, False, True, False, False, False, False, False]


def test_a_term_counts_a_gram_once_and_its_rows_are_summed_first():
    terms = frame(
        term("shirt shirt", clicks=3, cost=1.0),
        term("shirt shirt", clicks=2, cost=1.0, ad_group_id="G2"),
        term("Shirt  Shirt", clicks=1, cost=1.0),
    )

    table = ngram_table(terms=terms, n=(1,))

    assert rows_of(table) == [(1, "shirt", "shirt", 1, 6, 3.0, 0, 0.0)]
    assert math.isnan(table.iloc[0]["acos"])
    assert table.iloc[0]["cvr"] == 0.0


def test_currencies_and_languages_are_kept_apart():
    terms = frame(
        term("red shirt", clicks=4, cost=2.0),
        term("red shirt", clicks=5, cost=3.0, marketplace="UK", currency="GBP", account_id="A2"),
        term("rotes hemd", clicks=6, cost=4.0, marketplace="DE", currency="EUR", account_id="A3"),
        term("iphone ケース", clicks=2, cost=300.0, marketplace="JP", currency="JPY", account_id="A4"),
    )

    table = ngram_table(terms=terms, n=(1,))

    assert rows_of(table, ("language", "currency", "ngram", "clicks", "cost")) == [
        ("de", "EUR", "hemd", 6, 4.0),
        ("de", "EUR", "rotes", 6, 4.0),
        ("en", "GBP", "red", 5, 3.0),
        ("en", "GBP", "shirt", 5, 3.0),
        ("en", "USD", "red", 4, 2.0),
        ("en", "USD", "shirt", 4, 2.0),
        ("ja", "JPY", "iphone", 2, 300.0),
        ("ja", "JPY", "ケース", 2, 300.0),
    ]


def test_by_columns_split_the_sums():
    terms = frame(term("red shirt", clicks=4, cost=2.0), term("blue shirt", clicks=6, cost=3.0, campaign_id="C2"))

    table = ngram_table(terms=terms, n=(1,), by=["campaign_id"])

    assert list(table.columns) == ["campaign_id", *NGRAM_COLUMNS]
    assert rows_of(table, ("campaign_id", "ngram", "terms", "cost")) == [
        ("C1", "red", 1, 2.0),
        ("C1", "shirt", 1, 2.0),
        ("C2", "blue", 1, 3.0),
        ("C2", "shirt", 1, 3.0),
    ]


def test_a_forced_language_stems_every_row_in_it():
    terms = frame(term("schuhe", clicks=1, cost=1.0), term("schuh", clicks=2, cost=1.0))

    english = ngram_table(terms=terms, n=(1,))
    german = ngram_table(terms=terms, n=(1,), language="de")

    assert rows_of(english, ("ngram", "terms")) == [("schuh", 1), ("schuhe", 1)]
    assert rows_of(german, ("language", "ngram", "stem_key", "terms")) == [("de", "schuh", "schuh", 2)]


def test_the_table_does_not_depend_on_row_order():
    terms = frame(
        term("red shirt", clicks=4, cost=2.0),
        term("blue shirt", clicks=4, cost=2.0),
        term("green shirt", clicks=4, cost=2.0),
        term("red dress", clicks=4, cost=2.0),
    )

    forward = ngram_table(terms=terms)
    backward = ngram_table(terms=terms.iloc[::-1].reset_index(drop=True))

    pd.testing.assert_frame_equal(forward, backward)


def test_wasted_roots_spend_without_orders_across_several_terms():
    terms = frame(
        term("free shirt", clicks=5, cost=3.0),
        term("free dress", clicks=5, cost=3.0),
        term("shirt for free", clicks=5, cost=3.0),
        term("red shirt", clicks=5, cost=3.0, orders=1, sales=30.0),
        term("for kids", clicks=30, cost=20.0),
        term("for men", clicks=30, cost=20.0),
        term("for women", clicks=30, cost=20.0),
    )
    table = ngram_table(terms=terms, n=(1, 2))

    roots = wasted_roots(table, min_terms=3, min_spend=5.0)

    # "for" spent most but is a stop word; "shirt" sold once
    assert rows_of(roots, ("ngram", "terms", "clicks", "cost", "orders")) == [("free", 3, 15, 9.0, 0)]
    assert wasted_roots(table, min_terms=3, min_spend=10.0).empty
    assert rows_of(wasted_roots(table, min_terms=2, min_clicks=16), ("ngram",)) == []


def test_an_empty_frame_gives_an_empty_table():
    table = ngram_table(terms=frame(term("x")).iloc[:0])

    assert table.empty
    assert list(table.columns) == NGRAM_COLUMNS

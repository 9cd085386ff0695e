"""Keyword ideas from product titles and from sibling products' converting search terms."""

from __future__ import annotations

import pandas as pd
import pytest

from campaigns.keywords.suggest import Suggestion, suggest_from_siblings, suggest_from_titles

TITLES = [
    "Anker Wireless Earbuds, Bluetooth 5.3 - Black",
    "Anker Wireless Earbuds with Noise Cancelling | White",
    "Sport Earbuds Wireless for Running",
]


def keywords(suggestions: list[Suggestion]) -> list[str]:
    return [s.keyword for s in suggestions]


def test_title_phrases_are_ranked_by_how_many_titles_hold_them():
    suggestions = suggest_from_titles(titles=TITLES, language="en", limit=9)

    # "earbuds wireless" in the third title is the same idea as "wireless earbuds": 3 of 3 titles
    assert [(s.keyword, s.title_count, s.score) for s in suggestions] == [
        ("wireless earbuds", 3, 1.0),
        ("wireless", 3, 1.0),
        ("earbuds", 3, 1.0),
        ("anker wireless", 2, 0.6667),
        ("anker wireless earbuds", 2, 0.6667),
        ("anker", 2, 0.6667),
        ("bluetooth 5.3", 1, 0.3333),
        ("noise cancelling", 1, 0.3333),
        ("sport earbuds", 1, 0.3333),
    ]
    assert suggestions[0] == Suggestion(
        keyword="wireless earbuds",
        source="title",
        match_type="PHRASE",
        score=1.0,
        reason="Found in 3 of 3 product titles.",
        title_count=3,
    )
    # no phrase starts or ends with a stop word, none crosses a comma, pipe or " - "
    everything = keywords(suggest_from_titles(titles=TITLES, language="en", limit=500))
    assert not [k for k in everything if k.split()[0] in {"with", "for"} or k.split()[-1] in {"with", "for"}]
    assert "5.3 black" not in everything and "earbuds bluetooth" not in everything
    assert "5.3" not in everything  # a number alone is no keyword


def test_existing_keywords_are_not_suggested_again():
    existing_frame = pd.DataFrame(
        {"campaign_id": ["c1"], "ad_group_id": ["g1"], "text": ["Anker"], "match_type": ["EXACT"]}
    )

    # "Earbuds-Wireless" normalises to the same words as "wireless earbuds"
    assert keywords(suggest_from_titles(titles=TITLES, language="en", existing=["Earbuds-Wireless"], limit=3)) == [
        "wireless",
        "earbuds",
        "anker wireless",
    ]
    assert "anker" not in keywords(suggest_from_titles(titles=TITLES, language="en", existing=existing_frame))


def test_german_stop_words_and_single_title_reason():
    suggestions = suggest_from_titles(
        titles=["Kabellose Kopfhörer mit Geräuschunterdrückung für den Sport"], language="de"
    )

    assert keywords(suggestions) == [
        "kabellose kopfhörer",
        "kopfhörer mit geräuschunterdrückung",
        "kabellose",
        "kopfhörer",
        "geräuschunterdrückung",
        "sport",
    ]
    assert {s.reason for s in suggestions} == {"Found in the product title."}


def test_japanese_titles_use_character_runs():
    titles = ["Anker 完全ワイヤレスイヤホン ノイズキャンセリング 防水", "高音質の完全ワイヤレスイヤホン 防水"]

    suggestions = suggest_from_titles(titles=titles, language="ja", limit=5)

    # "の" is a particle, not part of a word
    assert [(s.keyword, s.title_count) for s in suggestions] == [
        ("完全ワイヤレスイヤホン", 2),
        ("防水", 2),
        ("anker", 1),
        ("ノイズキャンセリング", 1),
        ("高音質", 1),
    ]


def test_chinese_long_runs_offer_only_recurring_pieces():
    titles = ["小米无线蓝牙耳机运动跑步入耳式超长续航", "华为无线蓝牙耳机降噪入耳式", "蓝牙耳机 无线 运动"]

    suggestions = suggest_from_titles(titles=titles, language="zh-Hans")

    # fragments such as "牙耳机" give way to the longer phrase that holds them at least as often
    assert [(s.keyword, s.title_count) for s in suggestions] == [
        ("无线", 3),
        ("蓝牙耳机", 3),
        ("无线蓝牙耳机", 2),
        ("运动", 2),
        ("入耳式", 2),
        ("蓝牙耳机 无线", 1),
        ("无线 运动", 1),
        ("蓝牙耳机 无线 运动", 1),
    ]


def test_no_titles_no_suggestions():
    assert suggest_from_titles(titles=[], language="en") == []
    assert suggest_from_titles(titles=["  ", None], language="en") == []


# --- sibling products -------------------------------------------------------------------------------------------


@pytest.fixture
def product_terms():
    return pd.DataFrame(
        {
            "product_id": ["A", "A", "B", "B", "C", "C", "C", "B"],
            "search_term": [
                "wireless earbuds",
                "earbuds",
                "Earbuds Wireless",
                "bluetooth earbuds",
                "bluetooth earbuds",
                "sport earbuds",
                "earbuds case",
                "running earbuds",
            ],
            "orders": [3, 1, 2, 4, 1, 2, 0, 2],
            "sales": [60.0, 20.0, 40.0, 80.0, 20.0, 44.0, 0.0, 50.0],
            "clicks": [10, 5, 8, 20, 3, 9, 4, 6],
        }
    )


def test_sibling_terms_not_used_by_the_product_ranked_by_orders_then_sales(product_terms):
    suggestions = suggest_from_siblings(product_terms=product_terms, product_id="A", siblings=["B", "C", "A"])

    # "Earbuds Wireless" is the product's own "wireless earbuds"; "earbuds case" never converted
    assert suggestions == [
        Suggestion(
            keyword="bluetooth earbuds",
            source="sibling",
            match_type="EXACT",
            score=5.0,
            reason="5 orders and 100.00 in sales for sibling products (B, C); "
            "this product does not use this search term yet.",
            orders=5,
            sales=100.0,
            clicks=23,
            products=("B", "C"),
        ),
        Suggestion(
            keyword="running earbuds",
            source="sibling",
            match_type="EXACT",
            score=2.0,
            reason="2 orders and 50.00 in sales for sibling products (B); "
            "this product does not use this search term yet.",
            orders=2,
            sales=50.0,
            clicks=6,
            products=("B",),
        ),
        Suggestion(
            keyword="sport earbuds",
            source="sibling",
            match_type="EXACT",
            score=2.0,
            reason="2 orders and 44.00 in sales for sibling products (C); "
            "this product does not use this search term yet.",
            orders=2,
            sales=44.0,
            clicks=9,
            products=("C",),
        ),
    ]


def test_sibling_suggestions_skip_existing_keywords_and_respect_limits(product_terms):
    suggestions = suggest_from_siblings(
        product_terms=product_terms,
        product_id="A",
        siblings=["B", "C"],
        existing=["Bluetooth-Earbuds"],
        min_orders=2,
        limit=1,
    )

    assert [(s.keyword, s.orders) for s in suggestions] == [("running earbuds", 2)]
    assert suggestions[0].reason.startswith("2 orders and 50.00 in sales")


def test_one_order_reads_singular(product_terms):
    one = product_terms[product_terms["search_term"] == "bluetooth earbuds"].iloc[[1]]

    suggestions = suggest_from_siblings(product_terms=one, product_id="A", siblings=["C"])

    assert [s.reason for s in suggestions] == [
        "1 order and 20.00 in sales for sibling products (C); this product does not use this search term yet."
    ]


def test_sibling_input_checks(product_terms):
    assert suggest_from_siblings(product_terms=product_terms, product_id="A", siblings=["A"]) == []
    assert suggest_from_siblings(product_terms=product_terms.iloc[0:0], product_id="A", siblings=["B"]) == []
    with pytest.raises(ValueError, match="clicks"):
        suggest_from_siblings(product_terms=product_terms.drop(columns="clicks"), product_id="A", siblings=["B"])
    with pytest.raises(ValueError, match="currencies"):
        suggest_from_siblings(
            product_terms=product_terms.assign(currency=["USD"] * 7 + ["EUR"]), product_id="A", siblings=["B"]
        )

import pandas as pd

from campaigns.keywords.conflicts import CONFLICT_COLUMNS, find_conflicts, match_negatives


def term(search_term, *, orders=1, sales=20.0, **fields):
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
        "impressions": 100,
        "clicks": 10,
        "cost": 5.0,
        "orders": orders,
        "sales": sales,
    }
    row.update(fields)
    return row


def negative(text, match_type="NEGATIVE_PHRASE", *, campaign_id="C1", ad_group_id=""):
    return {"campaign_id": campaign_id, "ad_group_id": ad_group_id, "text": text, "match_type": match_type}


def blocked(conflicts):
    return [
        (row.negative_text, row.scope, row.blocked_kind, row.ad_group_id, row.blocked_text, row.orders, row.sales)
        for row in conflicts.itertuples(index=False)
    ]


TERMS = pd.DataFrame(
    [
        term("Red T-Shirts", orders=2, sales=40.0),
        term("blue shirt", ad_group_id="G2"),
        term("red big shirt"),
        term("shirts for kids"),
        term("shirtsleeve"),
        term("shirt free", orders=0, sales=0.0),  # never sold: nothing to lose
        term("blue shirt", campaign_id="C2"),  # another campaign
    ]
)


def test_a_negative_phrase_blocks_converting_terms_containing_its_words_in_order():
    conflicts = find_conflicts(negatives=pd.DataFrame([negative("shirts")]), terms=TERMS)

    assert list(conflicts.columns) == CONFLICT_COLUMNS
    # on stems, word by word: "t-shirts" splits into "t" and "shirts"; "shirtsleeve" is another word
    assert blocked(conflicts) == [
        ("shirts", "campaign", "search_term", "G1", "Red T-Shirts", 2, 40.0),
        ("shirts", "campaign", "search_term", "G2", "blue shirt", 1, 20.0),
        ("shirts", "campaign", "search_term", "G1", "red big shirt", 1, 20.0),
        ("shirts", "campaign", "search_term", "G1", "shirts for kids", 1, 20.0),
    ]
    assert conflicts.iloc[0]["explanation"] == (
        "Negative phrase “shirts” would block the search term “Red T-Shirts”, which brought 2 orders"
    )


def test_a_negative_phrase_needs_its_words_together_and_in_order():
    negatives = pd.DataFrame([negative("red shirt"), negative("shirt red")])

    conflicts = find_conflicts(negatives=negatives, terms=TERMS)

    assert blocked(conflicts) == []


def test_a_negative_exact_blocks_the_same_term_and_its_plural():
    terms = pd.DataFrame([term("red shirts"), term("red shirt"), term("red shirt xl"), term("Red-Shirt")])

    conflicts = find_conflicts(negatives=pd.DataFrame([negative("red shirt", "NEGATIVE_EXACT")]), terms=terms)

    # "Red-Shirt" is the same term as "red shirt" once normalized: their orders are summed
    assert [(row[4], row[5]) for row in blocked(conflicts)] == [("red shirt", 2), ("red shirts", 1)]


def test_an_ad_group_negative_only_blocks_its_own_ad_group():
    negatives = pd.DataFrame([negative("shirt", ad_group_id="G2")])

    conflicts = find_conflicts(negatives=negatives, terms=TERMS)

    assert blocked(conflicts) == [("shirt", "ad_group", "search_term", "G2", "blue shirt", 1, 20.0)]
    assert conflicts.iloc[0]["negative_ad_group_id"] == "G2"


def test_active_keywords_are_blocked_when_their_text_would_be():
    keywords = pd.DataFrame(
        [
            {"campaign_id": "C1", "ad_group_id": "G1", "text": "shirt", "match_type": "BROAD", "state": "enabled"},
            {"campaign_id": "C1", "ad_group_id": "G1", "text": "kids shirts", "match_type": "EXACT", "state": ""},
            {"campaign_id": "C1", "ad_group_id": "G1", "text": "red shirts", "match_type": "EXACT", "state": "paused"},
            {"campaign_id": "C1", "ad_group_id": "G1", "text": "dress", "match_type": "PHRASE", "state": "enabled"},
        ]
    )
    terms = pd.DataFrame([term("big shirt", target_text="shirt"), term("small shirt", target_text="shirt")])

    conflicts = find_conflicts(negatives=pd.DataFrame([negative("shirt")]), terms=terms.iloc[:0], keywords=keywords)
    with_sales = find_conflicts(negatives=pd.DataFrame([negative("shirt")]), terms=terms, keywords=keywords)

    assert blocked(conflicts) == [
        ("shirt", "campaign", "keyword", "G1", "kids shirts", 0, 0.0),
        ("shirt", "campaign", "keyword", "G1", "shirt", 0, 0.0),
    ]
    keyword_rows = with_sales[with_sales["blocked_kind"] == "keyword"]
    assert blocked(keyword_rows)[0] == ("shirt", "campaign", "keyword", "G1", "shirt", 2, 40.0)  # what it matched
    assert keyword_rows.iloc[0]["blocked_match_type"] == "BROAD"
    assert keyword_rows.iloc[0]["explanation"] == "Negative phrase “shirt” would block the keyword “shirt” (Broad)"


def test_japanese_negatives_match_by_substring_without_spaces():
    terms = pd.DataFrame(
        [
            term("iphoneケース 手帳型", marketplace="JP", currency="JPY", campaign_id="J1"),
            term("iphone ケース", marketplace="JP", currency="JPY", campaign_id="J1"),
            term("スマホスタンド", marketplace="JP", currency="JPY", campaign_id="J1"),
        ]
    )
    negatives = pd.DataFrame(
        [
            negative("ケース手帳", campaign_id="J1"),
            negative("ケース", campaign_id="J1"),
            negative("iphoneケース", "NEGATIVE_EXACT", campaign_id="J1"),
        ]
    )

    conflicts = find_conflicts(negatives=negatives, terms=terms)

    assert [(row[0], row[4]) for row in blocked(conflicts)] == [
        ("iphoneケース", "iphone ケース"),
        ("ケース", "iphone ケース"),
        ("ケース", "iphoneケース 手帳型"),
        ("ケース手帳", "iphoneケース 手帳型"),
    ]


def test_channel_and_account_keep_equal_campaign_ids_apart():
    terms = pd.DataFrame([term("red shirt"), term("red shirt", channel="google_ads", account_id="G-1")])
    negatives = pd.DataFrame([{**negative("shirt"), "channel": "google_ads", "account_id": "G-1"}])

    conflicts = find_conflicts(negatives=negatives, terms=terms)

    assert list(conflicts.columns) == ["campaign_id", "channel", "account_id", *CONFLICT_COLUMNS[1:]]
    assert list(zip(conflicts["channel"], conflicts["blocked_text"], strict=True)) == [("google_ads", "red shirt")]


def test_nothing_to_check_gives_an_empty_frame():
    assert find_conflicts(negatives=pd.DataFrame(columns=["campaign_id", "ad_group_id", "text"]), terms=TERMS).empty
    assert find_conflicts(negatives=pd.DataFrame([negative("dress")]), terms=TERMS).empty


def test_match_negatives_returns_positions_within_scope():
    negatives = pd.DataFrame(
        [
            {"campaign_id": "C1", "ad_group_id": "", "language": "en", "key": "shirt", "match_type": "NEGATIVE_PHRASE"},
            {"campaign_id": "C1", "ad_group_id": "G9", "language": "en", "key": "red", "match_type": "NEGATIVE_PHRASE"},
        ]
    )
    items = pd.DataFrame(
        [
            {"campaign_id": "C1", "ad_group_id": "G1", "language": "en", "key": "red shirts"},
            {"campaign_id": "C2", "ad_group_id": "G1", "language": "en", "key": "red shirts"},
            {"campaign_id": "C1", "ad_group_id": "G9", "language": "en", "key": "red dress"},
        ]
    )

    pairs = match_negatives(negatives=negatives, items=items)

    assert list(zip(pairs["neg_row"], pairs["item_row"], strict=True)) == [(0, 0), (1, 2)]

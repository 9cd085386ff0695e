import numpy as np
import pandas as pd
import pytest

from campaigns.keywords import text


@pytest.mark.parametrize(
    ("marketplace", "language"),
    [("US", "en"), ("uk", "en"), ("DE", "de"), ("AT", "de"), ("FR", "fr"), ("MX", "es"), ("IT", "it")]
    + [("JP", "ja"), ("CN", "zh"), ("TW", "zh"), ("BR", "en"), ("", "en")],
)
def test_marketplace_language(marketplace, language):
    assert text.marketplace_language(marketplace) == language


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Men's T-Shirts", "mens t shirts"),
        ("ＭＥＮ’Ｓ　Ｔ－ＳＨＩＲＴＳ", "mens t shirts"),  # full width, typographic apostrophe
        ("usb-c / lightning cable!", "usb c lightning cable"),
        ("2.5 mm, 2,5mm.", "2.5 mm 2,5mm"),  # decimal marks stay only between digits
        ("c++ & m&m 50+", "c++ m&m 50+"),  # & and + stay only attached to a word
        ("  several   spaces\tand_underscores ", "several spaces and underscores"),
        ("STRASSE Straße", "strasse strasse"),  # casefold
        ("iphoneケース・手帳型", "iphoneケース 手帳型"),
        ("ﾊﾝｶｸ", "ハンカク"),  # half-width katakana
        ("", ""),
    ],
)
def test_normalize(raw, normalized):
    assert text.normalize(raw, language="en") == normalized


def test_normalize_of_a_missing_value_is_empty():
    assert text.normalize(None, language="en") == ""


def test_tokens_split_on_hyphens_and_slashes():
    assert text.tokens("T-Shirts/Tops", language="en") == ["t", "shirts", "tops"]


def test_stems_in_english_and_german():
    assert text.stems("Red T-Shirts", language="en") == ["red", "t", "shirt"]
    assert text.stems("Laufschuhe Herren", language="de") == ["laufschuh", "herr"]


def test_cjk_tokens_are_runs_of_cjk_and_other_words_kept_as_they_are():
    assert text.tokens("iphoneケース 手帳型", language="ja") == ["iphone", "ケース", "手帳型"]
    assert text.stems("iPhoneケース", language="ja") == ["iphone", "ケース"]
    assert text.tokens("手机壳 透明", language="zh") == ["手机壳", "透明"]


def test_match_text_drops_spaces_only_in_cjk_languages():
    assert text.match_text("iphone ケース", language="ja") == "iphoneケース"
    assert text.match_text("red shirt", language="en") == "red shirt"


def test_stem_word_is_memoised_and_keeps_unknown_languages_as_they_are():
    assert text.stem_word("lamps", "en") == "lamp"
    hits = text.stem_word.cache_info().hits
    assert text.stem_word("lamps", "en") == "lamp"
    assert text.stem_word.cache_info().hits == hits + 1
    assert text.stem_word("lamps", "pt") == "lamps"


def test_normalize_many_aligns_with_its_input():
    result = text.normalize_many(pd.Series(["A-B", "a b", None, "A-B"]), language="en")
    assert list(result) == ["a b", "a b", "", "a b"]


def test_token_index_numbers_tokens_and_stems_across_keys():
    index = text.token_index(["red shirts", "red shirt big", ""], language="en")
    assert list(index.item) == [0, 0, 1, 1, 1]
    assert list(index.pos) == [0, 1, 0, 1, 2]
    assert list(index.lengths) == [2, 3, 0]
    assert list(index.tokens[index.token_code]) == ["red", "shirts", "red", "shirt", "big"]
    # "shirts" and "shirt" are different tokens with one stem
    assert index.token_code[1] != index.token_code[3]
    assert index.stem_code[1] == index.stem_code[3]
    assert list(index.words(np.array([1]), np.array([0]), np.array([3]))) == ["red shirt big"]
    assert list(index.words(np.array([0]), np.array([0]), np.array([2]), stemmed=True)) == ["red shirt"]


def test_gram_table_gives_equal_ids_to_equal_stem_runs():
    index = text.token_index(["red shirts", "big red shirt", "shirt red"], language="en")
    grams = text.gram_table(index, lengths=[2, 3])
    bigrams = grams[grams["n"] == 2].set_index(["item", "start"])["gram"]
    assert bigrams[(0, 0)] == bigrams[(1, 1)]  # "red shirt(s)" in both
    assert bigrams[(2, 0)] != bigrams[(0, 0)]  # "shirt red" is another run
    trigrams = grams[grams["n"] == 3]
    assert list(zip(trigrams["item"], trigrams["start"], strict=True)) == [(1, 0)]


def test_gram_table_of_nothing_is_empty():
    index = text.token_index([], language="en")
    assert text.gram_table(index, lengths=[1, 2]).empty


def test_generic_runs_are_stop_words_or_single_characters():
    index = text.token_index(["for the t shirt"], language="en")
    generic = index.generic(np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([2, 2, 2]))
    assert list(generic) == [True, True, False]  # "for the", "the t", "t shirt"
    assert text.is_stop_gram(["für"], language="de")
    assert not text.is_stop_gram(["ケース"], language="ja")


def test_annotate_adds_language_keys_and_codes_once():
    frame = pd.DataFrame(
        {
            "channel": ["amazon_ads"] * 3,
            "account_id": ["A1"] * 3,
            "marketplace": ["US", "US", "JP"],
            "currency": ["USD", "USD", "JPY"],
            "campaign_id": ["C1", "C1", "C2"],
            "search_term": ["Red Shirt", "red  shirt", "ケース"],
        }
    )
    annotated = text.annotate(frame)
    assert list(annotated["language"]) == ["en", "en", "ja"]
    assert list(annotated["term_key"]) == ["red shirt", "red shirt", "ケース"]
    assert annotated["term_code"][0] == annotated["term_code"][1] != annotated["term_code"][2]
    assert annotated["campaign_code"][0] == annotated["campaign_code"][1] != annotated["campaign_code"][2]
    assert text.annotate(annotated) is annotated
    assert list(text.annotate(frame, language="de")["language"]) == ["de", "de", "de"]

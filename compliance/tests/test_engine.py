"""The engine on small hand-made rules: language-aware matching, exceptions, markets and channels. No database."""

import pytest

from compliance import loader
from compliance.engine import RuleBook, TermSpec, normalize_text, word_pattern


def rule(rule_id="t.rule", *, markets=("DE",), channels=("any",), languages=("de",), severity="warn", scope="sentence",
         category="superlative", matchers=None, examples=None):  # fmt: skip
    """A validated ``RuleSpec`` built like a file entry."""
    matchers = matchers or {"de": {"words": ["testsieger"]}}
    entry = {
        "id": rule_id,
        "markets": list(markets),
        "channels": list(channels),
        "languages": list(languages),
        "category": category,
        "severity": severity,
        "scope": scope,
        "matchers": matchers,
        "examples": examples or {lang: {"trigger": ["x"], "compliant": ["y"]} for lang in languages},
        "explanation": f"Why {rule_id}.",
        "fix": f"How to fix {rule_id}.",
        "source": "A law.",
    }
    spec, problems = loader.parse_rule(entry, file="test.yaml", file_version=1)
    assert problems == []
    return spec


def check(specs, text, *, markets=("DE",), channel="web", language="de", terms=()):
    return RuleBook(rules=specs, terms=terms).check(text=text, markets=markets, channel=channel, language=language)


def spans(result):
    return [(f["rule_id"], f["start"], f["end"], f["match"]) for f in result.findings]


# --- normalisation ---------------------------------------------------------------------------------------


def test_arabic_diacritics_and_tatweel_are_removed_with_their_offsets_kept():
    text = "نَبِيـذ"
    normalized, offsets = normalize_text(text)
    assert normalized == "نبيذ"
    assert offsets == [0, 2, 4, 6]


def test_full_width_forms_typographic_quotes_and_narrow_spaces_map_one_to_one():
    assert normalize_text("ＮＯ．１ don’t 30\u202f%") == ("NO.1 don't 30 %", None)


def test_arabic_letter_variants_are_unified():
    assert normalize_text("أإآة ى") == ("اااه ي", None)


# --- literal words per language ------------------------------------------------------------------------


def test_latin_words_match_whole_words_case_insensitively():
    specs = [rule(matchers={"de": {"words": ["test"]}})]
    assert spans(check(specs, "TEST, Testen, Bestseller")) == [("t.rule", 0, 4, "TEST")]


def test_a_star_lets_german_compounds_and_endings_match():
    specs = [rule(matchers={"de": {"words": ["*klimaneutral*"]}})]
    result = check(specs, "Klimaneutrale Versandverpackung, CO2-klimaneutral")
    assert spans(result) == [("t.rule", 0, 13, "Klimaneutrale"), ("t.rule", 37, 49, "klimaneutral")]


def test_german_umlauts_also_match_their_two_letter_spellings_in_words_and_patterns():
    specs = [rule(matchers={"de": {"words": ["größte"], "patterns": ["günstig\\w*"]}})]
    result = check(specs, "Die groesste Auswahl, guenstiger als je")
    assert [f["match"] for f in result.findings] == ["groesste", "guenstiger"]


def test_spaces_and_hyphens_in_a_word_are_interchangeable():
    specs = [rule(languages=("en",), matchers={"en": {"words": ["eco-friendly"]}})]
    result = check(specs, "eco friendly, Eco-Friendly and ecofriendly", language="en")
    assert [f["match"] for f in result.findings] == ["eco friendly", "Eco-Friendly", "ecofriendly"]


def test_chinese_and_thai_words_match_as_substrings():
    specs = [
        rule("t.zh", markets=("CN",), languages=("zh",), matchers={"zh": {"words": ["最佳"]}}),
        rule("t.th", markets=("CN",), languages=("th",), matchers={"th": {"words": ["ที่สุด"]}}),
    ]
    assert spans(check(specs, "品质最佳选择", markets=("CN",), language="zh")) == [("t.zh", 2, 4, "最佳")]
    assert spans(check(specs, "ครีมที่ดีที่สุด", markets=("CN",), language="th")) == [("t.th", 9, 15, "ที่สุด")]


def test_arabic_words_match_with_attached_prefixes_and_diacritics():
    specs = [rule(markets=("SA",), languages=("ar",), matchers={"ar": {"words": ["نبيذ"]}})]
    result = check(specs, "أفضل النَّبِيذ وبالنبيذ", markets=("SA",), language="ar")
    assert [f["match"] for f in result.findings] == ["النَّبِيذ", "وبالنبيذ"]
    assert [(f["start"], f["end"]) for f in result.findings] == [(5, 14), (15, 23)]


def test_word_pattern_shapes():
    assert word_pattern("test", "en") == r"(?<!\w)test(?!\w)"
    assert word_pattern("*sieger*", "de") == r"sieger\w*"
    assert word_pattern("最佳", "zh") == "最佳"


# --- exceptions, ignore, scope --------------------------------------------------------------------------

TEST_WINNER = {
    "de": {
        "words": ["*testsieger*"],
        "exceptions": ["(?:ausgabe|heft)\\s+\\d{1,2}/\\d{4}"],
        "ignore": ["kein\\s+testsieger"],
    }
}


def test_the_compliant_form_in_the_same_sentence_clears_the_match():
    specs = [rule(matchers=TEST_WINNER)]
    assert check(specs, "Testsieger bei Stiftung Warentest (Ausgabe 05/2026).").verdict == "clean"


def test_the_compliant_form_in_another_sentence_does_not_clear_it():
    specs = [rule(matchers=TEST_WINNER)]
    result = check(specs, "Testsieger! Stiftung Warentest, Ausgabe 05/2026")
    assert spans(result) == [("t.rule", 0, 10, "Testsieger")]


def test_an_abbreviation_does_not_end_the_sentence():
    specs = [rule(matchers={"de": {"patterns": ["nr\\.\\s?1"], "exceptions": ["laut\\s+\\w+"]}})]
    assert check(specs, "Die Nr. 1 laut GfK.").verdict == "clean"


def test_text_scope_looks_for_the_compliant_form_anywhere():
    matchers = {"de": {"words": ["liebe"], "exceptions": ["werbung"]}}
    text = "Werbung | Ich liebe diese Creme!"
    assert check([rule(matchers=matchers)], text).verdict == "warn"
    assert check([rule(matchers=matchers, scope="text")], text).verdict == "clean"


def test_an_ignore_phrase_clears_only_the_match_it_covers():
    specs = [rule(languages=("en",), matchers={"en": {"words": ["free"], "ignore": ["sugar[\\s-]free"]}})]
    result = check(specs, "Sugar-free gummies with a free bottle", language="en")
    assert spans(result) == [("t.rule", 26, 30, "free")]


# --- verdicts, markets, channels, languages --------------------------------------------------------------


def test_verdict_is_blocked_when_any_finding_blocks_and_findings_are_ordered_by_position():
    specs = [
        rule("t.warn", matchers={"de": {"words": ["beste"]}}),
        rule("t.block", severity="block", matchers={"de": {"words": ["heilt"]}}),
    ]
    result = check(specs, "Heilt alles, das Beste")
    assert result.verdict == "blocked"
    assert spans(result) == [("t.block", 0, 5, "Heilt"), ("t.warn", 17, 22, "Beste")]
    assert check(specs, "Das Beste").verdict == "warn"
    assert check(specs, "Ein Tee").as_dict() == {"verdict": "clean", "findings": []}


def test_two_rules_matching_the_same_words_both_report():
    specs = [rule("t.a", markets=("DE",)), rule("t.b", markets=("EU",))]
    assert [f["rule_id"] for f in check(specs, "Testsieger").findings] == ["t.a", "t.b"]


def test_market_groups_expand_and_the_finding_names_the_requested_markets():
    specs = [rule(markets=("EU",))]
    assert check(specs, "Testsieger", markets=("US",)).verdict == "clean"
    result = check(specs, "Testsieger", markets=("us", "fr", "DE"))
    assert result.findings[0]["markets"] == "DE,FR"
    assert check(specs, "Testsieger", markets="EU").verdict == "warn"


def test_uk_and_platform_marketplace_ids_are_read_as_countries():
    specs = [rule(markets=("GB",))]
    assert check(specs, "Testsieger", markets=("UK",)).verdict == "warn"
    assert check(specs, "Testsieger", markets=("EBAY_GB",)).verdict == "warn"


def test_rules_for_every_market_apply_even_without_a_market():
    specs = [rule("t.any", markets=("ANY",)), rule("t.de", markets=("DE",))]
    assert [f["rule_id"] for f in check(specs, "Testsieger", markets=()).findings] == ["t.any"]


def test_channels_filter_rules_and_product_channel_names_are_understood():
    specs = [rule(channels=("meta_ads", "amazon_listing"))]
    assert check(specs, "Testsieger", channel="google_ads").verdict == "clean"
    assert check(specs, "Testsieger", channel="meta").verdict == "warn"
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        check(specs, "Testsieger", channel="fax")


def test_a_malformed_market_is_refused():
    with pytest.raises(ValueError, match="unknown market 'amazon.de'"):
        check([rule()], "Testsieger", markets=("amazon.de",))


def test_language_tags_are_reduced_to_their_primary_subtag():
    specs = [rule(markets=("CN",), languages=("zh",), matchers={"zh": {"words": ["最佳"]}})]
    assert check(specs, "最佳", markets=("CN",), language="zh-Hans").verdict == "warn"
    assert check(specs, "最佳", markets=("CN",), language="ja").verdict == "clean"


def test_any_language_matchers_join_each_languages_own():
    specs = [rule(languages=("de", "en"), matchers={"any": {"patterns": ["€\\s?\\d+"]}, "de": {"words": ["sale"]}})]
    assert [f["match"] for f in check(specs, "Sale: € 20").findings] == ["Sale", "€ 20"]
    assert [f["match"] for f in check(specs, "Sale: € 20", language="en").findings] == ["€ 20"]


def test_compiled_rulesets_are_cached_per_markets_channel_and_language():
    book = RuleBook(rules=[rule()])
    first = book.ruleset(markets=["DE"], channel="web", language="de")
    assert book.ruleset(markets=("de",), channel="WEB", language="de-DE") is first
    assert book.ruleset(markets=["DE", "FR"], channel="web", language="de") is not first


# --- words staff add -------------------------------------------------------------------------------------


def test_a_staff_word_for_one_market_applies_only_there():
    specs = [rule(markets=("DE", "AT"))]
    terms = [TermSpec(rule_id="t.rule", language="de", value="Preisknaller", market="AT")]
    assert check(specs, "Preisknaller", markets=("DE",), terms=terms).verdict == "clean"
    assert spans(check(specs, "Preisknaller", markets=("AT",), terms=terms)) == [("t.rule", 0, 12, "Preisknaller")]


def test_a_staff_exception_pattern_clears_a_match():
    specs = [rule()]
    terms = [TermSpec(rule_id="t.rule", language="de", value="laut\\s+\\w+", kind="exception", is_pattern=True)]
    assert check(specs, "Testsieger laut Konsument", terms=terms).verdict == "clean"


# --- the rule files: the example the product must get right ----------------------------------------------


def test_the_german_test_winner_and_reduction_example_gives_two_findings_and_its_fix_is_clean():
    book = RuleBook(rules=loader.rule_specs())

    result = book.check(text="Testsieger! Jetzt 30% reduziert", markets=["DE"], channel="amazon_ads", language="de")
    fixed = book.check(
        text="Testsieger bei Stiftung Warentest (Ausgabe 05/2026). Jetzt 30 % reduziert, "
        "niedrigster Preis der letzten 30 Tage: 39,99 €",
        markets=["DE"],
        channel="amazon_ads",
        language="de",
    )

    assert result.verdict == "blocked"
    assert [
        (f["rule_id"], f["category"], f["severity"], f["start"], f["end"], f["match"]) for f in result.findings
    ] == [
        ("de.uwg.test_winner", "superlative", "warn", 0, 10, "Testsieger"),
        ("eu.omnibus.prior_price", "price_reduction", "block", 12, 31, "Jetzt 30% reduziert"),
    ]
    assert "Ausgabe 05/2026" in result.findings[0]["fix"]
    assert "niedrigster Preis der letzten 30 Tage" in result.findings[1]["fix"]
    assert all(f["source"] and f["explanation"] for f in result.findings)
    assert fixed.as_dict() == {"verdict": "clean", "findings": []}

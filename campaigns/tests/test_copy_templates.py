"""Offline ad copy templates: exact drafts, channel limits, cutting rules per script, and ad-safe wording."""

from __future__ import annotations

import re

import pytest

from campaigns.copy.templates import (
    CHANNEL_LIMITS,
    RLM,
    SUPPORTED_LANGUAGES,
    TEMPLATES,
    TONES,
    CopyDraft,
    ProductBrief,
    fit_text,
    generate_copy,
    resolve_language,
    text_length,
)

EARBUDS = ProductBrief(
    title="Wireless Earbuds", brand="Anker", features=["40-hour battery", "noise cancelling"], audience="runners"
)

# A brief in each language, long enough that some patterns must be cut on every channel.
NATIVE_BRIEFS = {
    "en": ProductBrief("Soundcore Q20 Noise Cancelling Wireless Earbuds", "Anker", ["40-hour playtime", "IPX5"]),
    "es": ProductBrief("Auriculares inalámbricos con cancelación de ruido", "Anker", ["40 horas", "IPX5"]),
    "ar": ProductBrief("سماعات أذن لاسلكية بخاصية إلغاء الضوضاء", "Anker", ["بطارية تدوم 40 ساعة", "مقاومة للماء"]),
    "de": ProductBrief("Kabellose In-Ear-Kopfhörer mit Geräuschunterdrückung", "Anker", ["40 Stunden", "IPX5"]),
    "fr": ProductBrief("Écouteurs sans fil à réduction de bruit active", "Anker", ["40 heures", "IPX5"]),
    "it": ProductBrief("Auricolari wireless con cancellazione del rumore", "Anker", ["40 ore", "IPX5"]),
    "pt": ProductBrief("Fones de ouvido sem fio com cancelamento de ruído", "Anker", ["40 horas", "IPX5"]),
    "ja": ProductBrief("ノイズキャンセリング搭載完全ワイヤレスイヤホン", "Anker", ["最大40時間再生", "IPX5防水"]),
    "ko": ProductBrief("노이즈 캔슬링 완전 무선 블루투스 이어폰", "Anker", ["최대 40시간 재생", "IPX5 방수"]),
    "id": ProductBrief("Earbuds nirkabel dengan peredam bising aktif", "Anker", ["baterai 40 jam", "tahan air"]),
    "th": ProductBrief("หูฟังไร้สายตัดเสียงรบกวนแบบแอคทีฟ", "Anker", ["แบตเตอรี่ 40 ชั่วโมง", "กันน้ำ IPX5"]),
    "zh-Hans": ProductBrief("主动降噪真无线蓝牙耳机超长续航运动款", "小米", ["续航40小时", "IPX5防水"]),
}


def test_english_google_drafts_are_exact_and_fit():
    # Given an English brief, when copy is generated for Google responsive search ads
    drafts = generate_copy(product=EARBUDS, market="us", language="en", channel="google_ads")

    # Then three distinct variants come back, whole (nothing cut), with the market upper-cased
    assert [(d.headline, d.body) for d in drafts] == [
        ("Anker Wireless Earbuds", "Wireless Earbuds by Anker: 40-hour battery and noise cancelling. Shop now."),
        ("Wireless Earbuds by Anker", "Made for runners: 40-hour battery and noise cancelling. Shop now."),
        ("Anker: 40-hour battery", "Meet Wireless Earbuds: 40-hour battery and noise cancelling. Shop now."),
    ]
    assert {(d.language, d.market, d.channel, d.provider, d.truncated) for d in drafts} == {
        ("en", "US", "google_ads", "templates", False)
    }


def test_amazon_has_headlines_only_and_tiktok_has_ad_text_only():
    amazon = generate_copy(product=EARBUDS, market="US", language="en", channel="amazon_ads", variants=10)
    tiktok = generate_copy(product=EARBUDS, market="US", language="en", channel="tiktok_ads", variants=1)

    # Amazon Sponsored Brands: one headline per draft, every distinct headline once, no body
    assert [d.headline for d in amazon] == [
        "Anker Wireless Earbuds",
        "Wireless Earbuds by Anker",
        "Anker: 40-hour battery",
        "Wireless Earbuds for runners",
        "Wireless Earbuds",
    ]
    assert {d.body for d in amazon} == {""}
    assert [(d.headline, d.body) for d in tiktok] == [
        ("", "Wireless Earbuds by Anker: 40-hour battery and noise cancelling. Shop now.")
    ]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_language_and_channel_stays_within_limits(language):
    brief = NATIVE_BRIEFS[language]
    for channel, limits in CHANNEL_LIMITS.items():
        drafts = generate_copy(product=brief, market="XX", language=language, channel=channel, variants=4)

        assert 1 <= len(drafts) <= 4
        assert len({(d.headline, d.body) for d in drafts}) == len(drafts)
        for draft in drafts:
            assert draft.language == language
            if limits.headline is None:
                assert draft.headline == ""
            else:
                assert 0 < text_length(draft.headline, channel=channel) <= limits.headline
            if limits.body is None:
                assert draft.body == ""
            else:
                assert 0 < text_length(draft.body, channel=channel) <= limits.body
            for text in (draft.headline, draft.body):
                assert text == text.strip() and "  " not in text


def test_google_counts_double_width_characters_twice():
    assert text_length("蓝牙耳机", channel="google_ads") == 8
    assert text_length("蓝牙耳机", channel="meta") == 4
    assert text_length("ｱ", channel="google_ads") == 1  # half-width katakana is single width


def test_cuts_on_word_boundaries_and_drops_dangling_words():
    # Cut inside "Cancelling": back to the last whole word, and the trailing "with" goes too
    assert fit_text(
        "Soundcore Q20 Wireless Earbuds with Noise Cancelling", limit=38, language="en", channel="meta"
    ) == (
        "Soundcore Q20 Wireless Earbuds",
        True,
    )
    assert fit_text("Kopfhörer von Anker: 40 Stunden", limit=22, language="de", channel="meta") == (
        "Kopfhörer von Anker",
        True,
    )
    assert fit_text("Short enough", limit=12, language="en", channel="meta") == ("Short enough", False)


def test_cjk_cuts_by_character_without_splitting_a_latin_word():
    # 30 width units on Google = 15 double-width characters
    assert fit_text("完全ワイヤレスイヤホン高音質モデル", limit=30, language="ja", channel="google_ads") == (
        "完全ワイヤレスイヤホン高音質モ",
        True,
    )
    # "Bluetooth" would be cut in half: the cut moves back before it
    assert fit_text("完全ワイヤレスイヤホン Bluetooth対応", limit=30, language="ja", channel="google_ads") == (
        "完全ワイヤレスイヤホン",
        True,
    )
    # spaces between two CJK characters are dropped, spaces next to Latin words stay
    assert fit_text("无线 蓝牙耳机 Anker", limit=50, language="zh-Hans", channel="meta") == (
        "无线蓝牙耳机 Anker",
        False,
    )


def test_thai_cut_keeps_vowel_marks_with_their_consonant():
    # "หูฟังไร้สาย": the cut may not strand the tone mark of "ร้" or the leading vowel "ไ"
    assert fit_text("หูฟังไร้สายกันน้ำ", limit=7, language="th", channel="meta") == ("หูฟัง", True)
    # a phrase space close to the limit is preferred
    assert fit_text("หูฟังไร้สาย กันน้ำ IPX5", limit=15, language="th", channel="meta") == ("หูฟังไร้สาย", True)


def test_arabic_copy_keeps_right_to_left_order_and_arabic_punctuation():
    brief = ProductBrief("سماعات لاسلكية", "Anker", ["بطارية تدوم 40 ساعة", "عزل الضوضاء", "مقاومة للماء"])

    drafts = generate_copy(product=brief, market="sa", language="ar", channel="meta")

    assert [(d.headline, d.body) for d in drafts] == [
        (
            "سماعات لاسلكية من Anker",
            "سماعات لاسلكية من Anker: بطارية تدوم 40 ساعة، عزل الضوضاء ومقاومة للماء. تسوّق الآن.",
        ),
        (
            "سماعات لاسلكية Anker",
            "اكتشف سماعات لاسلكية: بطارية تدوم 40 ساعة، عزل الضوضاء ومقاومة للماء. تسوّق الآن.",
        ),
        (
            RLM + "Anker: بطارية تدوم 40 ساعة",
            "سماعات لاسلكية Anker مع بطارية تدوم 40 ساعة، عزل الضوضاء ومقاومة للماء. تسوّق الآن.",
        ),
    ]
    # A headline that would start with a Latin brand starts with a right-to-left mark; lists use the Arabic comma
    for draft in drafts:
        assert "," not in draft.body and "?" not in draft.body
    assert fit_text("ابدأ مع Anker", limit=40, language="ar", channel="meta") == ("ابدأ مع Anker", False)


def test_language_specific_joining_and_typography():
    spanish = generate_copy(
        product=ProductBrief("Auriculares", "Anker", ["ligeros", "impermeables"]),
        market="ES",
        language="es",
        channel="meta",
        variants=1,
    )
    french = generate_copy(
        product=ProductBrief("Écouteurs", "Anker", ["40 heures"]),
        market="FR",
        language="fr",
        channel="meta",
        variants=1,
    )

    assert spanish[0].body == "Auriculares de Anker: ligeros e impermeables. Compra ahora."  # "y" -> "e" before /i/
    assert french[0].body == "Écouteurs par Anker\u00a0: 40 heures. Commandez en ligne."  # no-break space before ":"


def test_price_is_formatted_for_the_market_and_missing_features_use_fallback_bodies():
    brief = ProductBrief("Kopfhörer", "Anker", features=[], price="59.99", currency="eur")

    drafts = generate_copy(product=brief, market="DE", language="de", channel="meta", variants=3, tone="premium")

    assert [(d.headline, d.body) for d in drafts] == [
        ("Anker Kopfhörer", "Kopfhörer von Anker. Alle Details entdecken."),
        ("Kopfhörer von Anker", "Kopfhörer. Alle Details entdecken."),
        ("Kopfhörer ab 59,99\u00a0€", "Kopfhörer von Anker. Alle Details entdecken."),
    ]


def test_brand_already_in_title_is_not_repeated():
    brief = ProductBrief("Anker Soundcore Earbuds", "Anker", ["IPX5"])

    headlines = [d.headline for d in generate_copy(product=brief, market="US", language="en", channel="amazon_ads")]

    assert headlines == ["Anker: IPX5", "Anker Soundcore Earbuds"]


def test_same_input_gives_same_drafts_and_tone_changes_the_call_to_action():
    first = generate_copy(product=EARBUDS, market="US", language="ja", channel="meta", tone="friendly")
    second = generate_copy(product=EARBUDS, market="US", language="ja", channel="meta", tone="friendly")

    assert first == second
    assert all(isinstance(d, CopyDraft) and d.body.endswith("ぜひチェックしてみてください！") for d in first)


def test_templates_make_no_claims_that_fail_ad_review():
    banned = re.compile(
        r"\bbest\b|#1|no\.\s?1|\bfree\b|guarantee|\bcure|last chance|limited time|today only|\bgratis\b|kostenlos"
        r"|gratuit|garant|migliore|mejor|meilleur|beste|最|第一|免费|無料|保証|限定|무료|최고|보장|ฟรี|ที่สุด|مجان|أفضل|ضمان"
        r"|terbaik|grátis",
        re.IGNORECASE,
    )
    for language, data in TEMPLATES.items():
        texts = [*data["headlines"], *data["bodies"], *data["fallback_bodies"], *data["cta"].values()]
        for text in texts:
            assert not banned.search(text), (language, text)
        assert set(data["cta"]) == set(TONES)


def test_language_codes_resolve_and_unknown_inputs_are_refused():
    assert resolve_language("zh-CN") == "zh-Hans"
    assert resolve_language("zh") == "zh-Hans"
    assert resolve_language("pt_BR") == "pt"
    assert resolve_language("EN-gb") == "en"
    with pytest.raises(ValueError, match="no copy templates"):
        resolve_language("zh-TW")
    with pytest.raises(ValueError, match="no ad copy to write"):
        generate_copy(product=EARBUDS, market="US", language="en", channel="ebay_pl")
    with pytest.raises(ValueError, match="unknown tone"):
        generate_copy(product=EARBUDS, market="US", language="en", channel="meta", tone="urgent")
    with pytest.raises(ValueError, match="needs a title"):
        generate_copy(product=ProductBrief(" ", "Anker", []), market="US", language="en", channel="meta")
    with pytest.raises(ValueError, match="at least 1"):
        generate_copy(product=EARBUDS, market="US", language="en", channel="meta", variants=0)

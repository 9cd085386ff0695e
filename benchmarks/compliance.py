"""Benchmark: the ad-claim rule engine over 10,000 ad texts.

    .venv/bin/python benchmarks/compliance.py [--texts 10000] [--seed 7] [--service]

Generates ``--texts`` ad texts in eight languages (English, German, French, Spanish, Chinese, Arabic, Indonesian,
Thai) of realistic lengths (a 20-60 character headline, and for most a 60-180 character body), about a third
of them with a claim the rules flag (free, urgency, superlatives, price reductions, health, green, alcohol)
and some with the compliant form. Then it checks every text one call at a time, as the copy gate does:

1. single market and channel: DE on amazon_ads;
2. five markets at once: US, DE, FR, GB, SA on meta_ads.

The rules are compiled from the rule files (``compliance.engine.RuleBook``, exactly what the service uses);
with ``--service`` the same texts also go through ``compliance.services.ad_texts_check`` against the
database (which adds one version query per batch). Prints the compile time, the texts per second and the
verdict counts for each pass, and ends with ``RESULT texts_per_s=<n>`` for the single market and channel.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from compliance import loader  # noqa: E402
from compliance.engine import RuleBook  # noqa: E402

# fmt: off
PRODUCTS = {
    "en": ["wireless earbuds", "stainless steel water bottle", "ceramic mug", "yoga mat", "phone case", "air fryer",
           "vitamin C gummies", "LED desk lamp", "linen bed sheets", "kids' backpack", "protein powder", "tea set"],
    "de": ["kabellose Kopfhörer", "Edelstahl-Trinkflasche", "Keramiktasse", "Yogamatte", "Handyhülle",
           "Heißluftfritteuse", "Vitamin-C-Gummibärchen", "LED-Schreibtischlampe", "Leinenbettwäsche", "Teeservice"],
    "fr": ["écouteurs sans fil", "gourde en inox", "tasse en céramique", "tapis de yoga", "coque de téléphone",
           "friteuse sans huile", "lampe de bureau LED", "parure de lit en lin", "service à thé"],
    "es": ["auriculares inalámbricos", "botella de acero inoxidable", "taza de cerámica", "esterilla de yoga",
           "funda de móvil", "freidora de aire", "lámpara LED de escritorio", "juego de té"],
    "zh": ["无线耳机", "不锈钢保温杯", "陶瓷马克杯", "瑜伽垫", "手机壳", "空气炸锅", "维生素C软糖", "LED台灯", "茶具"],
    "ar": ["سماعات لاسلكية", "زجاجة ماء من الستانلس", "كوب سيراميك", "حصيرة يوغا", "غطاء هاتف", "مقلاة هوائية"],
    "id": ["earbuds nirkabel", "botol minum stainless", "mug keramik", "matras yoga", "casing HP", "air fryer"],
    "th": ["หูฟังไร้สาย", "ขวดน้ำสแตนเลส", "แก้วเซรามิก", "เสื่อโยคะ", "เคสโทรศัพท์", "หม้อทอดไร้น้ำมัน"],
}
FEATURES = {
    "en": ["with a 30-hour battery", "keeps drinks cold for 24 hours", "dishwasher safe", "non-slip and easy to roll",
           "shock-absorbing edges", "cooks with little oil", "adjustable brightness", "soft and breathable"],
    "de": ["mit 30 Stunden Akkulaufzeit", "hält Getränke 24 Stunden kalt", "spülmaschinenfest", "rutschfest",
           "stoßfeste Kanten", "gart mit wenig Öl", "dimmbar", "weich und atmungsaktiv"],
    "fr": ["avec 30 heures d'autonomie", "garde les boissons fraîches 24 heures", "passe au lave-vaisselle",
           "antidérapant", "bords antichocs", "cuisson avec peu d'huile", "luminosité réglable"],
    "es": ["con 30 horas de batería", "mantiene las bebidas frías 24 horas", "apto para lavavajillas",
           "antideslizante", "bordes resistentes a golpes", "cocina con poco aceite", "brillo regulable"],
    "zh": ["续航30小时", "保冷24小时", "可用洗碗机清洗", "防滑易收纳", "防摔边框", "少油烹饪", "亮度可调"],
    "ar": ["بطارية تدوم 30 ساعة", "يحافظ على برودة المشروبات 24 ساعة", "آمن في غسالة الصحون", "مانع للانزلاق"],
    "id": ["baterai tahan 30 jam", "menjaga minuman dingin 24 jam", "aman untuk mesin cuci piring", "anti selip"],
    "th": ["แบตเตอรี่ใช้งานได้ 30 ชั่วโมง", "เก็บความเย็นได้ 24 ชั่วโมง", "ล้างด้วยเครื่องล้างจานได้", "กันลื่น"],
}
CLAIMS = {
    "en": ["Free gift for everyone!", "Hurry, only 3 left!", "The #1 rated brand", "Now 30% off", "Eco-friendly",
           "Clinically proven", "Lose 10 pounds in 7 days", "Best-selling", "Premium red wine gift set",
           "Free case with every charger order", "30% off, lowest price in the last 30 days €42.99"],
    "de": ["Testsieger!", "Jetzt 30% reduziert", "Kostenlose Kopfhörer für alle", "Nur heute!", "Klimaneutral",
           "Deutschlands beliebteste Marke", "Testsieger bei Stiftung Warentest (Ausgabe 05/2026)",
           "Jetzt 30 % reduziert, niedrigster Preis der letzten 30 Tage: 39,99 €", "Umweltfreundlich"],
    "fr": ["-30 % sur tout", "Livraison gratuite", "Dernière chance !", "Écologique", "Aujourd'hui seulement"],
    "es": ["30% de descuento", "Envío gratis", "Solo hoy", "Ecológico", "Última oportunidad"],
    "zh": ["全网最低价", "销量第一", "国家级品质", "药到病除", "4件套礼盒"],
    "ar": ["نبيذ أحمر فاخر", "أفضل سعر", "عرض لفترة محدودة"],
    "id": ["Terbaik dan paling ampuh", "100% halal", "Turun 5 kg dalam 7 hari"],
    "th": ["ดีที่สุดในไทย", "เห็นผลทันที 100%", "ลด 5 กิโล ใน 7 วัน"],
}
# fmt: on
LANGUAGE_WEIGHTS = {"en": 30, "de": 20, "fr": 10, "es": 10, "zh": 10, "ar": 7, "id": 7, "th": 6}
FIVE_MARKETS = ["US", "DE", "FR", "GB", "SA"]


def make_texts(count: int, seed: int) -> list[tuple[str, str]]:
    """(language, text) pairs: a headline, usually a body, a claim in about a third of them."""
    rng = random.Random(seed)
    languages = rng.choices(list(LANGUAGE_WEIGHTS), weights=list(LANGUAGE_WEIGHTS.values()), k=count)
    texts = []
    for language in languages:
        product = rng.choice(PRODUCTS[language])
        parts = [product[:1].upper() + product[1:]]
        for _ in range(rng.randint(1, 4)):
            parts.append(rng.choice(FEATURES[language]))
        if rng.random() < 0.35:
            parts.insert(rng.randint(0, len(parts)), rng.choice(CLAIMS[language]))
        separator = "，" if language in ("zh",) else ", "
        text = separator.join(parts)
        if rng.random() < 0.75:  # a body after the headline
            body = ". ".join(rng.sample(FEATURES[language], k=min(3, len(FEATURES[language]))))
            text = f"{text}. {body}."
        texts.append((language, text))
    return texts


def run_pass(
    book: RuleBook, texts: list[tuple[str, str]], *, markets: list[str], channel: str
) -> tuple[float, Counter]:
    """Check every text with its own call; returns (seconds, verdict counts). Rulesets compile outside the clock."""
    for language in LANGUAGE_WEIGHTS:
        book.ruleset(markets=markets, channel=channel, language=language)
    verdicts: Counter = Counter()
    start = time.perf_counter()
    for language, text in texts:
        verdicts[book.check(text=text, markets=markets, channel=channel, language=language).verdict] += 1
    return time.perf_counter() - start, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--service", action="store_true", help="also run the texts through the database service")
    args = parser.parse_args()

    texts = make_texts(args.texts, args.seed)
    lengths = sorted(len(text) for _, text in texts)
    print(f"texts: {len(texts)} in {len(LANGUAGE_WEIGHTS)} languages, length median {lengths[len(lengths) // 2]}, "
          f"p90 {lengths[int(len(lengths) * 0.9)]} characters")  # fmt: skip

    start = time.perf_counter()
    specs = loader.load_rule_files(loader.RULES_DIR)
    print(f"rule files: {len(specs)} rules read and validated in {time.perf_counter() - start:.3f} s")
    book = RuleBook(rules=specs)
    start = time.perf_counter()
    compiled = book.ruleset(markets=["DE"], channel="amazon_ads", language="de")
    print(f"compile DE/amazon_ads/de: {len(compiled)} rules in {1000 * (time.perf_counter() - start):.1f} ms")

    seconds, verdicts = run_pass(book, texts, markets=["DE"], channel="amazon_ads")
    single = len(texts) / seconds
    print(f"single market (DE, amazon_ads): {seconds:.3f} s, {single:,.0f} texts/s, "
          f"{1e6 * seconds / len(texts):.1f} µs/text, verdicts {dict(verdicts)}")  # fmt: skip

    seconds, verdicts = run_pass(book, texts, markets=FIVE_MARKETS, channel="meta_ads")
    print(f"five markets ({', '.join(FIVE_MARKETS)}, meta_ads): {seconds:.3f} s, {len(texts) / seconds:,.0f} texts/s, "
          f"{1e6 * seconds / len(texts):.1f} µs/text, verdicts {dict(verdicts)}")  # fmt: skip

    if args.service:
        from compliance.services import ad_text_check, ad_texts_check

        by_language: dict[str, list[str]] = {}
        for language, text in texts:
            by_language.setdefault(language, []).append(text)
        start = time.perf_counter()
        for language, batch in by_language.items():
            ad_texts_check(texts=batch, markets=["DE"], channel="amazon_ads", language=language)
        seconds = time.perf_counter() - start
        print(f"service, batches per language (DE, amazon_ads): {len(texts) / seconds:,.0f} texts/s")
        start = time.perf_counter()
        for language, text in texts[:2000]:
            ad_text_check(text=text, markets=["DE"], channel="amazon_ads", language=language)
        seconds = time.perf_counter() - start
        print(f"service, one call per text incl. the version query: {2000 / seconds:,.0f} texts/s")

    print(f"RESULT texts_per_s={single:.0f}")


if __name__ == "__main__":
    main()

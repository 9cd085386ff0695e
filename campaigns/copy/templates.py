"""Offline ad copy: native phrase patterns per language, filled from a product brief and fitted to channel limits.

The patterns are data (``TEMPLATES``), written to read naturally in each language and to pass ad review: no
superlatives or rankings, nothing "free", no guarantees, no health claims and no urgency. Only the seller's own
facts (title, brand, features, audience, price) are filled in, so the copy makes no claim the seller did not.

Channel limits (``CHANNEL_LIMITS``) are the platforms' published lengths:

- ``amazon_ads``: Sponsored Brands headline, 50 characters; the creative has no body text.
- ``google_ads``: responsive search ad headline 30 and description 90; Google counts a double-width
  character (Chinese, Japanese, Korean) as two.
- ``meta``: headline 40 and primary text 125 (Meta's recommended lengths; longer text is cut off in feed).
- ``tiktok_ads``: ad text 100; there is no headline (the display name is the brand). Double-width characters
  count as two here as well, which is the stricter reading and fits either way.

Marketplace channels whose ads reuse the listing itself (``shopee_ads``, ``ebay_pl``) have no ad copy to write.
Text that does not fit is cut on a word boundary (Chinese and Japanese: on a character, without splitting a
Latin word; Thai: at a phrase space when one is near, else between characters, never inside a character
cluster) and dangling separators or joining words are removed. Arabic copy that would start with a Latin
brand gets a right-to-left mark first, so platforms that guess direction from the first letter lay it out
right to left.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal

SUPPORTED_LANGUAGES = ("en", "es", "ar", "de", "fr", "it", "pt", "ja", "ko", "id", "th", "zh-Hans")
TONES = ("neutral", "friendly", "premium")

_LANGUAGE_ALIASES = {
    "zh": "zh-Hans",
    "zh-hans": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-hans-cn": "zh-Hans",
    "in": "id",  # the old ISO code for Indonesian, still sent by some systems
}
_CJK_LANGUAGES = {"ja", "zh-Hans"}
_RTL_LANGUAGES = {"ar", "fa", "he", "ur"}
RLM = "\u200f"


@dataclass(frozen=True)
class ChannelLimits:
    """Maximum lengths of one ad's text fields; ``None``: the channel has no such field."""

    headline: int | None
    body: int | None
    double_width_cjk: bool = False


CHANNEL_LIMITS: dict[str, ChannelLimits] = {
    "amazon_ads": ChannelLimits(headline=50, body=None),
    "google_ads": ChannelLimits(headline=30, body=90, double_width_cjk=True),
    "meta": ChannelLimits(headline=40, body=125),
    "tiktok_ads": ChannelLimits(headline=None, body=100, double_width_cjk=True),
}


@dataclass(frozen=True)
class ProductBrief:
    """What the seller tells us about the product; copy uses these facts and nothing else."""

    title: str
    brand: str
    features: list[str]
    audience: str = ""
    price: Decimal | float | int | None = None
    currency: str = ""


@dataclass(frozen=True)
class CopyDraft:
    """One ad variant. ``truncated``: a field was cut to fit the channel, so a person should read it first."""

    headline: str
    body: str
    language: str
    market: str
    channel: str
    provider: str = "templates"
    truncated: bool = False

    @property
    def text(self) -> str:
        """Headline and body together, as the ad-text check reads them."""
        return "\n".join(part for part in (self.headline, self.body) if part)


# Patterns per language. Placeholders: {brand}, {title}, {f1} (first feature), {features} (up to three, joined
# the way the language lists things), {audience}, {price} (formatted for the market), {cta} (by tone).
# A pattern is used only when every placeholder in it has a value. ``fallback_bodies`` serve products without
# features. ``sep``/``and``: list separators; ``attach_and``: the conjunction is written onto the next word.
TEMPLATES: dict[str, dict] = {
    "en": {
        "headlines": (
            "{brand} {title}",
            "{title} by {brand}",
            "{brand}: {f1}",
            "{title} for {audience}",
            "{title} from {price}",
            "{title}",
        ),
        "bodies": (
            "{title} by {brand}: {features}. {cta}",
            "Made for {audience}: {features}. {cta}",
            "Meet {title}: {features}. {cta}",
            "{brand} {title} with {features}. {cta}",
        ),
        "fallback_bodies": ("{title} by {brand}. {cta}", "{title}. {cta}"),
        "cta": {"neutral": "Shop now.", "friendly": "Take a look!", "premium": "Discover the details."},
        "sep": ", ",
        "and": " and ",
    },
    "es": {
        "headlines": (
            "{brand} {title}",
            "{title} de {brand}",
            "{brand}: {f1}",
            "{title} para {audience}",
            "{title} desde {price}",
            "{title}",
        ),
        "bodies": (
            "{title} de {brand}: {features}. {cta}",
            "Pensado para {audience}: {features}. {cta}",
            "Descubre {title}: {features}. {cta}",
            "{brand} {title} con {features}. {cta}",
        ),
        "fallback_bodies": ("{title} de {brand}. {cta}", "{title}. {cta}"),
        "cta": {
            "neutral": "Compra ahora.",
            "friendly": "¡Échale un vistazo!",
            "premium": "Descubre todos los detalles.",
        },
        "sep": ", ",
        "and": " y ",
    },
    "de": {
        "headlines": (
            "{brand} {title}",
            "{title} von {brand}",
            "{brand}: {f1}",
            "{title} für {audience}",
            "{title} ab {price}",
            "{title}",
        ),
        "bodies": (
            "{title} von {brand}: {features}. {cta}",
            "Gemacht für {audience}: {features}. {cta}",
            "{title} entdecken: {features}. {cta}",
            "{brand} {title} mit {features}. {cta}",
        ),
        "fallback_bodies": ("{title} von {brand}. {cta}", "{title}. {cta}"),
        "cta": {"neutral": "Jetzt ansehen.", "friendly": "Schau doch mal rein!", "premium": "Alle Details entdecken."},
        "sep": ", ",
        "and": " und ",
    },
    "fr": {
        # French typography: a no-break space before the colon and the exclamation mark.
        "headlines": (
            "{brand} {title}",
            "{title} par {brand}",
            "{brand}\u00a0: {f1}",
            "{title} pour {audience}",
            "{title} dès {price}",
            "{title}",
        ),
        "bodies": (
            "{title} par {brand}\u00a0: {features}. {cta}",
            "Pensé pour {audience}\u00a0: {features}. {cta}",
            "Découvrez {title}\u00a0: {features}. {cta}",
            "{brand} {title} avec {features}. {cta}",
        ),
        "fallback_bodies": ("{title} par {brand}. {cta}", "{title}. {cta}"),
        "cta": {
            "neutral": "Commandez en ligne.",
            "friendly": "Jetez-y un œil\u00a0!",
            "premium": "Découvrez tous les détails.",
        },
        "sep": ", ",
        "and": " et ",
    },
    "it": {
        "headlines": (
            "{brand} {title}",
            "{title} di {brand}",
            "{brand}: {f1}",
            "{title} per {audience}",
            "{title} da {price}",
            "{title}",
        ),
        "bodies": (
            "{title} di {brand}: {features}. {cta}",
            "Pensato per {audience}: {features}. {cta}",
            "Scopri {title}: {features}. {cta}",
            "{brand} {title} con {features}. {cta}",
        ),
        "fallback_bodies": ("{title} di {brand}. {cta}", "{title}. {cta}"),
        "cta": {"neutral": "Acquista ora.", "friendly": "Dai un'occhiata!", "premium": "Scopri tutti i dettagli."},
        "sep": ", ",
        "and": " e ",
    },
    "pt": {
        "headlines": (
            "{brand} {title}",
            "{title} da {brand}",
            "{brand}: {f1}",
            "{title} para {audience}",
            "{title} a partir de {price}",
            "{title}",
        ),
        "bodies": (
            "{title} da {brand}: {features}. {cta}",
            "Feito para {audience}: {features}. {cta}",
            "Conheça {title}: {features}. {cta}",
            "{brand} {title} com {features}. {cta}",
        ),
        "fallback_bodies": ("{title} da {brand}. {cta}", "{title}. {cta}"),
        "cta": {"neutral": "Compre agora.", "friendly": "Dá uma olhada!", "premium": "Conheça todos os detalhes."},
        "sep": ", ",
        "and": " e ",
    },
    "id": {
        "headlines": (
            "{brand} {title}",
            "{title} dari {brand}",
            "{brand}: {f1}",
            "{title} untuk {audience}",
            "{title} mulai {price}",
            "{title}",
        ),
        "bodies": (
            "{title} dari {brand}: {features}. {cta}",
            "Dibuat untuk {audience}: {features}. {cta}",
            "Temukan {title}: {features}. {cta}",
            "{brand} {title} dengan {features}. {cta}",
        ),
        "fallback_bodies": ("{title} dari {brand}. {cta}", "{title}. {cta}"),
        "cta": {"neutral": "Beli sekarang.", "friendly": "Yuk, cek sekarang!", "premium": "Lihat detail selengkapnya."},
        "sep": ", ",
        "and": " dan ",
    },
    "ja": {
        "headlines": (
            "{brand} {title}",
            "{brand}の{title}",
            "{brand}｜{f1}",
            "{audience}向け{title}",
            "{title} {price}から",
            "{title}",
        ),
        "bodies": (
            "{brand}の{title}。{features}。{cta}",
            "{audience}のための{title}。{features}。{cta}",
            "{features}を備えた{title}。{cta}",
            "{title}（{brand}）。{features}。{cta}",
        ),
        "fallback_bodies": ("{brand}の{title}。{cta}", "{title}。{cta}"),
        "cta": {
            "neutral": "詳しくはこちら。",
            "friendly": "ぜひチェックしてみてください！",
            "premium": "詳細をご覧ください。",
        },
        "sep": "、",
        "and": "、",
    },
    "zh-Hans": {
        "headlines": (
            "{brand} {title}",
            "{brand}｜{f1}",
            "专为{audience}打造的{title}",
            "{title} {price}起",
            "{title}",
        ),
        "bodies": (
            "{brand} {title}：{features}。{cta}",
            "专为{audience}设计：{features}。{cta}",
            "了解{title}：{features}。{cta}",
            "{title}，{features}。{cta}",
        ),
        "fallback_bodies": ("{brand} {title}。{cta}", "{title}。{cta}"),
        "cta": {"neutral": "欢迎选购。", "friendly": "快来看看吧！", "premium": "了解更多细节。"},
        "sep": "、",
        "and": "和",
    },
    "ko": {
        # Patterns avoid particles whose form depends on the last syllable of the seller's text.
        "headlines": (
            "{brand} {title}",
            "{brand} | {f1}",
            "{audience} 맞춤 {title}",
            "{title} {price}부터",
            "{title}",
        ),
        "bodies": (
            "{brand} {title}: {features}. {cta}",
            "{audience} 맞춤 설계: {features}. {cta}",
            "{features}까지 갖춘 {title}. {cta}",
            "{brand}에서 만든 {title}: {features}. {cta}",
        ),
        "fallback_bodies": ("{brand} {title}. {cta}", "{title}. {cta}"),
        "cta": {
            "neutral": "지금 만나보세요.",
            "friendly": "한번 구경해 보세요!",
            "premium": "자세한 내용을 확인해 보세요.",
        },
        "sep": ", ",
        "and": ", ",
    },
    "th": {
        # Thai separates phrases with spaces and ends sentences without a full stop.
        "headlines": (
            "{brand} {title}",
            "{title} จาก {brand}",
            "{brand}: {f1}",
            "{title} สำหรับ {audience}",
            "{title} เริ่มต้น {price}",
            "{title}",
        ),
        "bodies": (
            "{title} จาก {brand} มาพร้อม {features} {cta}",
            "ออกแบบมาเพื่อ {audience} มาพร้อม {features} {cta}",
            "พบกับ {title} มาพร้อม {features} {cta}",
            "{brand} {title} {features} {cta}",
        ),
        "fallback_bodies": ("{title} จาก {brand} {cta}", "{title} {cta}"),
        "cta": {"neutral": "สั่งซื้อได้เลย", "friendly": "แวะมาดูกันนะ", "premium": "ดูรายละเอียดเพิ่มเติม"},
        "sep": " ",
        "and": " และ ",
    },
    "ar": {
        # Arabic comma for lists; the conjunction و is written onto the next word.
        "headlines": (
            "{title} من {brand}",
            "{title} {brand}",
            "{brand}: {f1}",
            "{title} من أجل {audience}",
            "{title} ابتداءً من {price}",
            "{title}",
        ),
        "bodies": (
            "{title} من {brand}: {features}. {cta}",
            "صُمّم من أجل {audience}: {features}. {cta}",
            "اكتشف {title}: {features}. {cta}",
            "{title} {brand} مع {features}. {cta}",
        ),
        "fallback_bodies": ("{title} من {brand}. {cta}", "{title}. {cta}"),
        "cta": {"neutral": "تسوّق الآن.", "friendly": "ألقِ نظرة!", "premium": "اكتشف التفاصيل."},
        "sep": "، ",
        "and": " و",
        "attach_and": True,
    },
}

# Words that must not end a cut text ("... earbuds with").
_DANGLING_WORDS = {
    "en": {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"},
    "es": {"a", "con", "de", "del", "desde", "e", "el", "en", "la", "las", "los", "o", "para", "por", "u", "y"},
    "de": {"ab", "auf", "das", "der", "die", "für", "im", "in", "mit", "oder", "und", "von", "zu"},
    "fr": {"à", "au", "avec", "de", "des", "dès", "du", "en", "et", "la", "le", "les", "ou", "par", "pour"},
    "it": {"a", "con", "da", "di", "e", "ed", "il", "in", "la", "le", "o", "per", "su"},
    "pt": {"a", "com", "da", "de", "do", "e", "em", "o", "ou", "para", "partir"},
    "id": {"dan", "dari", "dengan", "di", "ke", "mulai", "untuk", "yang"},
    "ko": {"|"},
    "th": {"จาก", "และ", "มาพร้อม", "สำหรับ", "เริ่มต้น"},
    "ar": {"من", "مع", "في", "و", "أجل"},
}
_TRAILING_PUNCTUATION = " \u00a0,;:、，：；・|｜/\\-–—(（「『【[\"'“‘«&،؛"
_THAI_LEADING_VOWELS = "เแโใไ"
_THAI_FOLLOWING_LO = "ะาำๅ"
_CJK_CHAR = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"


def resolve_language(language: str) -> str:
    """The supported language code for ``language`` (``zh``/``zh-CN`` -> ``zh-Hans``, ``pt-BR`` -> ``pt``)."""
    raw = (language or "").strip().replace("_", "-")
    lowered = raw.lower()
    if lowered in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[lowered]
    for code in SUPPORTED_LANGUAGES:
        if lowered == code.lower():
            return code
    base = lowered.split("-")[0]
    if base in SUPPORTED_LANGUAGES and base != "zh":
        return base
    raise ValueError(f"no copy templates for language {language!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}")


def channel_limits(channel: str) -> ChannelLimits:
    """The text limits of ``channel``; ``ValueError`` for channels without ad copy of their own."""
    try:
        return CHANNEL_LIMITS[channel]
    except KeyError:
        raise ValueError(
            f"channel {channel!r} has no ad copy to write; copy channels: {', '.join(CHANNEL_LIMITS)}"
        ) from None


def text_length(text: str, *, channel: str) -> int:
    """Length of ``text`` as ``channel`` counts it (double-width characters count two where it says so)."""
    if not channel_limits(channel).double_width_cjk:
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def fit_text(text: str, *, limit: int, language: str, channel: str) -> tuple[str, bool]:
    """``text`` tidied and cut to ``limit`` as ``channel`` counts it; the flag says whether it was cut."""
    text = tidy_text(text, language=language)
    if text_length(text, channel=channel) <= limit:
        return text, False
    double = channel_limits(channel).double_width_cjk
    clusters = _clusters(text)
    used = 0
    kept = 0
    for cluster in clusters:
        width = sum(2 if double and unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in cluster)
        if used + width > limit:
            break
        used += width
        kept += 1
    head = "".join(clusters[:kept])
    following = clusters[kept] if kept < len(clusters) else ""
    cut = _cut_on_boundary(head, following, language=language)
    cut = _strip_dangling(cut, language=language)
    if not cut.strip(RLM + " "):
        cut = head.rstrip()
    return cut, True


def tidy_text(text: str, *, language: str) -> str:
    """Collapse spaces, drop spaces between two Chinese/Japanese characters, and guard Arabic direction."""
    text = re.sub(r"[ \t\r\n]+", " ", text or "").strip()
    if language in _CJK_LANGUAGES:
        text = re.sub(rf"(?<={_CJK_CHAR}) (?={_CJK_CHAR})", "", text)
    if language.split("-")[0] in _RTL_LANGUAGES and _first_strong_direction(text) == "L":
        text = RLM + text
    return text


def generate_copy(
    *,
    product: ProductBrief,
    market: str,
    language: str,
    channel: str,
    tone: str = "neutral",
    variants: int = 3,
) -> list[CopyDraft]:
    """Up to ``variants`` distinct drafts for ``product`` in ``language``, within ``channel``'s limits.

    Patterns whose text fits without cutting come first; fewer drafts come back when the brief allows fewer
    distinct ones. The same input always gives the same drafts. ``tone`` (neutral, friendly, premium) sets
    the closing call to action.
    """
    language = resolve_language(language)
    limits = channel_limits(channel)
    if tone not in TONES:
        raise ValueError(f"unknown tone {tone!r}; tones: {', '.join(TONES)}")
    if variants < 1:
        raise ValueError("variants must be at least 1")
    if not _clean(product.title):
        raise ValueError("the product brief needs a title")
    market = (market or "").strip().upper()
    data = TEMPLATES[language]
    values, features = _values(product, language=language, market=market, tone=tone)

    headlines = [("", False)]
    if limits.headline is not None:
        rendered = _render_all(data["headlines"], values, features, language=language)
        headlines = _fitted(rendered, limit=limits.headline, language=language, channel=channel)
    bodies = [("", False)]
    if limits.body is not None:
        patterns = _applicable(data["bodies"], values, features) or _applicable(
            data["fallback_bodies"], values, features
        )
        rendered = [
            _render_body(pattern, values, features, language=language, limit=limits.body, channel=channel)
            for pattern in patterns
        ]
        bodies = _fitted(list(dict.fromkeys(rendered)), limit=limits.body, language=language, channel=channel)

    pairs = sorted(
        ((h, b) for h in range(len(headlines)) for b in range(len(bodies))),
        key=lambda hb: ((hb[1] - hb[0]) % len(bodies), hb[0]),
    )
    drafts: list[CopyDraft] = []
    seen: set[tuple[str, str]] = set()
    for h, b in pairs:
        (headline, headline_cut), (body, body_cut) = headlines[h], bodies[b]
        if (headline, body) in seen:
            continue
        seen.add((headline, body))
        drafts.append(
            CopyDraft(
                headline=headline,
                body=body,
                language=language,
                market=market,
                channel=channel,
                truncated=headline_cut or body_cut,
            )
        )
        if len(drafts) == variants:
            break
    return drafts


# --- helpers ---------------------------------------------------------------------------------------------------


def _clean(value: str) -> str:
    return re.sub(r"\s+", " ", value or "").strip()


def _values(product: ProductBrief, *, language: str, market: str, tone: str) -> tuple[dict[str, str], list[str]]:
    data = TEMPLATES[language]
    features = [_clean(f).rstrip(".。!！") for f in product.features or ()]
    features = [f for f in features if f]
    values = {
        "title": _clean(product.title),
        "brand": _clean(product.brand),
        "audience": _clean(product.audience),
        "price": _format_price(product.price, product.currency, language=language, market=market),
        "f1": features[0] if features else "",
        "cta": data["cta"][tone],
    }
    return values, features


def _format_price(price, currency: str, *, language: str, market: str) -> str:
    if price is None:
        return ""
    territory = {"UK": "GB"}.get(market, market)
    babel_language = language.replace("-", "_")
    try:
        locale = Locale.parse(f"{babel_language}_{territory}") if territory else Locale.parse(babel_language)
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse(babel_language)
    amount = Decimal(str(price))
    if currency:
        return format_currency(amount, currency.upper(), locale=locale)
    return format_decimal(amount, locale=locale)


def _join(items: list[str], *, language: str) -> str:
    data = TEMPLATES[language]
    if len(items) <= 1:
        return "".join(items)
    last = items[-1]
    conjunction = data["and"]
    if data.get("attach_and") and _first_strong_direction(last) == "L":
        conjunction = conjunction + " "
    if language == "es" and re.match(r"(?i)h?i(?![aeo])", last) and conjunction == " y ":
        conjunction = " e "  # "y" becomes "e" before an /i/ sound: "ligero e impermeable"
    return data["sep"].join(items[:-1]) + conjunction + last


def _fields(pattern: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name}


def _applicable(patterns, values: dict[str, str], features: list[str]) -> list[str]:
    brand, title = values["brand"].casefold(), values["title"].casefold()
    brand_in_title = bool(brand) and brand in title
    out = []
    for pattern in patterns:
        fields = _fields(pattern)
        if any(not (features if name == "features" else values.get(name)) for name in fields):
            continue
        if brand_in_title and {"brand", "title"} <= fields:
            continue  # "Anker Soundcore ... by Anker"
        out.append(pattern)
    return out


def _render_all(patterns, values: dict[str, str], features: list[str], *, language: str) -> list[str]:
    rendered = [tidy_text(p.format(**values), language=language) for p in _applicable(patterns, values, features)]
    return list(dict.fromkeys(rendered))


def _render_body(
    pattern: str, values: dict[str, str], features: list[str], *, language: str, limit: int, channel: str
) -> str:
    text = ""
    for count in range(min(3, len(features)), 0, -1):
        text = tidy_text(
            pattern.format(**values, features=_join(features[:count], language=language)), language=language
        )
        if text_length(text, channel=channel) <= limit:
            return text
    if not features:
        text = tidy_text(pattern.format(**values), language=language)
    return text


def _fitted(texts: list[str], *, limit: int, language: str, channel: str) -> list[tuple[str, bool]]:
    fitted = [fit_text(t, limit=limit, language=language, channel=channel) for t in texts]
    ordered = [item for item in fitted if not item[1]] + [item for item in fitted if item[1]]
    by_text: dict[str, bool] = {}
    for text, was_cut in ordered:
        by_text.setdefault(text, was_cut)  # a cut text equal to a whole one is the whole one
    return list(by_text.items())


def _clusters(text: str) -> list[str]:
    """Characters grouped with the marks that belong to them, so a cut never separates them."""
    out: list[str] = []
    for ch in text:
        joins = bool(out) and (
            unicodedata.category(ch) in ("Mn", "Mc", "Me")
            or ch in "\u200d\ufe0e\ufe0f"
            or ch in _THAI_FOLLOWING_LO
            or out[-1].endswith("\u200d")
        )
        if joins:
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _cut_on_boundary(head: str, following: str, *, language: str) -> str:
    if language in _CJK_LANGUAGES:
        if re.search(r"[A-Za-z0-9]$", head) and re.match(r"[A-Za-z0-9]", following):
            start = re.search(r"[A-Za-z0-9]+$", head).start()
            if start >= len(head) // 2:
                return head[:start]
        return head
    if following.isspace():
        return head
    space = head.rfind(" ")
    if language == "th":
        return head[:space] if space >= len(head) // 2 else head
    return head[:space] if space > 0 else head


def _strip_dangling(text: str, *, language: str) -> str:
    dangling = _DANGLING_WORDS.get(language, set())
    while True:
        stripped = text.rstrip(_TRAILING_PUNCTUATION)
        if language == "th":
            stripped = stripped.rstrip(_THAI_LEADING_VOWELS)
        words = stripped.rsplit(" ", 1)
        if len(words) == 2 and words[1].casefold() in dangling:
            stripped = words[0]
        if stripped == text:
            return text
        text = stripped


def _first_strong_direction(text: str) -> str:
    for ch in text:
        direction = unicodedata.bidirectional(ch)
        if direction == "L":
            return "L"
        if direction in ("R", "AL"):
            return "R"
    return ""


__all__ = [
    "CHANNEL_LIMITS",
    "SUPPORTED_LANGUAGES",
    "TEMPLATES",
    "TONES",
    "ChannelLimits",
    "CopyDraft",
    "ProductBrief",
    "channel_limits",
    "fit_text",
    "generate_copy",
    "resolve_language",
    "text_length",
    "tidy_text",
]

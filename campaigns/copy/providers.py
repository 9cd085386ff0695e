"""Where ad copy comes from: the offline templates, or a language model behind an OpenAI-compatible API.

``provider_from_settings()`` picks one from ``COPY_LLM_BASE_URL``, ``COPY_LLM_API_KEY`` and ``COPY_LLM_MODEL``:
all three set -> ``OpenAICompatibleProvider``, any of them empty -> ``TemplateProvider``. A local server that
ignores keys still needs a placeholder key. Whatever the provider, its drafts are cut to the channel's limits
here, and every draft still goes through ``campaigns.copy.checks.copy_check`` before it may be approved.

Keyword translation (``translate_keywords``) needs a language model: the template provider has no dictionary,
so it raises ``CopyProviderError`` with code ``needs_provider`` and the page can say so.
"""

from __future__ import annotations

import json
import re
from typing import Protocol, runtime_checkable

import openai
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaigns.copy.templates import (
    CopyDraft,
    ProductBrief,
    channel_limits,
    fit_text,
    generate_copy,
    resolve_language,
)

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "ar": "Arabic",
    "de": "German",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
    "ja": "Japanese",
    "ko": "Korean",
    "id": "Indonesian",
    "th": "Thai",
    "zh-Hans": "Simplified Chinese",
}

COPY_SYSTEM_PROMPT = """You write search and social ad copy for online marketplace sellers.
Reply with one JSON object and nothing else: {"variants": [{"headline": "...", "body": "..."}]}.
Rules:
- Write in the language named in "language_name" (code "language"), phrased naturally for shoppers in "market".
- Give exactly "variants" distinct variants.
- Keep every headline within "limits.headline" characters and every body within "limits.body" characters.
  When a limit is null the channel has no such field: return an empty string for it.
  When "limits.double_width_cjk" is true, each Chinese, Japanese or Korean character counts as two.
- Use only the facts given in "product". Do not invent specifications, prices, awards, reviews or comparisons.
- No superlatives or rankings (best, #1, top-rated, leading), no "free", no guarantees, no health, medical or
  cure claims, no urgency (last chance, today only, limited time), no all-caps words and no emojis."""

TRANSLATE_SYSTEM_PROMPT = """You localize marketplace search keywords.
Reply with one JSON object and nothing else: {"keywords": [{"source": "...", "translation": "..."}]}.
Rules:
- One entry per keyword in "keywords", in the same order, with "source" copied exactly.
- "translation" is what a shopper in the target language would type into a marketplace search box for the same
  thing: short, lower case where the language has case, no punctuation, not a word-for-word gloss.
- Keep brand names and model numbers unchanged."""


class CopyProviderError(Exception):
    """A copy provider could not deliver. ``user_message`` is translated and says what to do next.

    ``code``: needs_provider, auth, rate_limited, timeout, unreachable, http_error or malformed.
    ``detail`` is for logs only (it never holds the API key).
    """

    def __init__(self, user_message, *, code: str, detail: str = ""):
        super().__init__(user_message)
        self.user_message = user_message
        self.code = code
        self.detail = detail


@runtime_checkable
class CopyProvider(Protocol):
    """Anything that turns a product brief into drafts for one language and channel."""

    name: str
    supports_translation: bool

    def generate(
        self,
        *,
        product: ProductBrief,
        market: str,
        language: str,
        channel: str,
        tone: str = "neutral",
        variants: int = 3,
    ) -> list[CopyDraft]: ...


class TemplateProvider:
    """The offline templates: always available, deterministic, no keyword translation."""

    name = "templates"
    supports_translation = False

    def generate(
        self,
        *,
        product: ProductBrief,
        market: str,
        language: str,
        channel: str,
        tone: str = "neutral",
        variants: int = 3,
    ) -> list[CopyDraft]:
        return generate_copy(
            product=product, market=market, language=language, channel=channel, tone=tone, variants=variants
        )


class OpenAICompatibleProvider:
    """A chat-completions endpoint (OpenAI or any server speaking its API) asked for JSON copy.

    The SDK retries connection errors, timeouts, 429 and 5xx ``max_retries`` times (honouring Retry-After);
    what still fails becomes a ``CopyProviderError``.
    """

    supports_translation = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout: float = 20,
        max_retries: int = 2,
        json_mode: bool = True,
    ):
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.json_mode = json_mode
        self.name = f"openai_compatible:{model}"
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)

    def generate(
        self,
        *,
        product: ProductBrief,
        market: str,
        language: str,
        channel: str,
        tone: str = "neutral",
        variants: int = 3,
    ) -> list[CopyDraft]:
        limits = channel_limits(channel)
        if variants < 1:
            raise ValueError("variants must be at least 1")
        language = _known_language(language)
        market = (market or "").strip().upper()
        request = {
            "task": "ad_copy",
            "language": language,
            "language_name": LANGUAGE_NAMES.get(language, language),
            "market": market,
            "channel": channel,
            "tone": tone,
            "variants": variants,
            "limits": {
                "headline": limits.headline,
                "body": limits.body,
                "double_width_cjk": limits.double_width_cjk,
            },
            "product": {
                "title": product.title,
                "brand": product.brand,
                "features": list(product.features or ()),
                "audience": product.audience,
                "price": None if product.price is None else str(product.price),
                "currency": product.currency,
            },
        }
        answer = self.complete_json(system=COPY_SYSTEM_PROMPT, payload=request)
        items = answer.get("variants") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise _malformed("no variants list")
        drafts: list[CopyDraft] = []
        seen: set[tuple[str, str]] = set()
        for item in items:
            if not isinstance(item, dict):
                continue
            headline, headline_cut = self._field(item, "headline", limits.headline, language, channel)
            body, body_cut = self._field(item, "body", limits.body, language, channel)
            if headline is None or body is None or (headline, body) in seen:
                continue
            seen.add((headline, body))
            drafts.append(
                CopyDraft(
                    headline=headline,
                    body=body,
                    language=language,
                    market=market,
                    channel=channel,
                    provider=self.name,
                    truncated=headline_cut or body_cut,
                )
            )
            if len(drafts) == variants:
                break
        if not drafts:
            raise _malformed("no usable variant")
        return drafts

    def translate_keywords(self, *, keywords: list[str], source_language: str, target_language: str) -> list[dict]:
        request = {
            "task": "translate_keywords",
            "source_language": source_language,
            "source_language_name": LANGUAGE_NAMES.get(source_language, source_language),
            "target_language": target_language,
            "target_language_name": LANGUAGE_NAMES.get(target_language, target_language),
            "keywords": keywords,
        }
        answer = self.complete_json(system=TRANSLATE_SYSTEM_PROMPT, payload=request)
        items = answer.get("keywords") if isinstance(answer, dict) else None
        if not isinstance(items, list):
            raise _malformed("no keywords list")
        translated: dict[str, str] = {}
        for item in items:
            if (
                isinstance(item, dict)
                and isinstance(item.get("source"), str)
                and isinstance(item.get("translation"), str)
            ):
                text = re.sub(r"\s+", " ", item["translation"]).strip()
                if text:
                    translated.setdefault(item["source"].strip(), text)
        missing = [k for k in keywords if k not in translated]
        if missing:
            raise _malformed(f"{len(missing)} keyword(s) missing from the answer")
        return [
            {
                "source": keyword,
                "translation": translated[keyword],
                "source_language": source_language,
                "target_language": target_language,
            }
            for keyword in keywords
        ]

    def complete_json(self, *, system: str, payload: dict) -> dict:
        """One chat completion whose answer must be a JSON object; SDK errors become ``CopyProviderError``."""
        options = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
                ],
                temperature=0.7,
                **options,
            )
        except openai.APITimeoutError as exc:
            raise CopyProviderError(
                _("The copy service did not answer within %(seconds)s seconds. Try again later.")
                % {"seconds": self.timeout},
                code="timeout",
                detail=type(exc).__name__,
            ) from exc
        except openai.APIConnectionError as exc:
            raise CopyProviderError(
                _("The copy service could not be reached. Try again later."),
                code="unreachable",
                detail=type(exc).__name__,
            ) from exc
        except openai.AuthenticationError as exc:
            raise CopyProviderError(
                _("The copy service did not accept the API key. Check the copy service settings."),
                code="auth",
                detail=f"HTTP {exc.status_code}",
            ) from exc
        except openai.RateLimitError as exc:
            raise CopyProviderError(
                _("The copy service is limiting requests right now. Try again in a few minutes."),
                code="rate_limited",
                detail=f"HTTP {exc.status_code}",
            ) from exc
        except openai.APIStatusError as exc:
            raise CopyProviderError(
                _("The copy service answered with an error (HTTP %(status)s). Try again later.")
                % {"status": exc.status_code},
                code="http_error",
                detail=f"HTTP {exc.status_code}",
            ) from exc
        except openai.APIError as exc:  # e.g. a response body the SDK could not parse
            raise _malformed(type(exc).__name__) from exc
        try:
            content = completion.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise _malformed("no choices") from None
        return _parse_json_object(content)

    @staticmethod
    def _field(item: dict, key: str, limit: int | None, language: str, channel: str) -> tuple[str | None, bool]:
        """The field cut to ``limit``; ``None`` when a field the channel needs is missing or empty."""
        if limit is None:
            return "", False
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            return None, False
        return fit_text(value, limit=limit, language=language, channel=channel)


def translate_keywords(
    *, provider: CopyProvider, keywords: list[str], source_language: str, target_language: str
) -> list[dict]:
    """Each keyword with its translation: ``[{"source", "translation", "source_language", "target_language"}]``.

    Order follows ``keywords`` (blank and repeated keywords dropped). Needs a language-model provider: with
    the template provider it raises ``CopyProviderError`` (code ``needs_provider``).
    """
    if not getattr(provider, "supports_translation", False):
        raise CopyProviderError(
            _("Translating keywords needs a copy provider: ask an administrator to connect a language model."),
            code="needs_provider",
        )
    cleaned = list(dict.fromkeys(k.strip() for k in keywords if k and k.strip()))
    if not cleaned:
        return []
    return provider.translate_keywords(
        keywords=cleaned, source_language=source_language, target_language=target_language
    )


def provider_from_settings() -> CopyProvider:
    """The configured provider: a language model when all three COPY_LLM_* settings are set, else templates."""
    base_url = getattr(settings, "COPY_LLM_BASE_URL", "") or ""
    api_key = getattr(settings, "COPY_LLM_API_KEY", "") or ""
    model = getattr(settings, "COPY_LLM_MODEL", "") or ""
    if not (base_url and api_key and model):
        return TemplateProvider()
    return OpenAICompatibleProvider(base_url=base_url, api_key=api_key, model=model)


def _known_language(language: str) -> str:
    """The template code for a language we have templates for (``zh`` -> ``zh-Hans``); others pass through."""
    try:
        return resolve_language(language)
    except ValueError:
        return language


def _malformed(detail: str) -> CopyProviderError:
    return CopyProviderError(
        _("The copy service sent an answer that is not usable ad copy. Try again."),
        code="malformed",
        detail=detail,
    )


def _parse_json_object(content) -> dict:
    if not isinstance(content, str) or not content.strip():
        raise _malformed("empty content")
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except ValueError:
        raise _malformed("content is not JSON") from None
    if not isinstance(value, dict):
        raise _malformed("content is not a JSON object")
    return value

"""Copy providers against the local fake chat-completions server, keyword translation, settings and the check gate."""

from __future__ import annotations

import socket
import sys
import time
import types

import pytest

from campaigns.copy import checks
from campaigns.copy.checks import CheckResult, copy_check
from campaigns.copy.fake_llm import DEFAULT_API_KEY, make_app
from campaigns.copy.providers import (
    CopyProvider,
    CopyProviderError,
    OpenAICompatibleProvider,
    TemplateProvider,
    provider_from_settings,
    translate_keywords,
)
from campaigns.copy.templates import ProductBrief, generate_copy, text_length
from config.testing import serve_wsgi

EARBUDS = ProductBrief(title="Wireless Earbuds", brand="Anker", features=["40-hour battery", "noise cancelling"])


@pytest.fixture
def fake():
    app = make_app()
    with serve_wsgi(app) as url:
        yield app, f"{url}/v1"


def provider(base_url, *, api_key=DEFAULT_API_KEY, **options):
    return OpenAICompatibleProvider(base_url=base_url, api_key=api_key, model="fake-model", **options)


def statuses(app):
    return [r["status"] for r in app.requests]


def test_generates_drafts_in_the_requested_language(fake):
    app, base_url = fake

    drafts = provider(base_url).generate(product=EARBUDS, market="de", language="de", channel="meta")

    assert [(d.headline, d.body) for d in drafts] == [
        ("Anker Wireless Earbuds", "Entdecken Sie Wireless Earbuds: 40-hour battery"),
        ("Wireless Earbuds", "Entdecken Sie Wireless Earbuds: 40-hour battery, noise cancelling"),
        ("Anker: 40-hour battery", "Entdecken Sie Wireless Earbuds: 40-hour battery"),
    ]
    assert {(d.language, d.market, d.provider, d.truncated) for d in drafts} == {
        ("de", "DE", "openai_compatible:fake-model", False)
    }
    assert app.requests == [
        {
            "path": "/v1/chat/completions",
            "status": 200,
            "model": "fake-model",
            "response_format": "json_object",
            "task": "ad_copy",
            "fault": None,
        }
    ]


def test_channel_without_headline_gets_body_only_and_language_alias_resolves(fake):
    _app, base_url = fake

    drafts = provider(base_url).generate(product=EARBUDS, market="CN", language="zh", channel="tiktok_ads", variants=1)

    assert [(d.headline, d.body, d.language) for d in drafts] == [
        ("", "了解 Wireless Earbuds: 40-hour battery", "zh-Hans")
    ]


def test_wrong_api_key_is_an_auth_error_without_retries(fake):
    app, base_url = fake

    with pytest.raises(CopyProviderError) as caught:
        provider(base_url, api_key="sk-wrong-key-0000").generate(
            product=EARBUDS, market="US", language="en", channel="meta"
        )

    assert caught.value.code == "auth"
    assert str(caught.value) == "The copy service did not accept the API key. Check the copy service settings."
    assert "sk-wrong" not in caught.value.detail
    assert statuses(app) == [401]


def test_rate_limit_is_retried_by_the_sdk_and_then_succeeds(fake):
    app, base_url = fake
    app.faults.add("429", retry_after_ms=10)

    drafts = provider(base_url).generate(product=EARBUDS, market="US", language="en", channel="meta", variants=1)

    assert [(d.headline, d.body) for d in drafts] == [
        ("Anker Wireless Earbuds", "Meet Wireless Earbuds: 40-hour battery")
    ]
    assert statuses(app) == [429, 200]


def test_rate_limit_after_all_retries_is_a_clear_error(fake):
    app, base_url = fake
    app.faults.add("429", times=3, retry_after_ms=10)

    with pytest.raises(CopyProviderError) as caught:
        provider(base_url).generate(product=EARBUDS, market="US", language="en", channel="meta")

    assert caught.value.code == "rate_limited"
    assert str(caught.value) == "The copy service is limiting requests right now. Try again in a few minutes."
    assert statuses(app) == [429, 429, 429]


def test_server_errors_after_retries_name_the_status(fake):
    app, base_url = fake
    app.faults.add("500", times=3, retry_after_ms=10)

    with pytest.raises(CopyProviderError) as caught:
        provider(base_url).generate(product=EARBUDS, market="US", language="en", channel="meta")

    assert caught.value.code == "http_error"
    assert str(caught.value) == "The copy service answered with an error (HTTP 500). Try again later."
    assert statuses(app) == [500, 500, 500]


@pytest.mark.parametrize("fault", ["malformed", "wrong_shape"])
def test_unusable_answers_are_malformed_errors(fake, fault):
    app, base_url = fake
    app.faults.add(fault)

    with pytest.raises(CopyProviderError) as caught:
        provider(base_url).generate(product=EARBUDS, market="US", language="en", channel="meta")

    assert caught.value.code == "malformed"
    assert str(caught.value) == "The copy service sent an answer that is not usable ad copy. Try again."
    assert statuses(app) == [200]


def test_json_inside_a_code_fence_is_accepted(fake):
    app, base_url = fake
    app.faults.add("fenced")

    drafts = provider(base_url).generate(product=EARBUDS, market="US", language="en", channel="meta", variants=2)

    assert [d.headline for d in drafts] == ["Anker Wireless Earbuds", "Wireless Earbuds"]


def test_overlong_answers_are_cut_to_the_channel_limits(fake):
    app, base_url = fake
    app.faults.add("long")

    drafts = provider(base_url).generate(product=EARBUDS, market="US", language="en", channel="google_ads", variants=1)

    assert [(d.headline, d.body, d.truncated) for d in drafts] == [
        (
            "Anker Wireless Earbuds Anker",
            "Meet Wireless Earbuds: 40-hour battery Meet Wireless Earbuds: 40-hour battery Meet",
            True,
        )
    ]
    assert text_length(drafts[0].headline, channel="google_ads") <= 30
    assert text_length(drafts[0].body, channel="google_ads") <= 90


def test_slow_answer_is_a_timeout_error(fake):
    app, base_url = fake
    app.faults.add("slow", seconds=1.5)
    started = time.monotonic()

    with pytest.raises(CopyProviderError) as caught:
        provider(base_url, timeout=0.3, max_retries=0).generate(
            product=EARBUDS, market="US", language="en", channel="meta"
        )

    assert caught.value.code == "timeout"
    assert str(caught.value) == "The copy service did not answer within 0.3 seconds. Try again later."
    assert time.monotonic() - started < 1.4


def test_unreachable_server_is_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # nothing listens on the port any more

    with pytest.raises(CopyProviderError) as caught:
        provider(f"http://127.0.0.1:{port}/v1", max_retries=0).generate(
            product=EARBUDS, market="US", language="en", channel="meta"
        )

    assert caught.value.code == "unreachable"


def test_translate_keywords_with_a_language_model(fake):
    app, base_url = fake

    result = translate_keywords(
        provider=provider(base_url),
        keywords=["wireless earbuds", " yoga mat ", "", "wireless earbuds", "usb c cable"],
        source_language="en",
        target_language="de",
    )

    assert result == [
        {
            "source": "wireless earbuds",
            "translation": "kabellose ohrhörer",
            "source_language": "en",
            "target_language": "de",
        },
        {"source": "yoga mat", "translation": "yogamatte", "source_language": "en", "target_language": "de"},
        {"source": "usb c cable", "translation": "usb c cable (de)", "source_language": "en", "target_language": "de"},
    ]
    assert [r["task"] for r in app.requests] == ["translate_keywords"]


def test_translate_keywords_needs_a_language_model(fake):
    app, _base_url = fake

    with pytest.raises(CopyProviderError) as caught:
        translate_keywords(
            provider=TemplateProvider(), keywords=["yoga mat"], source_language="en", target_language="de"
        )

    assert caught.value.code == "needs_provider"
    assert "needs a copy provider" in str(caught.value)
    assert app.requests == []


def test_translate_keywords_with_a_missing_answer_is_malformed(fake):
    _app, base_url = fake
    llm = provider(base_url)
    # an answer listing other keywords than asked for
    llm.complete_json = lambda *, system, payload: {"keywords": [{"source": "other", "translation": "x"}]}

    with pytest.raises(CopyProviderError) as caught:
        translate_keywords(provider=llm, keywords=["yoga mat"], source_language="en", target_language="de")

    assert caught.value.code == "malformed"


def test_template_provider_matches_the_templates():
    templates = TemplateProvider()

    drafts = templates.generate(product=EARBUDS, market="US", language="en", channel="meta", tone="friendly")

    assert isinstance(templates, CopyProvider)
    assert drafts == generate_copy(product=EARBUDS, market="US", language="en", channel="meta", tone="friendly")


def test_provider_from_settings(settings):
    settings.COPY_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.COPY_LLM_API_KEY = "sk-test"
    settings.COPY_LLM_MODEL = "gpt-test"

    configured = provider_from_settings()

    assert isinstance(configured, OpenAICompatibleProvider)
    assert (configured.base_url, configured.model, configured.timeout) == ("http://127.0.0.1:9/v1", "gpt-test", 20)

    settings.COPY_LLM_API_KEY = ""
    assert isinstance(provider_from_settings(), TemplateProvider)


# --- the check gate ------------------------------------------------------------------------------------------------


def test_copy_check_without_a_rule_engine_is_clean_but_unchecked(monkeypatch):
    monkeypatch.setitem(sys.modules, "compliance.services", None)  # the compliance app has no services module

    result = copy_check(text="Wireless Earbuds", markets=["us"], channel="meta", language="en")

    assert result == CheckResult(verdict="clean", findings=[], checked=False)
    assert result.approvable


def test_copy_check_with_an_engine_without_the_function_is_unchecked(monkeypatch):
    monkeypatch.setitem(sys.modules, "compliance.services", types.ModuleType("compliance.services"))

    assert copy_check(text="x", markets=["US"], channel="meta", language="en").checked is False


def test_copy_check_passes_the_text_to_the_rule_engine(monkeypatch):
    calls = []

    def ad_text_check(*, text, markets, channel, language):
        calls.append((text, markets, channel, language))
        return {"verdict": "blocked", "findings": [{"rule": "superlative", "fix": "drop 'best'"}]}

    engine = types.ModuleType("compliance.services")
    engine.ad_text_check = ad_text_check
    monkeypatch.setitem(sys.modules, "compliance.services", engine)

    result = copy_check(text="The best earbuds", markets=(" us", "de"), channel="google_ads", language="en")
    single = copy_check(text="Earbuds", markets="jp", channel="meta", language="ja")

    assert result == CheckResult(
        verdict="blocked", findings=[{"rule": "superlative", "fix": "drop 'best'"}], checked=True
    )
    assert not result.approvable
    assert single.verdict == "blocked"
    assert calls == [("The best earbuds", ["US", "DE"], "google_ads", "en"), ("Earbuds", ["JP"], "meta", "ja")]


def test_copy_check_refuses_an_unknown_verdict(monkeypatch):
    engine = types.ModuleType("compliance.services")
    engine.ad_text_check = lambda **kwargs: types.SimpleNamespace(verdict="ok", findings=[])
    monkeypatch.setitem(sys.modules, "compliance.services", engine)

    with pytest.raises(ValueError, match="unknown verdict"):
        copy_check(text="x", markets=["US"], channel="meta", language="en")


def test_copy_check_does_not_hide_a_broken_engine(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'missing_dependency'", name="missing_dependency")

    monkeypatch.setattr(checks, "importlib", types.SimpleNamespace(import_module=broken))

    with pytest.raises(ModuleNotFoundError):
        copy_check(text="x", markets=["US"], channel="meta", language="en")

"""Creative services and selectors: A/B test plans and readouts from facts, the ad copy save and approval gate,
copy generation through the local fake language model (real HTTP), and keyword localization into proposals."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from accounts.tests.factories import OrganizationFactory, UserFactory
from analytics.tests.factories import AdFactFactory
from campaigns import creative_selectors as selectors
from campaigns.copy import checks
from campaigns.copy.checks import copy_check
from campaigns.copy.fake_llm import DEFAULT_API_KEY, make_app
from campaigns.copy.providers import CopyProviderError
from campaigns.copy.templates import ProductBrief
from campaigns.experiments import STOP_WINNER, duration_days, sample_size
from campaigns.models import AdAccount, AdGroup, Campaign, Experiment, Proposal, Target, ToolRun
from campaigns.services import creative as services
from campaigns.tests.factories import search_term_fact
from config.testing import serve_wsgi

START = date(2026, 11, 1)
EARBUDS = ProductBrief(title="Wireless Earbuds", brand="Anker", features=["40-hour battery", "noise cancelling"])
ENGINE_INSTALLED = checks._engine() is not None  # the compliance app provides the rule engine


@pytest.fixture
def fake_llm(settings):
    """The local chat-completions server, configured as the copy provider."""
    app = make_app()
    with serve_wsgi(app) as url:
        settings.COPY_LLM_BASE_URL = f"{url}/v1"
        settings.COPY_LLM_API_KEY = DEFAULT_API_KEY
        settings.COPY_LLM_MODEL = "fake-model"
        yield app


@pytest.fixture
def no_llm(settings):
    settings.COPY_LLM_BASE_URL = settings.COPY_LLM_API_KEY = settings.COPY_LLM_MODEL = ""


def ad_group(org, *, channel="amazon_ads", marketplace="DE", campaign="C-DE", group="G-DE", bid="0.80"):
    account, _ = AdAccount.unscoped_objects.get_or_create(
        organization=org,
        channel=channel,
        external_id=f"A-{marketplace}",
        defaults={"name": f"Account {marketplace}", "marketplace": marketplace, "currency": "EUR"},
    )
    parent, _ = Campaign.unscoped_objects.get_or_create(
        organization=org, ad_account=account, external_id=campaign, defaults={"name": f"Campaign {campaign}"}
    )
    return AdGroup.unscoped_objects.create(
        organization=org,
        campaign=parent,
        external_id=group,
        name=f"Group {group}",
        default_bid=None if bid is None else Decimal(bid),
    )


# --- A/B test plans (pure) ------------------------------------------------------------------------------------


def test_plan_is_the_sample_size_and_the_duration_at_the_slowest_variants_pace():
    # Given a 5 % CTR, a 20 % lift worth detecting and variants getting 400 and 300 impressions a day
    plan = services.experiment_plan(metric="ctr", baseline_rate=0.05, minimum_effect=0.2, daily_units=[400, 300])

    # Then each variant needs the two-proportion sample size, reached in 8158 / 300 = 27.2 -> 28 days
    assert plan == services.ExperimentPlan(
        metric="ctr", per_variant=8158, unit="impressions", daily_units=(400.0, 300.0), days=28
    )
    assert plan.per_variant == sample_size(baseline_rate=0.05, minimum_detectable_effect=0.2, variants=2)
    assert plan.days == duration_days(per_variant=8158, daily_units=300 * 2, variants=2)


def test_plan_of_three_variants_on_revenue_counts_clicks_and_splits_alpha():
    plan = services.experiment_plan(metric="rpc", baseline_rate=0.05, minimum_effect=0.2, daily_units=[100, 100, 50])

    assert (plan.per_variant, plan.unit, plan.days) == (9880, "clicks", 198)  # 9880 / 50 = 197.6


def test_plan_without_traffic_has_no_duration_and_impossible_plans_are_refused():
    assert (
        services.experiment_plan(metric="cvr", baseline_rate=0.1, minimum_effect=0.1, daily_units=[0, 40]).days is None
    )
    with pytest.raises(ValueError):
        services.experiment_plan(metric="cvr", baseline_rate=0.6, minimum_effect=1.0, daily_units=[10, 10])
    with pytest.raises(ValueError):
        services.experiment_plan(metric="clicks", baseline_rate=0.1, minimum_effect=0.1, daily_units=[10, 10])


# --- A/B tests with facts -------------------------------------------------------------------------------------


def _fact(org, **fields):
    return AdFactFactory(organization=org, **fields)


def _winner_facts(org):
    """Three days from START: campaign C-A shows 10 000 impressions a day at a 2 % CTR, ad group G-B of C-B at
    3 %. Rows that must not count: A the day before the start, C-B's own campaign row, another channel."""
    for day in range(3):
        when = START + timedelta(days=day)
        _fact(org, date=when, grain="campaign", campaign_id="C-A", impressions=10_000, clicks=200, orders=10)
        _fact(
            org,
            date=when,
            grain="ad_group",
            campaign_id="C-B",
            ad_group_id="G-B",
            impressions=10_000,
            clicks=300,
            orders=12,
            sales=Decimal("240"),
            cost=Decimal("150"),
        )
    _fact(org, date=START - timedelta(days=1), grain="campaign", campaign_id="C-A", impressions=50_000, clicks=5_000)
    _fact(org, date=START, grain="campaign", campaign_id="C-B", impressions=99_999, clicks=1)
    _fact(org, date=START, grain="campaign", campaign_id="C-A", channel="meta", impressions=99_999, clicks=1)


def _experiment(org, user, *, baseline=0.02, lift=0.2):
    plan = services.experiment_plan(metric="ctr", baseline_rate=baseline, minimum_effect=lift, daily_units=[10, 10])
    return services.experiment_create(
        organization=org,
        actor=user,
        name="Headline test",
        channel="amazon_ads",
        metric="ctr",
        baseline_rate=baseline,
        minimum_effect=lift,
        variants=[
            services.VariantInput(name="A", campaign_id="C-A"),
            services.VariantInput(name="B", campaign_id="C-B", ad_group_id="G-B"),
        ],
        plan=plan,
    )


@pytest.mark.django_db
def test_readout_since_the_start_recommends_the_clear_winner(org):
    # Given a running test whose variant B converts impressions to clicks at 3 % against A's 2 %
    user = UserFactory()
    _winner_facts(org)
    OrganizationFactory()  # another organization's facts never count
    experiment = _experiment(org, user)
    assert (experiment.status, experiment.planned_units, experiment.planned_days) == ("draft", 21109, 2111)
    services.experiment_start(organization=org, actor=user, experiment_id=experiment.pk, today=START)
    experiment.refresh_from_db()
    variants = selectors.experiment_variants(organization=org, experiment=experiment)

    # When read out three days later
    result, totals = selectors.experiment_readout(
        organization=org, experiment=experiment, variants=variants, today=START + timedelta(days=2)
    )

    # Then it counts only each variant's own rows since the start, and says to stop and keep B
    assert [(t["impressions"], t["clicks"], t["orders"]) for t in totals] == [(30_000, 600, 30), (30_000, 900, 36)]
    assert [v.observed for v in result.variants] == [0.02, 0.03]
    assert result.min_units == 21109
    assert result.recommendation == STOP_WINNER
    assert result.winner == "B"
    assert result.variants[1].p_best > 0.99

    stopped = services.experiment_stop(
        organization=org, actor=user, experiment_id=experiment.pk, today=START + timedelta(days=2), winner="B"
    )
    assert (stopped.status, stopped.stopped_on, stopped.winner) == ("stopped", START + timedelta(days=2), "B")
    assert list(AuditEvent.unscoped_objects.filter(organization=org).order_by("pk").values_list("verb", flat=True)) == [
        "campaigns.experiment_created",
        "campaigns.experiment_started",
        "campaigns.experiment_stopped",
    ]


@pytest.mark.django_db
def test_readout_before_the_start_is_none_and_short_tests_need_more_data(org):
    user = UserFactory()
    _winner_facts(org)
    experiment = _experiment(org, user, baseline=0.02, lift=0.05)  # a tiny lift: a huge plan
    variants = selectors.experiment_variants(organization=org, experiment=experiment)
    assert selectors.experiment_readout(organization=org, experiment=experiment, variants=variants, today=START) is None

    services.experiment_start(organization=org, actor=user, experiment_id=experiment.pk, today=START)
    experiment.refresh_from_db()
    result, _totals = selectors.experiment_readout(
        organization=org, experiment=experiment, variants=variants, today=START + timedelta(days=2)
    )
    assert result.recommendation == "need_more_data"
    assert result.winner is None


@pytest.mark.django_db
def test_start_and_stop_follow_the_status_and_variants_are_validated(org):
    user = UserFactory()
    experiment = _experiment(org, user)
    with pytest.raises(services.CreativeError, match="Only a running test can be stopped."):
        services.experiment_stop(organization=org, actor=user, experiment_id=experiment.pk, today=START)
    services.experiment_start(organization=org, actor=user, experiment_id=experiment.pk, today=START)
    with pytest.raises(services.CreativeError, match="Only a draft test can be started."):
        services.experiment_start(organization=org, actor=user, experiment_id=experiment.pk, today=START)

    plan = services.experiment_plan(metric="ctr", baseline_rate=0.02, minimum_effect=0.2, daily_units=[1, 1])
    twice = [services.VariantInput(name="A", campaign_id="C-A"), services.VariantInput(name="B", campaign_id="C-A")]
    with pytest.raises(services.CreativeError, match="Each variant needs its own campaign or ad group."):
        services.experiment_create(
            organization=org,
            actor=user,
            name="Twice",
            channel="amazon_ads",
            metric="ctr",
            baseline_rate=0.02,
            minimum_effect=0.2,
            variants=twice,
            plan=plan,
        )
    assert Experiment.unscoped_objects.filter(organization=org).count() == 1


@pytest.mark.django_db
def test_baseline_and_daily_traffic_come_from_the_last_days(org):
    today = START + timedelta(days=3)
    _winner_facts(org)

    # CTR of the channel's campaign rows in the 30 days before today: (600 + 5000 + 1) / (30000 + 50000 + 99999)
    assert selectors.baseline_rate(organization=org, channel="amazon_ads", metric="ctr", today=today) == pytest.approx(
        5601 / 179_999
    )
    assert selectors.baseline_rate(organization=org, channel="google_ads", metric="ctr", today=today) is None
    daily = selectors.daily_units(
        organization=org, channel="amazon_ads", metric="cvr", variants=[("C-A", ""), ("C-B", "G-B")], today=today
    )
    assert daily == [(600 + 5000) / 14, 900 / 14]


# --- ad copy --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clean_copy_is_saved_as_a_draft_and_approved_after_a_second_check(org):
    user = UserFactory()
    text = {"headline": "Anker Wireless Earbuds", "body": "Meet Wireless Earbuds: 40-hour battery. Shop now."}

    saved = services.copy_save(
        organization=org, actor=user, product="Earbuds", market="US", language="en", channel="meta", provider="", **text
    )
    approval = services.copy_approve(organization=org, actor=user, ad_copy_id=saved.pk)

    verdict = "clean" if ENGINE_INSTALLED else ""
    assert (approval.approved, approval.check.verdict, approval.check.checked) == (True, "clean", ENGINE_INSTALLED)
    saved.refresh_from_db()
    assert (saved.status, saved.approved_by, saved.check_verdict, saved.provider) == (
        "approved",
        user,
        verdict,
        "manual",
    )


@pytest.mark.django_db
@pytest.mark.skipif(ENGINE_INSTALLED, reason="compliance engine installed: every copy is checked")
def test_saved_copy_without_a_rule_engine_is_a_draft_marked_not_checked_and_can_be_approved(org):
    user = UserFactory()

    saved = services.copy_save(
        organization=org,
        actor=user,
        product="Wireless Earbuds",
        market="us",
        language="en",
        channel="google_ads",
        headline="Anker Wireless Earbuds",
        body="Meet Wireless Earbuds: 40-hour battery. Shop now.",
        provider="templates",
    )
    assert (saved.status, saved.check_verdict, saved.check_findings, saved.market) == ("draft", "", [], "US")

    approval = services.copy_approve(organization=org, actor=user, ad_copy_id=saved.pk)

    assert approval.approved is True and approval.check.checked is False
    saved.refresh_from_db()
    assert (saved.status, saved.approved_by, saved.check_verdict) == ("approved", user, "")
    assert list(AuditEvent.unscoped_objects.filter(organization=org).order_by("pk").values_list("verb", flat=True)) == [
        "campaigns.copy_saved",
        "campaigns.copy_approved",
    ]


@pytest.mark.django_db
@pytest.mark.skipif(not ENGINE_INSTALLED, reason="compliance engine not installed")
def test_a_blocked_text_cannot_be_approved(org):
    # Given a text full of claims ad rules forbid everywhere
    text = {"headline": "Cures cancer, 100% guaranteed", "body": "The #1 best miracle cure. Free. Today only!"}
    check = copy_check(text=services.copy_text(**text), markets=["US"], channel="meta", language="en")
    assert check.verdict == "blocked"
    user = UserFactory()

    saved = services.copy_save(
        organization=org, actor=user, product="Pills", market="US", language="en", channel="meta", provider="", **text
    )
    approval = services.copy_approve(organization=org, actor=user, ad_copy_id=saved.pk)

    assert approval.approved is False
    saved.refresh_from_db()
    assert (saved.status, saved.approved_by, saved.check_verdict) == ("blocked", None, "blocked")
    assert saved.check_findings[0]["match"] == "Cures cancer"
    assert AuditEvent.unscoped_objects.filter(organization=org, verb="campaigns.copy_blocked").count() == 1


@pytest.mark.django_db
def test_editing_an_approved_copy_drops_the_approval_and_limits_are_enforced(org):
    user = UserFactory()
    saved = services.copy_save(
        organization=org,
        actor=user,
        product="Lamp",
        market="US",
        language="en",
        channel="google_ads",
        headline="Desk lamp",
        body="A lamp for your desk.",
        provider="templates",
    )
    services.copy_approve(organization=org, actor=user, ad_copy_id=saved.pk)

    same = services.copy_update(
        organization=org, actor=user, ad_copy_id=saved.pk, headline="Desk lamp", body="A lamp for your desk."
    )
    assert (same.status, same.approved_by) == ("approved", user)
    edited = services.copy_update(
        organization=org, actor=user, ad_copy_id=saved.pk, headline="Desk lamp", body="A warm lamp for your desk."
    )
    assert (edited.status, edited.approved_by, edited.body) == ("draft", None, "A warm lamp for your desk.")

    with pytest.raises(services.CreativeError, match="31 characters: this channel allows 30."):
        services.copy_update(organization=org, actor=user, ad_copy_id=saved.pk, headline="x" * 31, body="")
    saved.refresh_from_db()
    assert saved.headline == "Desk lamp"


def test_length_errors_follow_each_channels_limits():
    assert services.copy_length_errors(channel="google_ads", headline="ワイヤレス" * 4, body="ok") == {
        "headline": "40 characters: this channel allows 30."  # double-width characters count two on Google
    }
    assert services.copy_length_errors(channel="tiktok_ads", headline="Title", body="Text") == {
        "headline": "This channel's ads have no headline: leave it empty."
    }
    assert services.copy_length_errors(channel="meta", headline="", body="") == {"headline": "Write the ad text."}
    assert services.copy_length_errors(channel="amazon_ads", headline="Anker earbuds", body="") == {}


@pytest.mark.django_db
def test_generation_offline_uses_the_templates_and_marks_drafts_not_checked(no_llm):
    drafts = services.copy_generate(product=EARBUDS, market="US", language="en", channel="amazon_ads", variants=2)

    assert [(d.draft.headline, d.draft.body, d.draft.provider) for d in drafts] == [
        ("Anker Wireless Earbuds", "", "templates"),
        ("Wireless Earbuds by Anker", "", "templates"),
    ]
    assert [d.check.checked for d in drafts] == [ENGINE_INSTALLED, ENGINE_INSTALLED]


@pytest.mark.django_db
def test_generation_with_the_language_model_retries_a_rate_limit(fake_llm):
    # Given a server that answers the first request with 429 and Retry-After
    fake_llm.faults.add("429", retry_after_ms=10)

    drafts = services.copy_generate(product=EARBUDS, market="DE", language="de", channel="meta", variants=2)

    assert [(d.draft.headline, d.draft.body) for d in drafts] == [
        ("Anker Wireless Earbuds", "Entdecken Sie Wireless Earbuds: 40-hour battery"),
        ("Wireless Earbuds", "Entdecken Sie Wireless Earbuds: 40-hour battery, noise cancelling"),
    ]
    assert {d.draft.provider for d in drafts} == {"openai_compatible:fake-model"}
    assert [r["status"] for r in fake_llm.requests] == [429, 200]


def test_generation_with_a_malformed_answer_is_an_error_the_seller_can_read(fake_llm):
    fake_llm.faults.add("malformed")

    with pytest.raises(CopyProviderError) as caught:
        services.copy_generate(product=EARBUDS, market="US", language="en", channel="meta")

    assert caught.value.code == "malformed"
    assert str(caught.value.user_message) == "The copy service sent an answer that is not usable ad copy. Try again."


# --- keyword localization -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_converting_keywords_are_search_terms_with_orders_in_one_marketplace(org):
    search_term_fact(org, "wireless earbuds", date=START, orders=3, sales=Decimal("90"), clicks=20)
    search_term_fact(org, "wireless earbuds", date=START + timedelta(days=1), orders=1, sales=Decimal("30"))
    search_term_fact(org, "yoga mat", date=START, orders=2, sales=Decimal("50"))
    search_term_fact(org, "cheap cable", date=START, orders=0)
    search_term_fact(org, "handyhülle", date=START, marketplace="DE", orders=5)
    search_term_fact(org, "old term", date=START - timedelta(days=40), orders=9)

    rows = selectors.converting_keywords(
        organization=org, marketplace="US", start=START - timedelta(days=30), end=START + timedelta(days=1)
    )

    assert rows == [
        {"search_term": "wireless earbuds", "orders": 4, "clicks": 30, "sales": 120.0},
        {"search_term": "yoga mat", "orders": 2, "clicks": 10, "sales": 50.0},
    ]
    assert selectors.search_term_marketplaces(organization=org) == ["DE", "US"]


def test_translation_through_the_language_model(fake_llm):
    result = services.keywords_localize(
        keywords=["wireless earbuds", "yoga mat"], source_language="en", target_language="de"
    )

    assert [(r["source"], r["translation"]) for r in result] == [
        ("wireless earbuds", "kabellose ohrhörer"),
        ("yoga mat", "yogamatte"),
    ]
    assert [r["task"] for r in fake_llm.requests] == ["translate_keywords"]


def test_translation_needs_a_language_model(no_llm):
    with pytest.raises(CopyProviderError) as caught:
        services.keywords_localize(keywords=["yoga mat"], source_language="en", target_language="de")
    assert caught.value.code == "needs_provider"


@pytest.mark.django_db
def test_translated_keywords_become_keyword_proposals_in_the_destination(org, fake_llm):
    # Given a German ad group that already has "yogamatte" as an exact keyword
    user = UserFactory()
    group = ad_group(org)
    Target.unscoped_objects.create(
        organization=org, ad_group=group, external_id="T1", text="Yogamatte", match_type="EXACT"
    )
    translations = services.keywords_localize(
        keywords=["wireless earbuds", "yoga mat"], source_language="en", target_language="de"
    )

    # When proposed as exact keywords
    result = services.localized_keywords_propose(
        organization=org,
        actor=user,
        ad_group_id=group.pk,
        keywords=[(t["source"], t["translation"]) for t in translations],
        match_type="EXACT",
        bid=None,
        source_language="en",
        target_language="de",
        source_marketplace="US",
    )

    # Then the new one is a pending keyword proposal at the ad group's bid, and the existing one is left out
    assert (result.proposed.created, result.proposed.skipped) == (1, 0)
    assert result.proposed.run.tool == ToolRun.Tool.MANUAL
    assert [(i.translation, i.reason) for i in result.left_out] == [("yogamatte", "existing")]
    proposal = Proposal.unscoped_objects.get(organization=org)
    assert (
        proposal.kind,
        proposal.status,
        proposal.channel,
        proposal.account_id,
        proposal.marketplace,
        proposal.campaign_id,
        proposal.ad_group_id,
        proposal.ad_group_name,
        proposal.text,
        proposal.match_type,
        proposal.proposed_value,
        proposal.currency,
    ) == (
        "keyword",
        "pending",
        "amazon_ads",
        "A-DE",
        "DE",
        "C-DE",
        "G-DE",
        "Group G-DE",
        "kabellose ohrhörer",
        "EXACT",
        Decimal("0.8000"),
        "EUR",
    )
    assert proposal.evidence["source"] == "wireless earbuds"
    assert proposal.reason == 'Translation of "wireless earbuds", a search term with orders in US.'

    # And proposing again adds nothing twice
    again = services.localized_keywords_propose(
        organization=org,
        actor=user,
        ad_group_id=group.pk,
        keywords=[("wireless earbuds", "kabellose ohrhörer")],
        match_type="EXACT",
        bid=Decimal("1.10"),
        source_language="en",
        target_language="de",
    )
    assert (again.proposed.created, again.proposed.skipped) == (0, 1)
    assert Proposal.unscoped_objects.filter(organization=org).count() == 1


@pytest.mark.django_db
def test_another_organizations_ad_group_is_refused(org, other_org):
    foreign = ad_group(other_org)
    with pytest.raises(services.CreativeError, match="Choose an ad group"):
        services.localized_keywords_propose(
            organization=org,
            actor=None,
            ad_group_id=foreign.pk,
            keywords=[("yoga mat", "yogamatte")],
            match_type="EXACT",
            bid=None,
            source_language="en",
            target_language="de",
        )
    assert not Proposal.unscoped_objects.exists() and not ToolRun.unscoped_objects.exists()


@pytest.mark.django_db
@pytest.mark.skipif(not ENGINE_INSTALLED, reason="compliance engine not installed")
def test_blocked_translations_are_left_out_and_listed(org):
    # Given a German ad group and a translation that claims to cure a disease
    group = ad_group(org, marketplace="DE")

    result = services.localized_keywords_propose(
        organization=org,
        actor=None,
        ad_group_id=group.pk,
        keywords=[("cures cancer", "heilt krebs"), ("yoga mat", "yogamatte")],
        match_type="EXACT",
        bid=None,
        source_language="en",
        target_language="de",
    )

    # Then only the other one becomes a proposal, and the blocked one comes back with the check's findings
    assert [(i.translation, i.reason) for i in result.left_out] == [("heilt krebs", "blocked")]
    assert {f["match"] for f in result.left_out[0].findings} == {"heilt krebs"}
    assert result.checked is True
    assert list(Proposal.unscoped_objects.values_list("text", flat=True)) == ["yogamatte"]

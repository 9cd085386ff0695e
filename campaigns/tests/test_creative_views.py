"""Creative pages: A/B tests (list, plan, create, start, stop, readout), ad copy (generate offline and through
the fake language model, check, save, inline edit, approve) and keyword localization; full pages, HTMX
partials, other-organization 404s, roles that may not write, and query counts of the list pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent, Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, member
from analytics.query import today_in
from analytics.tests.factories import AdFactFactory
from campaigns.copy import checks
from campaigns.copy.fake_llm import DEFAULT_API_KEY, make_app
from campaigns.models import AdAccount, AdCopy, AdGroup, Campaign, Experiment, ExperimentVariant, Proposal
from campaigns.tests.factories import search_term_fact
from config.testing import serve_wsgi

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
ENGINE_INSTALLED = checks._engine() is not None  # the compliance app provides the rule engine
VERDICT = (
    "Passed the compliance check" if ENGINE_INSTALLED else "Not checked yet: no compliance rule engine is installed"
)


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


@pytest.fixture
def fake_llm(settings):
    app = make_app()
    with serve_wsgi(app) as base:
        settings.COPY_LLM_BASE_URL = f"{base}/v1"
        settings.COPY_LLM_API_KEY = DEFAULT_API_KEY
        settings.COPY_LLM_MODEL = "fake-model"
        yield app


@pytest.fixture
def no_llm(settings):
    settings.COPY_LLM_BASE_URL = settings.COPY_LLM_API_KEY = settings.COPY_LLM_MODEL = ""


def campaigns_of(org, *, channel="amazon_ads", marketplace="US"):
    """Campaign C-A (with ad group G-A) and campaign C-B (with ad group G-B) in one ad account."""
    account = AdAccount.unscoped_objects.create(
        organization=org,
        channel=channel,
        external_id=f"ACC-{marketplace}",
        name="Account",
        marketplace=marketplace,
        currency="USD",
    )
    groups = {}
    for key in ("A", "B"):
        campaign = Campaign.unscoped_objects.create(
            organization=org, ad_account=account, external_id=f"C-{key}", name=f"Campaign {key}"
        )
        groups[key] = AdGroup.unscoped_objects.create(
            organization=org, campaign=campaign, external_id=f"G-{key}", name=f"Group {key}", default_bid=Decimal("1")
        )
    return groups


def experiment_of(org, *, status="draft", name="Headline test", started_on=None, planned_units=21109):
    experiment = Experiment.unscoped_objects.create(
        organization=org,
        name=name,
        channel="amazon_ads",
        metric="ctr",
        baseline_rate=Decimal("0.02"),
        minimum_effect=Decimal("0.2"),
        planned_units=planned_units,
        planned_days=30,
        status=status,
        started_on=started_on,
    )
    for position, key in enumerate("AB"):
        ExperimentVariant.unscoped_objects.create(
            organization=org, experiment=experiment, name=key, position=position, campaign_id=f"C-{key}"
        )
    return experiment


def ad_copy_of(org, **fields):
    values = {
        "product": "Desk lamp",
        "market": "US",
        "language": "en",
        "channel": "google_ads",
        "headline": "Desk lamp",
        "body": "A lamp for your desk.",
        "provider": "templates",
        **fields,
    }
    return AdCopy.unscoped_objects.create(organization=org, **values)


# --- A/B tests ------------------------------------------------------------------------------------------------


def test_tests_list_full_page_and_partial(owner_client, org):
    experiment_of(org, name="Running one", status="running", started_on=today_in("UTC"))
    experiment_of(org, name="Draft one")

    page = owner_client.get(url("creative_tests", org))
    body = page.content.decode()
    assert page.status_code == 200
    assert "<html" in body and 'id="experiment-list"' in body and "New test" in body
    assert [row["experiment"].name for row in page.context_data["rows"]] == ["Draft one", "Running one"]
    assert [row["experiment"].variant_count for row in page.context_data["rows"]] == [2, 2]

    partial = owner_client.get(url("creative_tests", org), {"status": "running"}, headers=HX)
    assert partial.content.decode().lstrip().startswith('<div id="experiment-list"')
    assert "<html" not in partial.content.decode()
    assert [row["experiment"].name for row in partial.context_data["rows"]] == ["Running one"]
    assert "HX-Request" in partial["Vary"]


def test_new_test_form_prefills_the_baseline_and_shows_the_plan(owner_client, org):
    # Given 30 days of amazon_ads campaign facts at a 2 % CTR, and 100 impressions a day in each campaign
    campaigns_of(org)
    today = today_in(org.time_zone)
    AdFactFactory(
        organization=org, date=today - timedelta(days=20), campaign_id="C-Z", impressions=100_000, clicks=2_000
    )
    for key in "AB":
        AdFactFactory(
            organization=org, date=today - timedelta(days=3), campaign_id=f"C-{key}", impressions=1_400, clicks=28
        )

    # When the seller picks two campaigns (HTMX asks for the plan on every change)
    response = owner_client.get(
        url("creative_test_new", org),
        {"channel": "amazon_ads", "metric": "ctr", "variant_1": "", "variant_2": "", "minimum_effect": "20"},
        headers=HX,
    )
    form = response.context_data["form"]
    assert form["baseline_rate"].value() == "2"  # (2 000 + 56) / (100 000 + 2 800) = 2.0 %
    a, b = AdGroup.unscoped_objects.get(external_id="G-A"), AdGroup.unscoped_objects.get(external_id="G-B")
    assert form.fields["variant_1"].choices == [
        ("", "---------"),
        ("Campaign A", [(f"campaign:{a.campaign_id}", "Whole campaign (C-A)"), (f"ad_group:{a.pk}", "Group A (G-A)")]),
        ("Campaign B", [(f"campaign:{b.campaign_id}", "Whole campaign (C-B)"), (f"ad_group:{b.pk}", "Group B (G-B)")]),
    ]
    plan = owner_client.get(
        url("creative_test_new", org),
        {
            "channel": "amazon_ads",
            "metric": "ctr",
            "baseline_rate": "2",
            "baseline_for": "amazon_ads:ctr",
            "minimum_effect": "20",
            "variant_1": f"campaign:{a.campaign_id}",
            "variant_2": f"campaign:{b.campaign_id}",
        },
        headers=HX,
    )
    body = plan.content.decode()

    # Then the plan is the sample size for 2 % and +20 %, at 100 impressions a day per variant
    assert plan.status_code == 200 and body.lstrip().startswith('<section class="card" id="test-form"')
    assert plan.context_data["plan"]["per_variant"] == 21109
    assert plan.context_data["plan"]["days"] == 212  # 21109 / 100 per day
    assert "21,109" in body and "212 days" in body


def test_a_typed_baseline_stays_and_a_new_metric_refills_it(owner_client, org):
    campaigns_of(org)
    today = today_in(org.time_zone)
    AdFactFactory(organization=org, date=today - timedelta(days=2), impressions=1000, clicks=50, orders=5)
    typed = owner_client.get(
        url("creative_test_new", org),
        {"channel": "amazon_ads", "metric": "ctr", "baseline_rate": "7", "baseline_for": "amazon_ads:ctr"},
        headers=HX,
    )
    assert typed.context_data["form"]["baseline_rate"].value() == "7"
    refilled = owner_client.get(
        url("creative_test_new", org),
        {"channel": "amazon_ads", "metric": "cvr", "baseline_rate": "7", "baseline_for": "amazon_ads:ctr"},
        headers=HX,
    )
    assert refilled.context_data["form"]["baseline_rate"].value() == "10"  # 5 orders / 50 clicks


def test_create_a_test_then_start_and_stop_it(client, org):
    groups = campaigns_of(org)
    marketer = member(org, Role.MARKETER)
    client.force_login(marketer)
    new = url("creative_test_new", org)
    response = client.post(
        new,
        {
            "name": "Headline test",
            "channel": "amazon_ads",
            "metric": "ctr",
            "baseline_rate": "2",
            "minimum_effect": "20",
            "variant_1": f"campaign:{groups['A'].campaign_id}",
            "variant_2": f"ad_group:{groups['B'].pk}",
            "variant_2_name": "New image",
        },
        headers=HX,
    )
    experiment = Experiment.unscoped_objects.get(organization=org)
    assert response.status_code == 204
    assert response["HX-Redirect"] == url("creative_test_detail", org, experiment_id=experiment.pk)
    assert (experiment.status, experiment.planned_units, experiment.planned_days) == ("draft", 21109, None)
    assert list(
        ExperimentVariant.unscoped_objects.filter(experiment=experiment)
        .order_by("position")
        .values_list("name", "campaign_id", "ad_group_id")
    ) == [
        ("A", "C-A", ""),
        ("New image", "C-B", "G-B"),
    ]

    detail = client.get(response["HX-Redirect"])
    assert "The readout appears once the test is started." in detail.content.decode()
    assert "Start the test" in detail.content.decode()

    client.post(url("creative_test_start", org, experiment_id=experiment.pk), headers=HX)
    experiment.refresh_from_db()
    assert (experiment.status, experiment.started_on) == ("running", today_in(org.time_zone))

    stop = client.post(url("creative_test_stop", org, experiment_id=experiment.pk))
    assert stop.status_code == 302
    experiment.refresh_from_db()
    assert (experiment.status, experiment.winner) == ("stopped", "")
    assert "The test is stopped without a clear winner." in client.get(stop["Location"]).content.decode()


def test_invalid_test_shows_the_form_again(owner_client, org):
    groups = campaigns_of(org)
    data = {
        "name": "Overlap",
        "channel": "amazon_ads",
        "metric": "ctr",
        "baseline_rate": "2",
        "minimum_effect": "20",
        "variant_1": f"campaign:{groups['A'].campaign_id}",
        "variant_2": f"ad_group:{groups['A'].pk}",
    }
    response = owner_client.post(url("creative_test_new", org), data, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<section class="card" id="test-form"')
    assert "A campaign and one of its own ad groups share traffic: choose one or the other." in body
    plain = owner_client.post(url("creative_test_new", org), {**data, "baseline_rate": "90", "variant_2": ""})
    assert plain.status_code == 400 and "<html" in plain.content.decode()
    assert "The baseline rate raised by this lift would reach 100%" in plain.content.decode()
    assert not Experiment.unscoped_objects.exists()


def test_detail_shows_the_bayesian_readout_and_never_a_p_value(owner_client, org):
    today = today_in(org.time_zone)
    experiment = experiment_of(org, status="running", started_on=today - timedelta(days=2))
    for day in range(3):
        when = today - timedelta(days=day)
        AdFactFactory(organization=org, date=when, campaign_id="C-A", impressions=10_000, clicks=200)
        AdFactFactory(organization=org, date=when, campaign_id="C-B", impressions=10_000, clicks=300)

    page = owner_client.get(url("creative_test_detail", org, experiment_id=experiment.pk))
    body = page.content.decode()
    readout = page.context_data["readout"]
    assert page.status_code == 200 and "<html" in body
    assert readout["recommendation"] == "stop_winner"
    assert [(r["name"], r["units"], r["observed"], r["winner"]) for r in readout["rows"]] == [
        ("A", 30000, "2.00%", False),
        ("B", 30000, "3.00%", True),
    ]
    assert readout["rows"][0]["lift"] == "" and readout["rows"][1]["lift"].startswith("+")
    assert "Stop the test and keep B" in body and "Chance of being best" in body and "Expected loss" in body
    assert "not p-values" in body and "You can look every day" in body
    assert "p =" not in body and "p<" not in body and "significant" not in body

    partial = owner_client.get(url("creative_test_detail", org, experiment_id=experiment.pk), headers=HX)
    assert partial.content.decode().lstrip().startswith('<section class="card" id="experiment-readout"')

    stop = owner_client.post(url("creative_test_stop", org, experiment_id=experiment.pk), headers=HX)
    assert stop.status_code == 204
    experiment.refresh_from_db()
    assert (experiment.status, experiment.winner) == ("stopped", "B")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_that_only_view_cannot_create_start_or_stop(client, org, role):
    groups = campaigns_of(org)
    experiment = experiment_of(org)
    client.force_login(member(org, role))
    assert client.get(url("creative_tests", org)).status_code == 200
    assert "New test" not in client.get(url("creative_tests", org)).content.decode()
    detail = client.get(url("creative_test_detail", org, experiment_id=experiment.pk)).content.decode()
    assert "Start the test" not in detail
    data = {
        "name": "X",
        "channel": "amazon_ads",
        "metric": "ctr",
        "baseline_rate": "2",
        "minimum_effect": "20",
        "variant_1": f"ad_group:{groups['A'].pk}",
        "variant_2": f"ad_group:{groups['B'].pk}",
    }
    assert client.post(url("creative_test_new", org), data).status_code == 403
    assert client.post(url("creative_test_start", org, experiment_id=experiment.pk)).status_code == 403
    assert client.post(url("creative_test_stop", org, experiment_id=experiment.pk)).status_code == 403
    experiment.refresh_from_db()
    assert experiment.status == "draft" and Experiment.unscoped_objects.count() == 1
    assert not AuditEvent.unscoped_objects.filter(organization=org).exists()


def test_another_organizations_test_and_copy_are_404(client, org, other_org):
    theirs = experiment_of(other_org, status="running", started_on=today_in("UTC"))
    their_copy = ad_copy_of(other_org)
    client.force_login(member(org, Role.OWNER))
    assert client.get(url("creative_test_detail", org, experiment_id=theirs.pk)).status_code == 404
    assert client.get(url("creative_test_detail", org, experiment_id=theirs.pk), headers=HX).status_code == 404
    assert client.post(url("creative_test_stop", org, experiment_id=theirs.pk)).status_code == 404
    assert client.get(url("creative_copy_edit", org, ad_copy_id=their_copy.pk), headers=HX).status_code == 404
    edit = {"headline": "Hijacked", "body": ""}
    assert client.post(url("creative_copy_edit", org, ad_copy_id=their_copy.pk), edit).status_code == 404
    assert client.post(url("creative_copy_approve", org, ad_copy_id=their_copy.pk)).status_code == 404
    assert client.get(url("creative_tests", other_org)).status_code == 404
    theirs.refresh_from_db()
    their_copy.refresh_from_db()
    assert theirs.status == "running" and (their_copy.headline, their_copy.status) == ("Desk lamp", "draft")


# --- ad copy --------------------------------------------------------------------------------------------------

BRIEF = {
    "title": "Wireless Earbuds",
    "brand": "Anker",
    "features": "40-hour battery\nnoise cancelling\n",
    "audience": "",
    "market": "US",
    "language": "en",
    "channel": "meta",
    "tone": "neutral",
}


def test_copy_page_full_and_partial(owner_client, org):
    ad_copy_of(org, headline="Saved lamp")
    page = owner_client.get(url("creative_copy", org))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="copy-generator"' in body and 'id="copy-list"' in body and "Saved lamp" in body
    partial = owner_client.get(url("creative_copy", org), {"status": "approved"}, headers=HX)
    assert partial.content.decode().lstrip().startswith('<section class="card" id="copy-list"')
    assert "Saved lamp" not in partial.content.decode()


def test_generate_offline_shows_drafts_with_their_check(owner_client, org, no_llm):
    response = owner_client.post(url("creative_copy_generate", org), BRIEF, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section class="card" id="copy-generator"')
    assert body.count('id="draft-') == 3
    assert 'value="Anker Wireless Earbuds"' in body
    assert body.count(VERDICT) == 3


def test_generate_with_the_language_model_after_a_rate_limit(owner_client, org, fake_llm):
    fake_llm.faults.add("429", retry_after_ms=10)
    response = owner_client.post(url("creative_copy_generate", org), {**BRIEF, "language": "de"}, headers=HX)
    body = response.content.decode()
    assert "Entdecken Sie Wireless Earbuds: 40-hour battery" in body
    assert 'value="openai_compatible:fake-model"' in body
    assert [r["status"] for r in fake_llm.requests] == [429, 200]


def test_generate_with_a_malformed_answer_shows_the_message(owner_client, org, fake_llm):
    fake_llm.faults.add("malformed")
    response = owner_client.post(url("creative_copy_generate", org), BRIEF, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "The copy service sent an answer that is not usable ad copy. Try again." in body
    assert 'id="draft-' not in body and not AdCopy.unscoped_objects.exists()


def test_check_save_edit_and_approve_a_draft(client, org):
    marketer = member(org, Role.MARKETER)
    client.force_login(marketer)
    draft = {
        "index": "2",
        "d2-headline": "Anker  Wireless Earbuds",
        "d2-body": "Meet Wireless Earbuds.",
        "d2-product": "Wireless Earbuds",
        "d2-market": "US",
        "d2-language": "en",
        "d2-channel": "meta",
        "d2-provider": "templates",
    }
    checked = client.post(url("creative_copy_check", org), draft, headers=HX)
    assert checked.content.decode().lstrip().startswith('<form class="card" id="draft-2"')
    assert not AdCopy.unscoped_objects.exists()

    saved = client.post(url("creative_copy_save", org), draft, headers=HX)
    body = saved.content.decode()
    ad_copy = AdCopy.unscoped_objects.get(organization=org)
    assert (ad_copy.headline, ad_copy.body, ad_copy.status, ad_copy.provider) == (
        "Anker Wireless Earbuds",
        "Meet Wireless Earbuds.",
        "draft",
        "templates",
    )
    assert body.lstrip().startswith('<div class="card" id="draft-2">')
    assert 'id="copy-list" hx-target="this" hx-swap="outerHTML" hx-swap-oob="true"' in body
    assert f'id="copy-{ad_copy.pk}"' in body

    form = client.get(url("creative_copy_edit", org, ad_copy_id=ad_copy.pk), headers=HX)
    assert form.content.decode().lstrip().startswith(f'<tr id="copy-{ad_copy.pk}" class="editing"')
    too_long = client.post(
        url("creative_copy_edit", org, ad_copy_id=ad_copy.pk), {"headline": "x" * 41, "body": "ok"}, headers=HX
    )
    assert "41 characters: this channel allows 40." in too_long.content.decode()
    edited = client.post(
        url("creative_copy_edit", org, ad_copy_id=ad_copy.pk), {"headline": "Anker Earbuds", "body": "ok"}, headers=HX
    )
    assert edited.content.decode().lstrip().startswith(f'<tr id="copy-{ad_copy.pk}" hx-target')
    ad_copy.refresh_from_db()
    assert (ad_copy.headline, ad_copy.body) == ("Anker Earbuds", "ok")

    approved = client.post(url("creative_copy_approve", org, ad_copy_id=ad_copy.pk), headers=HX)
    ad_copy.refresh_from_db()
    assert (ad_copy.status, ad_copy.approved_by) == ("approved", marketer)
    notice = "Approved." if ENGINE_INSTALLED else "Approved without a compliance check: no rule engine is installed."
    assert notice in approved.content.decode() and VERDICT in approved.content.decode()
    cancel = client.get(url("creative_copy_row", org, ad_copy_id=ad_copy.pk), headers=HX)
    assert cancel.content.decode().lstrip().startswith(f'<tr id="copy-{ad_copy.pk}" hx-target')


def test_without_javascript_saving_redirects_and_editing_shows_the_page(owner_client, org):
    draft = {
        "index": "1",
        "d1-headline": "Desk lamp",
        "d1-body": "",
        "d1-product": "Lamp",
        "d1-market": "US",
        "d1-language": "en",
        "d1-channel": "amazon_ads",
        "d1-provider": "templates",
    }
    saved = owner_client.post(url("creative_copy_save", org), draft)
    assert saved.status_code == 302 and saved["Location"] == url("creative_copy", org)
    ad_copy = AdCopy.unscoped_objects.get(organization=org)
    page = owner_client.get(url("creative_copy_edit", org, ad_copy_id=ad_copy.pk))
    assert page.status_code == 200 and "<html" in page.content.decode() and 'class="editing"' in page.content.decode()


@pytest.mark.skipif(not ENGINE_INSTALLED, reason="compliance engine not installed")
def test_a_blocked_copy_is_saved_blocked_with_its_findings_and_approval_is_refused(owner_client, org):
    draft = {
        "index": "1",
        "d1-headline": "Cures cancer",
        "d1-body": "Our tea for your health.",
        "d1-product": "Tea",
        "d1-market": "US",
        "d1-language": "en",
        "d1-channel": "meta",
        "d1-provider": "",
    }
    checked = owner_client.post(url("creative_copy_check", org), draft, headers=HX).content.decode()
    assert "Blocked by the compliance check" in checked and "<mark>Cures cancer</mark>" in checked

    owner_client.post(url("creative_copy_save", org), draft, headers=HX)
    ad_copy = AdCopy.unscoped_objects.get(organization=org)
    assert (ad_copy.status, ad_copy.check_verdict) == ("blocked", "blocked")

    refused = owner_client.post(url("creative_copy_approve", org, ad_copy_id=ad_copy.pk), headers=HX).content.decode()
    assert "Not approved: the compliance check blocks this text. Edit it and try again." in refused
    assert "<mark>Cures cancer</mark>" in refused
    ad_copy.refresh_from_db()
    assert (ad_copy.status, ad_copy.approved_by) == ("blocked", None)

    owner_client.post(
        url("creative_copy_edit", org, ad_copy_id=ad_copy.pk), {"headline": "Herbal tea", "body": "ok"}, headers=HX
    )
    owner_client.post(url("creative_copy_approve", org, ad_copy_id=ad_copy.pk), headers=HX)
    ad_copy.refresh_from_db()
    assert (ad_copy.status, ad_copy.check_verdict) == ("approved", "clean")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_that_only_view_cannot_write_copy(client, org, role, no_llm):
    ad_copy = ad_copy_of(org)
    client.force_login(member(org, role))
    page = client.get(url("creative_copy", org)).content.decode()
    assert 'id="copy-generator"' not in page and "/approve/" not in page and "/edit/" not in page
    assert client.post(url("creative_copy_generate", org), BRIEF).status_code == 403
    draft = {
        "index": "1",
        "d1-headline": "X",
        "d1-product": "X",
        "d1-market": "US",
        "d1-language": "en",
        "d1-channel": "meta",
    }
    assert client.post(url("creative_copy_save", org), draft).status_code == 403
    assert client.post(url("creative_copy_edit", org, ad_copy_id=ad_copy.pk), {"headline": "X"}).status_code == 403
    assert client.post(url("creative_copy_approve", org, ad_copy_id=ad_copy.pk), headers=HX).status_code == 403
    ad_copy.refresh_from_db()
    assert (ad_copy.headline, ad_copy.status, AdCopy.unscoped_objects.count()) == ("Desk lamp", "draft", 1)
    assert not AuditEvent.unscoped_objects.filter(organization=org).exists()


# --- keyword localization -------------------------------------------------------------------------------------


@pytest.fixture
def converting(org):
    today = today_in(org.time_zone)
    search_term_fact(org, "wireless earbuds", date=today - timedelta(days=3), orders=4, sales=Decimal("120"))
    search_term_fact(org, "yoga mat", date=today - timedelta(days=3), orders=2, sales=Decimal("40"))
    search_term_fact(org, "cheap cable", date=today - timedelta(days=3), orders=0)
    return campaigns_of(org, marketplace="DE")


def test_localize_page_lists_converting_search_terms(owner_client, org, converting):
    page = owner_client.get(url("creative_localize", org))
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert [k["search_term"] for k in page.context_data["keywords"]] == ["wireless earbuds", "yoga mat"]
    assert 'value="wireless earbuds"' in body and "cheap cable" not in body
    partial = owner_client.get(url("creative_localize", org), {"source_marketplace": "US", "days": "30"}, headers=HX)
    assert partial.content.decode().lstrip().startswith('<div id="localize-keywords"')


def test_translate_without_a_language_model_says_what_is_needed(owner_client, org, converting, no_llm):
    data = {
        "source_marketplace": "US",
        "days": "90",
        "keyword": ["yoga mat"],
        "source_language": "en",
        "target_marketplace": "DE",
        "target_language": "",
    }
    response = owner_client.post(url("creative_localize_translate", org), data, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="localizer"')
    assert "Translating keywords needs a copy provider" in body


def test_translate_then_propose_creates_keyword_proposals(owner_client, org, converting, fake_llm):
    data = {
        "source_marketplace": "US",
        "days": "90",
        "keyword": ["wireless earbuds", "yoga mat"],
        "pasted": "phone case\n",
        "source_language": "en",
        "target_marketplace": "DE",
        "target_language": "",
    }
    translated = owner_client.post(url("creative_localize_translate", org), data, headers=HX)
    rows = translated.context_data["result"]["rows"]
    assert [(r["source"], r["translation"]) for r in rows] == [
        ("wireless earbuds", "kabellose ohrhörer"),
        ("yoga mat", "yogamatte"),
        ("phone case", "handyhülle"),
    ]
    assert 'value="kabellose ohrhörer"' in translated.content.decode()

    propose = {
        "destination": str(converting["B"].pk),
        "match_type": "PHRASE",
        "bid": "",
        "source_language": "en",
        "target_language": "de",
        "target_marketplace": "DE",
        "source_marketplace": "US",
        "source_0": "wireless earbuds",
        "translation_0": "kabellose ohrhörer",
        "source_1": "yoga mat",
        "translation_1": "Yogamatte  rutschfest",
        "source_2": "phone case",
        "translation_2": "handyhülle",
        "include": ["0", "1"],
    }
    done = owner_client.post(url("creative_localize_propose", org), propose, headers=HX)
    body = done.content.decode()
    assert done.status_code == 200 and body.lstrip().startswith('<section class="card" id="localize-result"')
    assert "2 keywords proposed." in body and "Review them on the Changes page" in body
    assert sorted(
        Proposal.unscoped_objects.filter(organization=org).values_list(
            "kind", "text", "match_type", "campaign_id", "ad_group_id", "marketplace", "proposed_value"
        )
    ) == [
        ("keyword", "Yogamatte rutschfest", "PHRASE", "C-B", "G-B", "DE", Decimal("1.0000")),
        ("keyword", "kabellose ohrhörer", "PHRASE", "C-B", "G-B", "DE", Decimal("1.0000")),
    ]


@pytest.mark.skipif(not ENGINE_INSTALLED, reason="compliance engine not installed")
def test_blocked_translations_are_listed_and_not_proposed(owner_client, org, converting):
    propose = {
        "destination": str(converting["A"].pk),
        "match_type": "EXACT",
        "source_language": "en",
        "target_language": "de",
        "target_marketplace": "DE",
        "source_0": "cures cancer",
        "translation_0": "heilt krebs",
        "source_1": "yoga mat",
        "translation_1": "yogamatte",
        "include": ["0", "1"],
    }
    body = owner_client.post(url("creative_localize_propose", org), propose, headers=HX).content.decode()
    assert "1 keyword proposed." in body
    assert "Left out: blocked by the compliance check" in body and "<mark>heilt krebs</mark>" in body
    assert list(Proposal.unscoped_objects.values_list("text", flat=True)) == ["yogamatte"]


def test_propose_into_another_organizations_ad_group_is_refused(owner_client, org, other_org, converting):
    theirs = campaigns_of(other_org, marketplace="DE")
    propose = {
        "destination": str(theirs["A"].pk),
        "match_type": "EXACT",
        "source_language": "en",
        "target_language": "de",
        "target_marketplace": "DE",
        "source_0": "yoga mat",
        "translation_0": "yogamatte",
        "include": ["0"],
    }
    response = owner_client.post(url("creative_localize_propose", org), propose)
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert not Proposal.unscoped_objects.exists()


def test_viewer_cannot_translate_or_propose(client, org, converting, fake_llm):
    client.force_login(member(org, Role.VIEWER))
    page = client.get(url("creative_localize", org)).content.decode()
    assert "Your role can see converting search terms but not translate or propose keywords." in page
    data = {"keyword": ["yoga mat"], "source_language": "en", "target_marketplace": "DE"}
    assert client.post(url("creative_localize_translate", org), data).status_code == 403
    propose = {
        "destination": str(converting["A"].pk),
        "match_type": "EXACT",
        "source_language": "en",
        "target_language": "de",
        "target_marketplace": "DE",
        "source_0": "yoga mat",
        "translation_0": "yogamatte",
        "include": ["0"],
    }
    assert client.post(url("creative_localize_propose", org), propose).status_code == 403
    assert fake_llm.requests == [] and not Proposal.unscoped_objects.exists()


# --- query counts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["creative_tests", "creative_copy"])
def test_list_pages_query_count_does_not_grow_with_rows(client, org, page):
    other = OrganizationFactory()
    user = member(org, Role.OWNER)
    MembershipFactory(organization=other, user=user, role=Role.OWNER)
    client.force_login(user)
    for organization, count in ((org, 3), (other, 30)):
        for number in range(count):
            experiment_of(organization, name=f"Test {number}", status="stopped")
            ad_copy_of(organization, headline=f"Lamp {number}", status="approved", approved_by=user)
    counts = []
    for organization in (org, other):
        client.get(url(page, organization))  # warm the membership and session caches
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(page, organization))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 8

"""Keywords page: the search-term table (sorting, search, paging), the n-gram tab, the keywords in place, the HTMX
partials, and the tool forms that propose changes and send the seller to the Changes page; tenancy, roles and query
counts."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Organization, Role
from accounts.tests.factories import MembershipFactory, OrganizationFactory, member
from campaigns.models import AdAccount, AdGroup, AdvertisedProduct, Campaign, Proposal, Target, ToolRun
from campaigns.tests.factories import search_term_fact

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
NOV1, NOV2 = date(2026, 11, 1), date(2026, 11, 2)
WINDOW = {"range": "custom", "start": "2026-11-01", "end": "2026-11-30"}


def url(name, org):
    return reverse(name, kwargs={"org_slug": org.slug})


@pytest.fixture
def facts(org):
    """ "desk lamp" sold 4 times in 24 clicks across ad groups G1 (automatic) and G2 (broad "lamp"); three "cheap"
    terms took 6 clicks and 3.00 with no order; "floor lamp" sold once."""
    search_term_fact(org, "desk lamp", date=NOV1, clicks=10, cost=Decimal("5"), orders=2, sales=Decimal("60"))
    search_term_fact(org, "desk lamp", date=NOV2, clicks=10, cost=Decimal("5"), orders=1, sales=Decimal("30"))
    search_term_fact(
        org,
        "desk lamp",
        date=NOV1,
        ad_group_id="G2",
        ad_group_name="Lamps broad",
        target_id="T2",
        target_text="lamp",
        match_type="BROAD",
        clicks=4,
        cost=Decimal("2"),
        orders=1,
        sales=Decimal("30"),
    )
    for term in ("cheap lamp shade", "cheap bulb", "cheap cord"):
        search_term_fact(org, term, date=NOV1, clicks=2, cost=Decimal("1"))
    search_term_fact(org, "floor lamp", date=NOV1, clicks=3, cost=Decimal("1.50"), orders=1, sales=Decimal("25"))


def terms_in(response):
    return [(row["search_term"], row["ad_group_id"]) for row in response.context_data["table"].rows]


def test_full_page_shows_the_filters_the_tools_and_the_search_terms(owner_client, org, facts):
    response = owner_client.get(url("keywords", org), WINDOW)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="filter-bar"' in body and 'id="tool-forms"' in body and 'id="keyword-tab"' in body
    assert "Harvest converting terms" in body and "Find negatives" in body
    assert terms_in(response) == [
        ("desk lamp", "G1"),
        ("desk lamp", "G2"),
        ("floor lamp", "G1"),
        ("cheap bulb", "G1"),
        ("cheap cord", "G1"),
        ("cheap lamp shade", "G1"),
    ]  # spend descending, then the row keys
    first = response.context_data["table"].rows[0]
    assert (first["clicks"], first["spend"], first["orders"], first["sales"]) == (20, Decimal("10"), 3, Decimal("90"))
    assert (first["acos"], round(first["cvr"], 4)) == (pytest.approx(10 / 90), 0.15)
    assert "$10.00" in body and "11.1%" in body  # spend, ACoS of desk lamp in G1
    assert response.context_data["table"].rows[3]["acos"] is None  # no sales: no ACoS, never 0


def test_htmx_request_gets_only_the_tab(owner_client, org, facts):
    response = owner_client.get(url("keywords", org), {**WINDOW, "sort": "term"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="keyword-tab"')
    assert "<html" not in body and 'id="tool-forms"' not in body
    assert "HX-Request" in response["Vary"]
    assert [term for term, _group in terms_in(response)][:3] == ["cheap bulb", "cheap cord", "cheap lamp shade"]


def test_search_sort_and_paging(owner_client, org, facts, monkeypatch):
    response = owner_client.get(url("keywords", org), {**WINDOW, "q": "DESK", "sort": "clicks"})
    assert terms_in(response) == [("desk lamp", "G2"), ("desk lamp", "G1")]
    assert response.context_data["table"].total_rows == 2
    page2 = owner_client.get(url("keywords", org), {**WINDOW, "page": "2"})
    assert terms_in(page2) == [] and page2.context_data["table"].total_rows == 6  # past the end: counted, not failed
    channel = owner_client.get(url("keywords", org), {**WINDOW, "channel": "meta"})
    assert terms_in(channel) == []


def test_ngram_tab_highlights_wasted_roots(owner_client, org, facts):
    response = owner_client.get(url("keywords", org), {**WINDOW, "tab": "ngrams"}, headers=HX)
    assert response.status_code == 200
    rows = {row["ngram"]: row for row in response.context_data["ngrams"]}
    assert (rows["cheap"]["terms"], rows["cheap"]["clicks"], rows["cheap"]["orders"]) == (3, 6, 0)
    assert rows["cheap"]["wasted"] is True
    assert rows["lamp"]["wasted"] is False  # sold
    assert (rows["lamp"]["terms"], rows["lamp"]["orders"]) == (3, 5)
    body = response.content.decode()
    assert body.count('class="row-wasted"') == 1
    two = owner_client.get(url("keywords", org), {**WINDOW, "tab": "ngrams", "n": "2"}, headers=HX)
    assert {row["ngram"] for row in two.context_data["ngrams"]} == {
        "desk lamp",
        "cheap lamp",
        "lamp shade",
        "floor lamp",
        "cheap bulb",
        "cheap cord",
    }
    assert all(row["n"] == 2 for row in two.context_data["ngrams"])


def test_another_organizations_keywords_are_404(client, org, facts):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url("keywords", org), WINDOW).status_code == 404
    assert client.post(url("keywords_harvest", org), WINDOW).status_code == 404
    assert not ToolRun.unscoped_objects.exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_roles_without_edit_campaigns_see_the_page_but_cannot_run_tools(client, org, facts, role):
    client.force_login(member(org, role))
    page = client.get(url("keywords", org), WINDOW)
    assert page.status_code == 200
    assert 'id="tool-forms"' in page.content.decode() and "Harvest converting terms" not in page.content.decode()
    assert 'name="term"' not in page.content.decode()
    assert client.post(url("keywords_harvest", org), WINDOW).status_code == 403
    assert client.post(url("keywords_negatives", org), WINDOW).status_code == 403
    assert not ToolRun.unscoped_objects.exists() and not Proposal.unscoped_objects.exists()


def test_harvest_post_proposes_and_redirects_to_the_run(owner_client, org, facts):
    response = owner_client.post(url("keywords_harvest", org), {**WINDOW, "min_orders": "2"}, headers=HX)
    run = ToolRun.unscoped_objects.get(organization=org)
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{url('changes', org)}?run={run.pk}"
    assert sorted(Proposal.unscoped_objects.filter(run=run).values_list("kind", "text", "ad_group_id")) == [
        ("keyword", "desk lamp", "G1"),
        ("negative", "desk lamp", "G2"),
    ]
    page = owner_client.get(response["HX-Redirect"])
    assert "2 changes proposed; 0 already had an open proposal and were not added again." in page.content.decode()

    again = owner_client.post(url("keywords_harvest", org), WINDOW)  # without JavaScript: a plain redirect
    assert again.status_code == 302
    assert Proposal.unscoped_objects.filter(organization=org).count() == 2
    page = owner_client.get(again["Location"])
    assert "0 changes proposed; 2 already had an open proposal and were not added again." in page.content.decode()


def test_harvest_selected_rows_only(owner_client, org, facts):
    chosen = json.dumps(["amazon_ads", "A1", "C1", "floor lamp"])
    response = owner_client.post(
        url("keywords_harvest", org), {**WINDOW, "mode": "selected", "term": [chosen, "not json"]}, headers=HX
    )
    assert response.status_code == 204
    assert list(Proposal.unscoped_objects.values_list("kind", "text", "proposed_value")) == [
        ("keyword", "floor lamp", Decimal("2.5000"))  # sold once: enough when picked by hand
    ]
    nothing = owner_client.post(url("keywords_harvest", org), {**WINDOW, "mode": "selected"}, headers=HX)
    assert nothing["HX-Redirect"].startswith(url("keywords", org))
    assert ToolRun.unscoped_objects.count() == 1


def test_find_negatives_post(owner_client, org, facts):
    response = owner_client.post(
        url("keywords_negatives", org), {**WINDOW, "min_clicks": "2", "min_spend": ""}, headers=HX
    )
    run = ToolRun.unscoped_objects.get(organization=org, tool="negatives")
    assert response["HX-Redirect"] == f"{url('changes', org)}?run={run.pk}"
    assert list(Proposal.unscoped_objects.filter(run=run).values_list("text", "match_type", "ad_group_id")) == [
        ("cheap", "NEGATIVE_PHRASE", "")  # one root covers the three wasted terms
    ]
    assert run.parameters["min_clicks"] == 2 and run.parameters["min_spend"] is None


def test_invalid_thresholds_show_the_form_again(owner_client, org, facts):
    response = owner_client.post(url("keywords_harvest", org), {**WINDOW, "min_bid": "3", "max_bid": "1"}, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="tool-forms"')
    assert "The maximum bid must be at least the minimum bid." in body
    plain = owner_client.post(url("keywords_harvest", org), {**WINDOW, "min_orders": "-1"})
    assert plain.status_code == 400 and 'id="keyword-tab"' in plain.content.decode()
    assert not ToolRun.unscoped_objects.exists()


def _many_terms(org, count):
    for number in range(count):
        search_term_fact(org, f"term {number}", date=NOV1, clicks=number + 1, orders=number % 2, sales=Decimal("9"))


@pytest.mark.parametrize("tab", ["terms", "ngrams"])
def test_query_count_does_not_grow_with_rows(client, org, tab):
    other = OrganizationFactory()
    user = member(org, Role.OWNER)
    MembershipFactory(organization=other, user=user, role=Role.OWNER)
    client.force_login(user)
    _many_terms(org, 3)
    _many_terms(other, 30)
    counts = []
    for organization in (org, other):
        client_url = url("keywords", organization)
        client.get(client_url, {**WINDOW, "tab": tab})  # warm the caches (membership, session)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(client_url, {**WINDOW, "tab": tab})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 8


# --- the "Keywords in place" tab ----------------------------------------------------------------------------------

IN_PLACE = {**WINDOW, "tab": "in_place"}


def _ad_group(org, *, channel="amazon_ads", account="A1", marketplace="US", currency="USD", campaign, group):
    """An ad group (and its campaign and ad account, made once) as a sync stores them."""
    ad_account, _ = AdAccount.unscoped_objects.get_or_create(
        organization=org,
        channel=channel,
        external_id=account,
        defaults={"name": account, "marketplace": marketplace, "currency": currency},
    )
    campaign_id, campaign_name = campaign
    stored, _ = Campaign.unscoped_objects.get_or_create(
        organization=org, ad_account=ad_account, external_id=campaign_id, defaults={"name": campaign_name}
    )
    group_id, group_name, default_bid = group
    return AdGroup.unscoped_objects.create(
        organization=org, campaign=stored, external_id=group_id, name=group_name, default_bid=default_bid
    )


def _target(ad_group, external_id, text, match_type, *, bid=None, state="ENABLED", seen=None):
    target = Target.unscoped_objects.create(
        organization=ad_group.organization,
        ad_group=ad_group,
        external_id=external_id,
        text=text,
        match_type=match_type,
        bid=bid,
        state=state,
    )
    if seen is not None:  # when a sync first stored it
        Target.unscoped_objects.filter(pk=target.pk).update(created_at=seen, updated_at=seen)
    return target


def _at(day: int, hour: int = 9):
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def targets(org):
    """A manual campaign with an exact and a broad ad group on Amazon US, an auto campaign, and a Google Ads
    campaign; "desk lamp" is the newest keyword (the last sync brought it in)."""
    exact = _ad_group(org, campaign=("C2", "Lamps manual"), group=("G3", "Lamps exact", Decimal("0.60")))
    broad = _ad_group(org, campaign=("C2", "Lamps manual"), group=("G4", "Lamps broad", Decimal("0.45")))
    auto = _ad_group(org, campaign=("C1", "Lamps auto"), group=("G1", "Lamps", Decimal("0.50")))
    google = _ad_group(
        org,
        channel="google_ads",
        account="G-1",
        marketplace="",
        campaign=("S1", "Search lamps"),
        group=("S1G", "All", None),
    )
    _target(exact, "K1", "table lamp", "EXACT", bid=Decimal("1.2000"), seen=_at(1))
    _target(broad, "K2", "lamp", "BROAD", seen=_at(1))  # bids the ad group's default
    _target(auto, "T1", "close-match", "TARGETING_EXPRESSION_PREDEFINED", bid=Decimal("0.3500"), seen=_at(1))
    _target(google, "GK1", "lamp shade", "PHRASE", bid=Decimal("0.9000"), state="PAUSED", seen=_at(2))
    _target(exact, "K9", "desk lamp", "EXACT", bid=Decimal("0.7500"), seen=_at(20, 14))


def in_place_rows(response):
    return [(row["text"], row["match_type"], row["ad_group_id"]) for row in response.context_data["table"].rows]


def test_in_place_tab_lists_the_keywords_and_targets_newest_first(owner_client, org, targets):
    Organization.objects.filter(pk=org.pk).update(time_zone="Asia/Shanghai")

    response = owner_client.get(url("keywords", org), IN_PLACE)

    assert response.status_code == 200
    assert in_place_rows(response) == [
        ("desk lamp", "EXACT", "G3"),  # seen on 20 November: first
        ("lamp shade", "PHRASE", "S1G"),
        ("close-match", "TARGETING_EXPRESSION_PREDEFINED", "G1"),  # the same morning: the latest stored first
        ("lamp", "BROAD", "G4"),
        ("table lamp", "EXACT", "G3"),
    ]
    newest = response.context_data["table"].rows[0]
    assert (newest["campaign_id"], newest["campaign_name"], newest["ad_group_name"]) == (
        "C2",
        "Lamps manual",
        "Lamps exact",
    )
    assert (newest["bid"], newest["currency"], newest["channel"], newest["marketplace"]) == (
        Decimal("0.7500"),
        "USD",
        "amazon_ads",
        "US",
    )
    assert newest["created_at"] == _at(20, 14)
    assert response.context_data["table"].total_rows == 5
    body = response.content.decode()
    assert 'class="filter-bar"' in body and 'id="tool-forms"' in body and 'id="keyword-tab"' in body
    assert 'aria-current="page">Keywords in place</a>' in body
    assert "Seen since" in body and "2026-11-20 22:00" in body  # in the organization's time zone
    assert "Automatic target" in body and "$0.45" in body and "ad group default" in body  # the broad keyword
    assert [value for value, _label in response.context_data["channel_options"]] == ["amazon_ads", "google_ads"]
    assert [c["campaign_id"] for c in response.context_data["campaign_options"]] == ["C1", "C2", "S1"]  # by name


def test_in_place_htmx_request_gets_only_the_tab_filtered_and_sorted(owner_client, org, targets):
    response = owner_client.get(
        url("keywords", org), {**IN_PLACE, "campaign": "C2", "q": "LAMP", "sort": "-bid"}, headers=HX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="keyword-tab"')
    assert "<html" not in body and 'id="tool-forms"' not in body
    assert "HX-Request" in response["Vary"]
    assert in_place_rows(response) == [  # a keyword without its own bid sorts by its ad group's default
        ("table lamp", "EXACT", "G3"),
        ("desk lamp", "EXACT", "G3"),
        ("lamp", "BROAD", "G4"),
    ]
    assert '<option value="C2" selected>Lamps manual · Amazon Ads · US</option>' in body
    channel = owner_client.get(url("keywords", org), {**IN_PLACE, "channel": "google_ads"}, headers=HX)
    assert in_place_rows(channel) == [("lamp shade", "PHRASE", "S1G")]
    assert "Paused" in channel.content.decode()
    by_text = owner_client.get(url("keywords", org), {**IN_PLACE, "sort": "keyword"}, headers=HX)
    assert [text for text, _match, _group in in_place_rows(by_text)] == [
        "close-match",
        "desk lamp",
        "lamp",
        "lamp shade",
        "table lamp",
    ]


def test_in_place_paging_and_no_match(owner_client, org, targets):
    older = AdGroup.unscoped_objects.get(organization=org, external_id="G3")
    Target.unscoped_objects.bulk_create(
        Target(organization=org, ad_group=older, external_id=f"B{n}", text=f"bulb {n}", match_type="EXACT")
        for n in range(48)
    )
    Target.unscoped_objects.filter(organization=org, external_id__startswith="B").update(created_at=_at(1, 0))

    first = owner_client.get(url("keywords", org), IN_PLACE, headers=HX)
    second = owner_client.get(url("keywords", org), {**IN_PLACE, "page": "2"}, headers=HX)
    past = owner_client.get(url("keywords", org), {**IN_PLACE, "page": "9"}, headers=HX)
    nothing = owner_client.get(url("keywords", org), {**IN_PLACE, "q": "no such keyword"}, headers=HX)

    table = first.context_data["table"]
    assert (len(table.rows), table.total_rows, table.page, table.pages) == (50, 53, 1, 2)
    assert [row["text"] for row in table.rows[:6]] == [
        "desk lamp",
        "lamp shade",
        "close-match",
        "lamp",
        "table lamp",
    ] + ["bulb 47"]
    assert [text for text, _match, _group in in_place_rows(second)] == ["bulb 2", "bulb 1", "bulb 0"]
    assert 'rel="prev"' in second.content.decode() and 'rel="next"' not in second.content.decode()
    assert in_place_rows(past) == [] and past.context_data["table"].total_rows == 53  # counted, not failed
    assert nothing.context_data["table"].total_rows == 0
    assert "No keywords or targets match this filter." in nothing.content.decode()


def test_in_place_never_shows_another_organizations_keywords(client, org, other_org, targets):
    theirs = _ad_group(other_org, campaign=("C2", "Their manual"), group=("X1", "Theirs", Decimal("0.50")))
    _target(theirs, "Z1", "their secret keyword", "EXACT", bid=Decimal("2"), seen=_at(25))
    user = member(org, Role.VIEWER)
    MembershipFactory(organization=other_org, user=user, role=Role.VIEWER)
    client.force_login(user)

    ours = client.get(url("keywords", org), IN_PLACE)
    same_campaign_id = client.get(url("keywords", org), {**IN_PLACE, "campaign": "C2"}, headers=HX)

    assert "their secret keyword" not in ours.content.decode() and "Their manual" not in ours.content.decode()
    assert len(in_place_rows(ours)) == 5
    assert "their secret keyword" not in same_campaign_id.content.decode()
    assert [text for text, _match, _group in in_place_rows(same_campaign_id)] == ["desk lamp", "lamp", "table lamp"]
    assert in_place_rows(client.get(url("keywords", other_org), IN_PLACE)) == [("their secret keyword", "EXACT", "X1")]
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url("keywords", org), IN_PLACE).status_code == 404
    assert client.get(url("keywords", org), IN_PLACE, headers=HX).status_code == 404


def _many_targets(org, count):
    group = _ad_group(org, campaign=("C1", "Lamps"), group=("G1", "Lamps", Decimal("0.50")))
    for number in range(count):
        _target(group, f"K{number}", f"keyword {number}", "EXACT", bid=Decimal("0.40"))


@pytest.mark.parametrize(("partial", "expected"), [(False, 3), (True, 2)])  # the page also lists the campaigns
def test_in_place_query_count_does_not_grow_with_rows(client, org, partial, expected):
    other = OrganizationFactory()
    user = member(org, Role.OWNER)
    MembershipFactory(organization=other, user=user, role=Role.OWNER)
    client.force_login(user)
    _many_targets(org, 3)
    _many_targets(other, 60)
    headers = HX if partial else {}
    counts = []
    for organization in (org, other):
        client.get(url("keywords", organization), IN_PLACE, headers=headers)  # warm the caches (membership, session)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("keywords", organization), IN_PLACE, headers=headers)
        assert response.status_code == 200
        counts.append(len(queries))
    assert len(response.context_data["table"].rows) == 50  # one page of the sixty
    assert counts == [expected, expected]  # the page of keywords is one query, whatever the organization holds


# --- the "Themes" tab ---------------------------------------------------------------------------------------------

THEMES = {**WINDOW, "tab": "themes"}


@pytest.fixture
def theme_facts(org, other_org):
    """Two obvious themes in ad group G1: four "floor lamp" terms that sold (1.00 spend, one 20.00 order each) and
    three "coffee mug" terms that spent 2.00 each without an order. Another organization has "secret widget"
    terms."""
    for term in ("floor lamp", "floor lamp tall", "floor lamps", "floor lamp led"):
        search_term_fact(org, term, date=NOV1, clicks=5, cost=Decimal("1"), orders=1, sales=Decimal("20"))
    for term in ("coffee mug", "coffee mugs", "coffee mug large"):
        search_term_fact(org, term, date=NOV1, clicks=4, cost=Decimal("2"))
    for term in ("secret widget", "secret widgets", "secret widget pro"):
        search_term_fact(other_org, term, date=NOV1, clicks=9, cost=Decimal("9"), orders=3, sales=Decimal("99"))


def theme_rows(response):
    return [
        (row["label"], row["n_terms"], row["clicks"], row["cost"], row["orders"], row["sales"], row["wasted"])
        for row in response.context_data["themes"].rows
    ]


def test_themes_tab_groups_the_terms_by_spend_and_flags_wasted_themes(owner_client, org, theme_facts):
    response = owner_client.get(url("keywords", org), THEMES)
    assert response.status_code == 200
    assert theme_rows(response) == [
        ("coffee mug", 3, 12, 6.0, 0, 0.0, True),
        ("floor lamp", 4, 20, 4.0, 4, 80.0, False),
    ]
    coffee, floor = response.context_data["themes"].rows
    assert (coffee["acos"], coffee["cvr"]) == (None, 0.0)  # no sales: no ACoS, never 0
    assert (floor["acos"], floor["cvr"]) == (0.05, 0.2)
    assert floor["members"] == ["floor lamp", "floor lamp led", "floor lamp tall", "floor lamps"]
    body = response.content.decode()
    assert 'class="filter-bar"' in body and body.count('class="row-wasted"') == 1 and "Wasted theme" in body
    assert "see terms" in body and 'href="/o/' in body
    assert "q=floor+lamp" in floor["terms_url"] and "tab=" not in floor["terms_url"]
    assert "secret" not in body  # another organization's terms never show


def test_themes_see_terms_link_opens_the_search_terms_filtered_by_the_label(owner_client, org, theme_facts):
    themes = owner_client.get(url("keywords", org), THEMES)
    link = themes.context_data["themes"].rows[1]["terms_url"]
    response = owner_client.get(link)
    assert response.context_data["tab"] == "terms"
    assert sorted(row["search_term"] for row in response.context_data["table"].rows) == [
        "floor lamp",
        "floor lamp led",
        "floor lamp tall",
        "floor lamps",
    ]


def test_themes_htmx_request_gets_only_the_tab(owner_client, org, theme_facts):
    response = owner_client.get(url("keywords", org), THEMES, headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="keyword-tab"')
    assert "<html" not in body and 'class="filter-bar"' not in body
    assert [row[0] for row in theme_rows(response)] == ["coffee mug", "floor lamp"]
    assert 'id="suggestions-title"' in body and 'class="pager"' not in body


def test_themes_tab_of_another_organization_is_404(client, org, theme_facts):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url("keywords", org), THEMES).status_code == 404
    assert client.get(url("keywords", org), THEMES, headers=HX).status_code == 404


def test_themes_without_terms_say_so(owner_client, org):
    response = owner_client.get(url("keywords", org), THEMES)
    assert response.context_data["themes"].rows == [] and response.context_data["suggestions"] == []
    assert "No themes in this range and filter" in response.content.decode()


def _product(ad_group, sku):
    return AdvertisedProduct.unscoped_objects.create(
        organization=ad_group.organization, ad_group=ad_group, external_id=f"P-{sku}", sku=sku
    )


def test_suggestions_offer_terms_that_sell_for_sibling_products(owner_client, org, theme_facts):
    """Campaign C1 advertises SKU-A in G1 (where the theme facts ran) and SKU-B in G2; G2 sold "coffee mug" once.
    SKU-A's converting terms are offered to SKU-B, except "floor lamp" and "floor lamps", the words of the campaign's
    keyword "Floor Lamps"; SKU-B's
    "coffee mug" is not offered to SKU-A, which already has traffic on it."""
    g1 = _ad_group(org, campaign=("C1", "Lamps auto"), group=("G1", "Lamps", Decimal("0.50")))
    g2 = _ad_group(org, campaign=("C1", "Lamps auto"), group=("G2", "Mugs", Decimal("0.50")))
    _product(g1, "SKU-A")
    _product(g2, "SKU-B")
    _target(g2, "K1", "Floor Lamps", "EXACT")
    search_term_fact(
        org, "coffee mug", date=NOV2, ad_group_id="G2", ad_group_name="Mugs", orders=1, sales=Decimal("15")
    )
    response = owner_client.get(url("keywords", org), THEMES)
    ideas = [
        (i["keyword"], i["match_type"], i["product_id"], i["ad_group_id"], i["orders"])
        for i in response.context_data["suggestions"]
    ]
    assert ideas == [
        ("floor lamp led", "EXACT", "SKU-B", "G2", 1),
        ("floor lamp tall", "EXACT", "SKU-B", "G2", 1),
    ]
    first = response.context_data["suggestions"][0]
    assert first["reason"] == (
        "1 order and 20.00 in sales for sibling products (SKU-A); this product does not use this search term yet."
    )
    assert response.context_data["titles_only"] is False
    assert first["reason"] in response.content.decode()


def test_suggestions_fall_back_to_campaign_names_without_product_links(owner_client, org, theme_facts):
    response = owner_client.get(url("keywords", org), THEMES)
    ideas = [(i["keyword"], i["source"], i["reason"]) for i in response.context_data["suggestions"]]
    assert ideas == [
        ("lamps", "title", "In 2 of 2 campaign and ad group names; not a keyword yet."),
        ("auto", "title", "In 1 of 2 campaign and ad group names; not a keyword yet."),
        ("lamps auto", "title", "In 1 of 2 campaign and ad group names; not a keyword yet."),
    ]
    assert response.context_data["titles_only"] is True


def test_themes_cap_the_terms_and_rows_with_a_note(owner_client, org, theme_facts, monkeypatch):
    from campaigns.services import keyword_tools

    monkeypatch.setattr(keyword_tools, "THEME_MAX_ROWS", 1)
    real = keyword_tools.search_term_themes
    monkeypatch.setattr(
        keyword_tools,
        "search_term_themes",
        lambda *, terms: real(terms=terms, max_terms=3, max_rows=1),
    )
    response = owner_client.get(url("keywords", org), THEMES)
    themes = response.context_data["themes"]
    assert (themes.terms_total, themes.terms_clustered, themes.total_rows) == (7, 3, 1)
    assert [row["label"] for row in themes.rows] == ["coffee mug"]  # the three most expensive terms
    body = response.content.decode()
    assert "Grouped the 3 search terms with the most spend out of 7" in body


@pytest.mark.parametrize(
    ("partial", "expected"), [(False, 9), (True, 7)]
)  # the page also reads the filter options and session
def test_themes_query_count_does_not_grow_with_rows(client, org, partial, expected):
    """The frame (a transaction with its settings and the copy), the advertised products and the keywords: the
    same queries for 3 terms as for 30 terms with products and keywords."""
    other = OrganizationFactory()
    user = member(org, Role.OWNER)
    MembershipFactory(organization=other, user=user, role=Role.OWNER)
    client.force_login(user)
    _many_terms(org, 3)
    _many_terms(other, 30)
    group = _ad_group(other, campaign=("C1", "Lamps auto"), group=("G1", "Lamps", Decimal("0.50")))
    _product(group, "SKU-A")
    _product(_ad_group(other, campaign=("C1", "Lamps auto"), group=("G2", "More", None)), "SKU-B")
    _target(group, "K1", "term 1", "EXACT")
    headers = HX if partial else {}
    counts = []
    for organization in (org, other):
        client.get(url("keywords", organization), THEMES, headers=headers)  # warm the caches (membership, session)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("keywords", organization), THEMES, headers=headers)
        assert response.status_code == 200
        counts.append(len(queries))
    assert response.context_data["suggestions"][0]["source"] == "sibling"
    assert counts == [expected, expected]

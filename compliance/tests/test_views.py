"""The Compliance page: findings in place, the partial for checks as one types, tenancy and query counts."""

import pytest
from django.urls import reverse

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, member
from compliance.views import highlighted

pytestmark = pytest.mark.django_db

GERMAN = {"text": "Testsieger! Jetzt 30% reduziert", "markets": "DE", "channel": "amazon_ads", "language": "de"}
FIXED = {
    **GERMAN,
    "text": "Testsieger bei Stiftung Warentest (Ausgabe 05/2026). Jetzt 30 % reduziert, niedrigster Preis der "
    "letzten 30 Tage: 39,99 €",
}


def url(org):
    return reverse("compliance_check", kwargs={"org_slug": org.slug})


def test_the_page_marks_each_finding_in_place_with_fix_and_source(owner_client, org):
    response = owner_client.get(url(org), GERMAN)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<mark class="finding-') == 2
    assert "Blocked" in html
    assert html.count('<li class="finding') == 2
    assert "Fix:" in html and "Source:" in html


def test_the_fixed_text_is_clean_and_the_partial_is_only_the_result(owner_client, org):
    response = owner_client.get(url(org), FIXED, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="compliance-result"')
    assert "Clean" in html and "<mark" not in html
    assert "<html" not in html


def test_an_empty_form_shows_the_form_and_a_bad_market_says_why(owner_client, org):
    assert "Findings appear here as you type." in owner_client.get(url(org)).content.decode()
    html = owner_client.get(url(org), {**GERMAN, "markets": "D3!"}).content.decode()
    assert 'role="alert"' in html


def test_another_organizations_page_is_404(client, org):
    client.force_login(member(OrganizationFactory(), Role.OWNER))
    assert client.get(url(org), GERMAN).status_code == 404


def test_every_role_may_check_and_queries_do_not_depend_on_the_text(client, org, django_assert_max_num_queries):
    client.force_login(member(org, Role.VIEWER))
    client.get(url(org), GERMAN)  # warm: the user, the membership and the rule book are cached after this
    with django_assert_max_num_queries(3):
        assert client.get(url(org), {**GERMAN, "text": "Testsieger! " * 50}).status_code == 200


def test_overlapping_findings_merge_into_one_mark():
    text = "best cure ever"
    findings = [
        {"start": 0, "end": 9, "severity": "warn", "explanation": "a"},
        {"start": 5, "end": 9, "severity": "block", "explanation": "b"},
    ]
    pieces = highlighted(text, findings)
    assert [(p["text"], len(p["findings"])) for p in pieces] == [("best cure", 2), (" ever", 0)]
    assert pieces[0]["severity"] == "block"

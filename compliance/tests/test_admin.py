"""The staff console: switching a rule off and adding a market's word take effect on the next check, with history."""

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from compliance.models import Rule, RuleTerm
from compliance.services import ad_text_check

pytestmark = pytest.mark.django_db

GERMAN = {"markets": ["DE"], "channel": "amazon_ads", "language": "de"}


@pytest.fixture
def staff_client(client, settings):
    settings.ADMIN_REQUIRE_MFA = False  # the TOTP step has its own tests in accounts
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client, staff


def change_form(rule, *, enabled, note="", terms=()):
    """The POST a staff member's browser sends from the rule's change page."""
    data = {
        "enabled": "on" if enabled else "",
        "staff_note": note,
        "terms-TOTAL_FORMS": str(len(terms)),
        "terms-INITIAL_FORMS": "0",
        "terms-MIN_NUM_FORMS": "0",
        "terms-MAX_NUM_FORMS": "1000",
    }
    for index, term in enumerate(terms):
        data.update({f"terms-{index}-{key}": value for key, value in term.items()})
        data[f"terms-{index}-rule"] = str(rule.pk)
    if not enabled:
        data.pop("enabled")
    return data


def test_switching_a_rule_off_in_the_admin_applies_to_the_next_check_and_is_in_the_history(staff_client):
    client, staff = staff_client
    rule = Rule.objects.get(rule_id="de.uwg.test_winner")
    assert [f["rule_id"] for f in ad_text_check(text="Testsieger!", **GERMAN).findings] == ["de.uwg.test_winner"]
    page = client.get(reverse("admin:compliance_rule_change", args=[rule.pk]))
    assert page.status_code == 200
    assert "Stiftung Warentest (Ausgabe 05/2026)" in page.content.decode()

    response = client.post(
        reverse("admin:compliance_rule_change", args=[rule.pk]), change_form(rule, enabled=False, note="disputed")
    )

    assert response.status_code == 302
    assert ad_text_check(text="Testsieger!", **GERMAN).verdict == "clean"
    latest = rule.history.latest()
    assert (latest.enabled, latest.staff_note, latest.history_user, latest.history_type) == (
        False,
        "disputed",
        staff,
        "~",
    )
    history_page = client.get(reverse("admin:compliance_rule_history", args=[rule.pk]))
    assert history_page.status_code == 200


def test_a_market_specific_word_added_in_the_admin_applies_there_only(staff_client):
    client, staff = staff_client
    rule = Rule.objects.get(rule_id="de.uwg.superlative")
    word = {"kind": "trigger", "value": "Preisknaller*", "language": "de", "market": "AT", "enabled": "on", "note": ""}

    response = client.post(
        reverse("admin:compliance_rule_change", args=[rule.pk]), change_form(rule, enabled=True, terms=[word])
    )

    assert response.status_code == 302
    term = RuleTerm.objects.get(rule=rule)
    assert (term.value, term.market, term.history.get().history_user) == ("Preisknaller*", "AT", staff)
    at = ad_text_check(text="Preisknaller des Jahres", markets=["AT"], channel="web", language="de")
    de = ad_text_check(text="Preisknaller des Jahres", markets=["DE"], channel="web", language="de")
    assert ([f["rule_id"] for f in at.findings], de.verdict) == (["de.uwg.superlative"], "clean")


def test_a_word_for_a_market_the_rule_does_not_cover_or_a_broken_pattern_is_refused(staff_client):
    client, _ = staff_client
    rule = Rule.objects.get(rule_id="de.uwg.superlative")
    words = [
        {"kind": "trigger", "value": "Preisknaller", "language": "de", "market": "US", "enabled": "on"},
        {"kind": "trigger", "value": "(unclosed", "is_pattern": "on", "language": "de", "market": "", "enabled": "on"},
    ]

    response = client.post(
        reverse("admin:compliance_rule_change", args=[rule.pk]), change_form(rule, enabled=True, terms=words)
    )

    assert response.status_code == 200
    errors = [form.errors for form in response.context["inline_admin_formsets"][0].formset.forms]
    assert "This rule applies in DE, AT." in errors[0]["market"]
    assert "does not compile" in errors[1]["value"][0]
    assert not RuleTerm.objects.exists()


def test_the_rule_list_and_the_actions_work_without_per_row_queries(staff_client, django_assert_max_num_queries):
    client, _ = staff_client
    url = reverse("admin:compliance_rule_changelist")
    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert response.status_code == 200
    assert b"de.uwg.test_winner" in response.content

    ids = list(Rule.objects.filter(rule_id__startswith="de.").values_list("pk", flat=True))
    client.post(url, {"action": "disable_rules", "_selected_action": [str(pk) for pk in ids]})

    assert Rule.objects.filter(pk__in=ids, enabled=True).count() == 0
    assert ad_text_check(text="Testsieger!", **GERMAN).verdict == "clean"
    assert client.get(reverse("admin:compliance_ruleterm_changelist")).status_code == 200


def test_rules_cannot_be_added_or_deleted_in_the_admin(staff_client):
    client, _ = staff_client
    rule = Rule.objects.first()
    assert client.get(reverse("admin:compliance_rule_add")).status_code == 403
    assert client.post(reverse("admin:compliance_rule_delete", args=[rule.pk]), {"post": "yes"}).status_code == 403
    assert Rule.objects.filter(pk=rule.pk).exists()

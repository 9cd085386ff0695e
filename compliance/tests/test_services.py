"""The service the rest of the product calls, the database-backed rules and their sync from the files."""

import dataclasses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.copy.checks import copy_check
from compliance import loader, services
from compliance.models import Rule, RuleTerm

pytestmark = pytest.mark.django_db

GERMAN = {"markets": ["DE"], "channel": "amazon_ads", "language": "de"}
FIXED = (
    "Testsieger bei Stiftung Warentest (Ausgabe 05/2026). Jetzt 30 % reduziert, "
    "niedrigster Preis der letzten 30 Tage: 39,99 €"
)


def test_migrate_loaded_every_rule_file_into_the_database():
    specs = loader.rule_specs()
    rows = dict(Rule.objects.values_list("rule_id", "content_hash"))
    assert rows == {spec.rule_id: spec.content_hash for spec in specs}
    assert services.current_rule_book().token.startswith("db:")


def test_the_german_example_gives_two_findings_with_fixes_and_the_fixed_text_is_clean():
    result = services.ad_text_check(text="Testsieger! Jetzt 30% reduziert", **GERMAN)

    assert result.verdict == "blocked"
    assert [(f["rule_id"], f["category"], f["severity"], f["match"]) for f in result.findings] == [
        ("de.uwg.test_winner", "superlative", "warn", "Testsieger"),
        ("eu.omnibus.prior_price", "price_reduction", "block", "Jetzt 30% reduziert"),
    ]
    assert all(f["fix"] and f["explanation"] and f["source"] for f in result.findings)
    assert services.ad_text_check(text=FIXED, **GERMAN).verdict == "clean"


def test_the_campaigns_copy_gate_now_gets_a_checked_verdict():
    result = copy_check(text="Testsieger! Jetzt 30% reduziert", markets=["de"], channel="amazon_ads", language="de")

    assert (result.checked, result.verdict, result.approvable) == (True, "blocked", False)
    assert [f["rule_id"] for f in result.findings] == ["de.uwg.test_winner", "eu.omnibus.prior_price"]


def test_a_batch_is_checked_with_one_version_query_in_the_same_order():
    services.ad_text_check(text="warm-up", **GERMAN)  # compiles the German rules once
    texts = ["Testsieger!", "Ein Kräutertee", "Jetzt 30% reduziert"] * 50

    with CaptureQueriesContext(connection) as queries:
        results = services.ad_texts_check(texts=texts, **GERMAN)

    assert len(queries) == 1
    assert [r.verdict for r in results[:3]] == ["warn", "clean", "blocked"]
    assert len(results) == 150


def test_switching_a_rule_off_applies_from_the_next_check():
    assert services.ad_text_check(text="Testsieger!", **GERMAN).verdict == "warn"

    services.rules_set_enabled(
        rule_ids=Rule.objects.filter(rule_id="de.uwg.test_winner").values_list("pk", flat=True), enabled=False
    )

    assert services.ad_text_check(text="Testsieger!", **GERMAN).as_dict() == {"verdict": "clean", "findings": []}


def test_a_word_staff_add_for_one_market_applies_there_from_the_next_check():
    rule = Rule.objects.get(rule_id="de.uwg.superlative")
    RuleTerm.objects.create(rule=rule, language="de", market="AT", value="Preisknaller*")

    at = services.ad_text_check(text="Der Preisknaller des Jahres", markets=["AT"], channel="web", language="de")
    de = services.ad_text_check(text="Der Preisknaller des Jahres", markets=["DE"], channel="web", language="de")

    assert [(f["rule_id"], f["match"]) for f in at.findings] == [("de.uwg.superlative", "Preisknaller")]
    assert de.verdict == "clean"


def test_with_an_empty_rules_table_the_files_are_used():
    Rule.objects.all().delete()

    book = services.current_rule_book()
    result = services.ad_text_check(text="Testsieger!", **GERMAN)

    assert book.token.startswith("files:")
    assert [f["rule_id"] for f in result.findings] == ["de.uwg.test_winner"]


def test_sync_is_idempotent_and_keeps_staff_decisions():
    Rule.objects.filter(rule_id="de.uwg.test_winner").update(enabled=False, staff_note="disputed")

    result = services.rule_files_sync()

    assert dataclasses.astuple(result) == (0, 0, len(loader.rule_specs()), 0)
    assert Rule.objects.filter(rule_id="de.uwg.test_winner", enabled=False, staff_note="disputed").exists()


def test_sync_updates_a_changed_rule_and_retires_a_removed_one_with_history():
    specs = list(loader.rule_specs())
    flipped = "warn" if specs[0].severity == "block" else "block"
    changed = dataclasses.replace(specs[0], severity=flipped, file_version=specs[0].file_version + 1)
    changed = loader.spec_from_definition(changed.definition(), file=changed.file, file_version=changed.file_version)
    kept = [changed, *specs[2:]]

    result = services.rule_files_sync(specs=kept)

    assert dataclasses.astuple(result) == (0, 1, len(specs) - 2, 1)
    updated = Rule.objects.get(rule_id=changed.rule_id)
    assert (updated.severity, updated.file_version, updated.content_hash) == (
        flipped,
        changed.file_version,
        changed.content_hash,
    )
    assert updated.history.latest().history_change_reason == f"rule file {changed.file} version {changed.file_version}"
    assert Rule.objects.get(rule_id=specs[1].rule_id).retired is True
    assert (
        specs[1].rule_id
        not in services.current_rule_book().ruleset(markets="EU", channel="web", language="en").rule_ids
    )

    services.rule_files_sync()

    assert Rule.objects.filter(retired=True).count() == 0
    assert Rule.objects.get(rule_id=changed.rule_id).severity == specs[0].severity


def test_unknown_channels_are_refused():
    with pytest.raises(ValueError, match="unknown channel"):
        services.ad_text_check(text="x", markets=["DE"], channel="billboard", language="de")

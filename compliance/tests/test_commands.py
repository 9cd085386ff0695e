"""The command-line check and the rule-file loader."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from compliance import loader
from compliance.models import Rule

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_compliance_check_prints_the_verdict_and_findings_as_json():
    output = run(
        "compliance_check",
        "--markets",
        "DE,FR",
        "--channel",
        "amazon_ads",
        "--language",
        "de",
        "Testsieger! Jetzt 30% reduziert",
    )

    answer = json.loads(output)
    assert answer["verdict"] == "blocked"
    fields = ("rule_id", "category", "severity", "start", "end", "match")
    assert [tuple(f[k] for k in fields) for f in answer["findings"]] == [
        ("de.uwg.test_winner", "superlative", "warn", 0, 10, "Testsieger"),
        ("eu.omnibus.prior_price", "price_reduction", "block", 12, 31, "Jetzt 30% reduziert"),
    ]
    assert answer["findings"][1]["markets"] == "DE,FR"
    assert {"explanation", "fix", "source", "source_url"} <= set(answer["findings"][0])


def test_compliance_check_joins_words_and_reads_stdin(monkeypatch):
    assert json.loads(
        run("compliance_check", "--channel", "web", "--language", "en", "--markets", "US", "A", "mug")
    ) == {
        "verdict": "clean",
        "findings": [],
    }
    monkeypatch.setattr("sys.stdin", io.StringIO("Lose 10 pounds in 7 days"))
    answer = json.loads(run("compliance_check", "--channel", "meta", "--language", "en", "--markets", "US", "-"))
    assert answer["verdict"] == "blocked"
    assert {f["rule_id"] for f in answer["findings"]} == {"us.ftc.weight_loss", "meta.before_after_weight_loss"}


def test_compliance_check_refuses_an_unknown_channel():
    with pytest.raises(CommandError, match="unknown channel 'fax'"):
        run("compliance_check", "--channel", "fax", "--language", "en", "x")


def test_load_compliance_rules_validates_and_loads():
    Rule.objects.all().delete()
    count = len(loader.rule_specs())

    assert run("load_compliance_rules", "--check").strip().startswith(f"{count} rules in ")
    assert not Rule.objects.exists()
    assert f"{count} added, 0 updated, 0 unchanged, 0 retired" in run("load_compliance_rules")
    assert f"0 added, 0 updated, {count} unchanged, 0 retired" in run("load_compliance_rules")


def test_load_compliance_rules_fails_on_a_broken_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("schema: 1\nversion: 1\nrules: [{id: x.y}]\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"bad\.yaml: rule 'x\.y': missing 'category'"):
        run("load_compliance_rules", "--check", "--dir", str(tmp_path))

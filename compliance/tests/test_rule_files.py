"""The rule files: every rule proves itself with its own examples, and a broken file fails loudly.

Pure tests (no database): the engine is compiled straight from the files.
"""

import textwrap

import pytest

from compliance import loader
from compliance.apps import ComplianceConfig
from compliance.engine import RuleBook
from compliance.models import Category, Severity

SPECS = loader.rule_specs()
BOOK = RuleBook(rules=SPECS)


def _context(spec: loader.RuleSpec) -> tuple[str, str]:
    """A market and a channel where ``spec`` applies."""
    market = "US" if loader.ANY_MARKET in spec.markets else sorted(loader.expand_markets(spec.markets))[0]
    channel = "web" if loader.ANY_CHANNEL in spec.channels else spec.channels[0]
    return market, channel


EXAMPLES = [
    pytest.param(spec, language, id=f"{spec.rule_id}-{language}")
    for spec in SPECS
    for language in sorted(spec.examples)
]


@pytest.mark.parametrize(("spec", "language"), EXAMPLES)
def test_each_rule_flags_its_triggers_and_passes_its_compliant_near_misses(spec, language):
    # Given the rule's own examples in one of its languages, in a market and channel where it applies
    market, channel = _context(spec)
    ruleset = BOOK.ruleset(markets=[market], channel=channel, language=language)
    pair = spec.examples[language]

    # When each example is checked
    triggered = {
        text: [f for f in ruleset.check(text).findings if f["rule_id"] == spec.rule_id] for text in pair["trigger"]
    }
    cleared = {
        text: [f for f in ruleset.check(text).findings if f["rule_id"] == spec.rule_id] for text in pair["compliant"]
    }

    # Then every trigger yields a finding of this rule, with the rule's own category, severity and texts ...
    for text, findings in triggered.items():
        assert findings, f"{spec.rule_id} ({language}) missed its trigger example {text!r}"
        finding = findings[0]
        assert (finding["category"], finding["severity"]) == (spec.category, spec.severity)
        assert (finding["explanation"], finding["fix"], finding["source"]) == (spec.explanation, spec.fix, spec.source)
        assert text[finding["start"] : finding["end"]] == finding["match"] != ""
    # ... and no compliant example does
    for text, findings in cleared.items():
        assert findings == [], f"{spec.rule_id} ({language}) flagged its compliant example {text!r}"


def test_every_rule_has_examples_for_each_of_its_languages_and_a_source():
    for spec in SPECS:
        assert set(spec.examples) == set(spec.languages), spec.rule_id
        assert spec.source.strip() and spec.explanation.strip() and spec.fix.strip(), spec.rule_id


def test_the_vocabulary_matches_the_database_choices_and_every_category_is_covered():
    assert set(Category.values) == set(loader.CATEGORIES)
    assert set(Severity.values) == set(loader.SEVERITIES)
    assert {spec.category for spec in SPECS} == set(loader.CATEGORIES)


def test_local_rules_cover_the_required_markets_and_languages():
    covered = {(market, language) for spec in SPECS for market in spec.markets for language in spec.languages}
    for market, language in [
        ("US", "en"),
        ("EU", "de"),
        ("EU", "fr"),
        ("EU", "es"),
        ("GB", "en"),
        ("DE", "de"),
        ("GCC", "ar"),
        ("ID", "id"),
        ("MY", "ms"),
        ("TH", "th"),
        ("CN", "zh"),
    ]:
        assert (market, language) in covered, (market, language)


def test_cultural_taboo_rules_are_warnings_in_the_religious_cultural_category():
    cultural = [spec for spec in SPECS if spec.rule_id.startswith("culture.") or ".cultural." in spec.rule_id]
    assert len(cultural) >= 6
    assert {(spec.category, spec.severity) for spec in cultural} == {("religious_cultural", "warn")}


# --- a broken rule file fails loudly, naming the file and the rule ------------------------------------------

VALID_RULE = """
  - id: test.valid
    markets: [DE]
    channels: [any]
    languages: [de]
    category: superlative
    severity: warn
    explanation: Why.
    fix: How.
    source: Law.
    matchers:
      de: {words: [testsieger]}
    examples:
      de: {trigger: [Testsieger], compliant: [Gut]}
"""


def _write(tmp_path, name, body):
    (tmp_path / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return tmp_path


def _error(tmp_path) -> str:
    with pytest.raises(loader.RuleFileError) as caught:
        loader.load_rule_files(tmp_path)
    return str(caught.value)


def test_a_valid_file_loads_with_its_file_name_version_and_a_content_hash(tmp_path):
    _write(tmp_path, "de.yaml", "schema: 1\nversion: 3\nrules:" + VALID_RULE)

    [spec] = loader.load_rule_files(tmp_path)

    assert (spec.rule_id, spec.file, spec.file_version, spec.scope) == ("test.valid", "de.yaml", 3, "sentence")
    assert len(spec.content_hash) == 16


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("category: superlative", "category: bragging", "de.yaml: rule 'test.valid': unknown category 'bragging'"),
        ("severity: warn", "severity: maybe", "de.yaml: rule 'test.valid': severity must be one of block, warn"),
        ("channels: [any]", "channels: [fax]", "de.yaml: rule 'test.valid': unknown channel 'fax'"),
        ("markets: [DE]", "markets: [Germany]", "de.yaml: rule 'test.valid': unknown market 'Germany'"),
        ("markets: [DE]", "markets: [NO]", "de.yaml: rule 'test.valid': markets: False is not text"),
        (
            "{words: [testsieger]}",
            "{patterns: ['test(sieger']}",
            "matchers.de.patterns: pattern 'test(sieger' does not compile",
        ),
        ("{words: [testsieger]}", "{patterns: ['(?P<x>a)']}", "uses named groups"),
        ("{words: [testsieger]}", "{patterns: ['a*']}", "matches the empty string"),
        ("{words: [testsieger]}", "{words: [test*sieger]}", "'*' is only allowed at either end"),
        ("de: {trigger: [Testsieger], compliant: [Gut]}", "de: {trigger: [Testsieger]}", "examples.de must have"),
        ("languages: [de]", "languages: [de, en]", "examples: no trigger/compliant examples for language 'en'"),
        ("    source: Law.\n", "", "de.yaml: rule 'test.valid': missing 'source'"),
        ("    fix: How.\n", "    fix: How.\n    fixes: More.\n", "unknown key 'fixes'"),
        ("id: test.valid", "id: Test Valid", "id must be lower-case words joined by dots"),
    ],
)
def test_a_broken_rule_names_the_file_the_rule_and_the_problem(tmp_path, replace, by, message):
    assert replace in VALID_RULE
    _write(tmp_path, "de.yaml", "schema: 1\nversion: 1\nrules:" + VALID_RULE.replace(replace, by))

    assert message in _error(tmp_path)


def test_a_duplicate_id_across_files_names_both_files(tmp_path):
    _write(tmp_path, "a.yaml", "schema: 1\nversion: 1\nrules:" + VALID_RULE)
    _write(tmp_path, "b.yaml", "schema: 1\nversion: 1\nrules:" + VALID_RULE)

    assert "b.yaml: rule 'test.valid': id already used in a.yaml" in _error(tmp_path)


def test_bad_yaml_and_bad_file_headers_fail_with_the_file_name(tmp_path):
    _write(tmp_path, "broken.yaml", "schema: 1\nversion: 1\nrules: [\n")
    _write(tmp_path, "old.yaml", "schema: 2\nversion: 0\nrules:" + VALID_RULE.replace("test.valid", "test.other"))

    message = _error(tmp_path)

    assert "broken.yaml: not valid YAML" in message
    assert "old.yaml: schema must be 1, got 2" in message
    assert "old.yaml: version must be a positive integer, got 0" in message


def test_an_empty_folder_fails(tmp_path):
    assert "no rule files" in _error(tmp_path)


def test_a_broken_rule_file_stops_start_up(tmp_path, monkeypatch):
    # Given a rules folder with a broken rule, and no cached rules in this process
    _write(tmp_path, "de.yaml", "schema: 1\nversion: 1\nrules:" + VALID_RULE.replace("severity: warn", "severity: x"))
    monkeypatch.setattr(loader, "RULES_DIR", tmp_path)
    loader.rule_specs.cache_clear()
    try:
        # When the app starts, then it refuses to, naming the file and the rule
        with pytest.raises(loader.RuleFileError, match=r"de\.yaml: rule 'test\.valid': severity must be"):
            ComplianceConfig("compliance", __import__("compliance")).ready()
    finally:
        loader.rule_specs.cache_clear()
        monkeypatch.undo()
        assert loader.rule_specs() == SPECS

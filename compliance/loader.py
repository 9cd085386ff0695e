"""The ad-claim rule files: their vocabulary, how they are read, and the checks that make a broken file fail loudly.

Rules are data. Each YAML file under ``compliance/rules/`` holds one family of rules (a law, a platform policy or
a market's customs) with a ``schema`` number, a ``version`` that is raised on every edit, and a list of rules;
``docs/compliance.md`` describes the format. ``rule_specs()`` reads and validates every file once per process
(the app's ``ready()`` calls it, so a broken file stops start-up) and returns immutable ``RuleSpec`` objects
that the engine compiles and the database mirrors. Every problem is reported with the file and the rule id.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parent / "rules"
SCHEMA = 1

CATEGORIES: tuple[str, ...] = (
    "free_claim",
    "false_urgency",
    "superlative",
    "health_claim",
    "weight_loss",
    "personal_attributes",
    "environmental_claim",
    "origin_claim",
    "reviews_endorsements",
    "price_reduction",
    "listing_promo",
    "pesticide_claim",
    "restricted_product",
    "religious_cultural",
    "halal_claim",
    "clickbait",
)
SEVERITIES: tuple[str, ...] = ("block", "warn")
SCOPES: tuple[str, ...] = ("sentence", "text")
ANY_CHANNEL = "any"
CHANNELS: tuple[str, ...] = (
    "amazon_listing",
    "amazon_ads",
    "google_ads",
    "meta_ads",
    "tiktok_ads",
    "shopee",
    "tiktok_shop",
    "ebay",
    "web",
    ANY_CHANNEL,
)
# The names the rest of the product uses for the same channels (campaigns.models.Channel, connector platforms).
CHANNEL_ALIASES: dict[str, str] = {
    "meta": "meta_ads",
    "facebook": "meta_ads",
    "instagram": "meta_ads",
    "shopee_ads": "shopee",
    "ebay_pl": "ebay",
    "amazon_sp": "amazon_listing",
    "google": "google_ads",
    "tiktok": "tiktok_ads",
}

ANY_MARKET = "ANY"
# fmt: off
MARKET_GROUPS: dict[str, frozenset[str]] = {
    "EU": frozenset(("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
                     "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE")),
    "GCC": frozenset(("SA", "AE", "KW", "QA", "BH", "OM")),
}
# fmt: on
# Marketplace codes that are not ISO 3166 alpha-2 (Amazon and others say UK; the EU says EL for Greece).
MARKET_ALIASES: dict[str, str] = {"UK": "GB", "EL": "GR"}

ANY_LANGUAGE = "any"
LANGUAGE_ALIASES: dict[str, str] = {"in": "id", "zsm": "ms", "iw": "he", "jw": "jv"}

RULE_KEYS = frozenset(
    {
        "id",
        "markets",
        "channels",
        "languages",
        "category",
        "severity",
        "scope",
        "matchers",
        "examples",
        "explanation",
        "fix",
        "source",
        "source_url",
    }
)
REQUIRED_RULE_KEYS = RULE_KEYS - {"scope", "source_url"}
MATCHER_KEYS = frozenset({"words", "patterns", "exceptions", "ignore"})
FILE_KEYS = frozenset({"schema", "version", "title", "rules"})

_RULE_ID = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)+$")
_MARKET_CODE = re.compile(r"^[A-Z]{2}$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
# Constructs that would break when a rule's pattern is joined with others into one combined expression.
_FORBIDDEN_IN_PATTERN = (
    (re.compile(r"\(\?P?<[A-Za-z_]"), "named groups"),
    (re.compile(r"\(\?P="), "named back-references"),
    (re.compile(r"(?<!\\)\\[1-9]"), "numbered back-references"),
    (re.compile(r"\(\?[aiLmsux]+\)"), "global inline flags (use a scoped group such as (?-i:...))"),
)


class RuleFileError(ValueError):
    """A rule file that cannot be used: bad YAML, an unknown field or value, a pattern that does not compile."""


@dataclass(frozen=True)
class Matcher:
    """What finds a claim in one language.

    ``words`` are literal terms (``*`` at either end allows letters before or after, for compounds and endings);
    ``patterns`` are regular expressions; ``exceptions`` are regular expressions for the compliant form, which
    clear a match when found in the same sentence (or anywhere in the text, for rules with ``scope: text``);
    ``ignore`` are regular expressions for harmless phrases that contain the term (``sugar-free``), which clear
    a match they cover.
    """

    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {key: list(getattr(self, key)) for key in ("words", "patterns", "exceptions", "ignore")}


@dataclass(frozen=True)
class RuleSpec:
    """One validated rule, as read from its file (or rebuilt from its database row)."""

    rule_id: str
    markets: tuple[str, ...]
    channels: tuple[str, ...]
    languages: tuple[str, ...]
    category: str
    severity: str
    matchers: Mapping[str, Matcher]
    examples: Mapping[str, Mapping[str, tuple[str, ...]]]
    explanation: str
    fix: str
    source: str
    source_url: str = ""
    scope: str = "sentence"
    file: str = ""
    file_version: int = 0
    content_hash: str = field(default="", compare=False)

    def definition(self) -> dict[str, Any]:
        """The rule as plain data, in the file's own shape (what the database stores and the hash covers)."""
        return {
            "id": self.rule_id,
            "markets": list(self.markets),
            "channels": list(self.channels),
            "languages": list(self.languages),
            "category": self.category,
            "severity": self.severity,
            "scope": self.scope,
            "matchers": {language: matcher.as_dict() for language, matcher in sorted(self.matchers.items())},
            "examples": {
                language: {kind: list(texts) for kind, texts in sorted(pair.items())}
                for language, pair in sorted(self.examples.items())
            },
            "explanation": self.explanation,
            "fix": self.fix,
            "source": self.source,
            "source_url": self.source_url,
        }


def expand_markets(codes: Iterable[str]) -> frozenset[str]:
    """ISO codes with aliases resolved and the groups (EU, GCC) replaced by their member countries."""
    result: set[str] = set()
    for code in codes:
        code = MARKET_ALIASES.get(code, code)
        result |= MARKET_GROUPS.get(code, {code})
    return frozenset(result)


def normalize_language(language: str) -> str:
    """The primary language subtag in lower case: ``zh-Hans`` -> ``zh``, ``pt_BR`` -> ``pt``, ``in`` -> ``id``."""
    base = re.split(r"[-_]", (language or "").strip().lower(), maxsplit=1)[0]
    return LANGUAGE_ALIASES.get(base, base)


def normalize_channel(channel: str) -> str:
    """The rule vocabulary's name for ``channel``; ``ValueError`` for a channel no rule could ever name."""
    name = (channel or "").strip().lower()
    name = CHANNEL_ALIASES.get(name, name)
    if name not in CHANNELS or name == ANY_CHANNEL:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(c for c in CHANNELS if c != ANY_CHANNEL)}")
    return name


def normalize_markets(markets: Iterable[str] | str) -> frozenset[str]:
    """Requested marketplace codes as ISO countries: case-folded, ``UK`` -> ``GB``, ``EBAY_DE`` -> ``DE``, groups
    expanded. Blank entries are dropped; anything else that is not a country or a group raises ``ValueError``."""
    if isinstance(markets, str):
        markets = markets.split(",")
    codes = []
    for market in markets:
        code = str(market).strip().upper()
        if not code:
            continue
        if "_" in code:  # platform marketplace ids such as EBAY_GB
            code = code.rsplit("_", 1)[-1]
        if not (_MARKET_CODE.match(code) or code in MARKET_GROUPS):
            raise ValueError(f"unknown market {market!r}: use ISO country codes (DE, FR, US) or a group (EU, GCC)")
        codes.append(code)
    return expand_markets(codes)


def validate_pattern(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used in a rule, or None when it can."""
    if not isinstance(pattern, str) or not pattern.strip():
        return "a pattern must be a non-empty string"
    for forbidden, name in _FORBIDDEN_IN_PATTERN:
        if forbidden.search(pattern):
            return f"pattern {pattern!r} uses {name}, which rules may not use"
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        return f"pattern {pattern!r} does not compile: {exc}"
    if compiled.fullmatch("") is not None:
        return f"pattern {pattern!r} matches the empty string"
    return None


def validate_word(word: str) -> str | None:
    """Why ``word`` cannot be used as a literal term, or None when it can."""
    if not isinstance(word, str) or not word.strip("* \t"):
        return "a word must be a non-empty string"
    if "*" in word.strip("*"):
        return f"word {word!r} has '*' inside it: '*' is only allowed at either end"
    return None


@functools.cache
def rule_specs() -> tuple[RuleSpec, ...]:
    """Every rule in ``compliance/rules/``, validated; read once per process."""
    return load_rule_files(RULES_DIR)


def load_rule_files(directory: Path | str) -> tuple[RuleSpec, ...]:
    """Read and validate every ``*.yaml`` file in ``directory``; ``RuleFileError`` lists every problem found."""
    directory = Path(directory)
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise RuleFileError(f"{directory}: no rule files (*.yaml) found")
    problems: list[str] = []
    specs: list[RuleSpec] = []
    seen: dict[str, str] = {}
    for path in paths:
        file_specs, file_problems = _load_file(path)
        problems.extend(file_problems)
        for spec in file_specs:
            if spec.rule_id in seen:
                problems.append(f"{path.name}: rule {spec.rule_id!r}: id already used in {seen[spec.rule_id]}")
                continue
            seen[spec.rule_id] = path.name
            specs.append(spec)
    if problems:
        raise RuleFileError("invalid compliance rule files:\n  " + "\n  ".join(problems))
    return tuple(specs)


def _load_file(path: Path) -> tuple[list[RuleSpec], list[str]]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        return [], [f"{path.name}: not valid YAML: {exc}"]
    if not isinstance(data, dict):
        return [], [f"{path.name}: the file must be a mapping with schema, version and rules"]
    problems = [f"{path.name}: unknown top-level key {key!r}" for key in sorted(set(data) - FILE_KEYS, key=str)]
    if data.get("schema") != SCHEMA:
        problems.append(f"{path.name}: schema must be {SCHEMA}, got {data.get('schema')!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"{path.name}: version must be a positive integer, got {version!r}")
        version = 0
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        problems.append(f"{path.name}: rules must be a non-empty list")
        return [], problems
    specs = []
    for index, entry in enumerate(rules):
        spec, rule_problems = parse_rule(entry, file=path.name, file_version=version, position=index + 1)
        problems.extend(rule_problems)
        if spec is not None:
            specs.append(spec)
    return specs, problems


def parse_rule(
    entry: Any, *, file: str = "", file_version: int = 0, position: int = 0
) -> tuple[RuleSpec | None, list[str]]:
    """A ``RuleSpec`` from one rule entry, or None and the problems that stop it (each names file and rule)."""
    where = f"{file}: " if file else ""
    if not isinstance(entry, dict):
        return None, [f"{where}rule #{position}: each rule must be a mapping"]
    rule_id = entry.get("id")
    label = f"{where}rule {rule_id!r}" if rule_id else f"{where}rule #{position}"
    problems: list[str] = []

    def problem(message: str) -> None:
        problems.append(f"{label}: {message}")

    for key in sorted(set(entry) - RULE_KEYS, key=str):
        problem(f"unknown key {key!r}")
    for key in sorted(REQUIRED_RULE_KEYS - set(entry)):
        problem(f"missing {key!r}")
    if problems:
        return None, problems
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        problem("id must be lower-case words joined by dots, e.g. 'de.uwg.test_winner'")

    markets = _string_list(entry["markets"], "markets", problem)
    for market in markets:
        if market != ANY_MARKET and market not in MARKET_GROUPS and not _MARKET_CODE.match(market):
            problem(f"unknown market {market!r} (ISO country code, EU, GCC or ANY)")
    if ANY_MARKET in markets and len(markets) > 1:
        problem("markets: ANY cannot be combined with other markets")

    channels = _string_list(entry["channels"], "channels", problem)
    for channel in channels:
        if channel not in CHANNELS:
            problem(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    if ANY_CHANNEL in channels and len(channels) > 1:
        problem("channels: any cannot be combined with other channels")

    languages = _string_list(entry["languages"], "languages", problem)
    for language in languages:
        if language != ANY_LANGUAGE and not _LANGUAGE_CODE.match(language):
            problem(f"unknown language {language!r} (ISO 639-1 code such as en, de, zh, or any)")
    if ANY_LANGUAGE in languages and len(languages) > 1:
        problem("languages: any cannot be combined with other languages")

    category = entry["category"]
    if category not in CATEGORIES:
        problem(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    severity = entry["severity"]
    if severity not in SEVERITIES:
        problem(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    scope = entry.get("scope", "sentence")
    if scope not in SCOPES:
        problem(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    for key in ("explanation", "fix", "source"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            problem(f"{key} must be non-empty text")
    source_url = entry.get("source_url") or ""
    if source_url and (not isinstance(source_url, str) or not source_url.startswith("https://")):
        problem(f"source_url must be an https:// address, got {source_url!r}")

    matchers = _parse_matchers(entry["matchers"], languages, problem)
    examples = _parse_examples(entry["examples"], languages, matchers, problem)
    if problems:
        return None, problems
    spec = RuleSpec(
        rule_id=rule_id,
        markets=tuple(markets),
        channels=tuple(channels),
        languages=tuple(languages),
        category=category,
        severity=severity,
        scope=scope,
        matchers=matchers,
        examples=examples,
        explanation=" ".join(entry["explanation"].split()),
        fix=" ".join(entry["fix"].split()),
        source=" ".join(entry["source"].split()),
        source_url=source_url,
        file=file,
        file_version=file_version,
    )
    digest = hashlib.sha256(json.dumps(spec.definition(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return _with_hash(spec, digest[:16]), []


def _with_hash(spec: RuleSpec, digest: str) -> RuleSpec:
    object.__setattr__(spec, "content_hash", digest)
    return spec


def _string_list(value: Any, name: str, problem) -> list[str]:
    if not isinstance(value, list) or not value:
        problem(f"{name} must be a non-empty list")
        return []
    result = []
    for item in value:
        if not isinstance(item, str):
            # YAML 1.1 reads NO, ON, YES as booleans: the classic trap for Norway's market code.
            problem(f'{name}: {item!r} is not text (quote it, e.g. "NO")')
            continue
        result.append(item)
    if len(set(result)) != len(result):
        problem(f"{name} lists a value twice")
    return result


def _parse_matchers(value: Any, languages: list[str], problem) -> dict[str, Matcher]:
    if not isinstance(value, dict) or not value:
        problem("matchers must be a mapping of language to words/patterns/exceptions/ignore")
        return {}
    allowed = set(languages) | {ANY_LANGUAGE}
    matchers: dict[str, Matcher] = {}
    for language, body in value.items():
        if language not in allowed:
            problem(f"matchers: language {language!r} is not in the rule's languages {languages}")
            continue
        if not isinstance(body, dict):
            problem(f"matchers.{language} must be a mapping")
            continue
        for key in sorted(set(body) - MATCHER_KEYS, key=str):
            problem(f"matchers.{language}: unknown key {key!r}")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("words", "patterns", "exceptions", "ignore"):
            items = body.get(key) or []
            if not isinstance(items, list):
                problem(f"matchers.{language}.{key} must be a list")
                items = []
            for item in items:
                message = validate_word(item) if key == "words" else validate_pattern(item)
                if message:
                    problem(f"matchers.{language}.{key}: {message}")
            lists[key] = tuple(str(item) for item in items)
        if not lists["words"] and not lists["patterns"]:
            problem(f"matchers.{language} has neither words nor patterns")
        matchers[language] = Matcher(**lists)
    for language in languages:
        if language != ANY_LANGUAGE and language not in matchers and ANY_LANGUAGE not in matchers:
            problem(f"matchers: no matcher for language {language!r}")
    return matchers


def _parse_examples(
    value: Any, languages: list[str], matchers: dict[str, Matcher], problem
) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(value, dict) or not value:
        problem("examples must be a mapping of language to trigger/compliant lists")
        return {}
    examples: dict[str, dict[str, tuple[str, ...]]] = {}
    for language, pair in value.items():
        if ANY_LANGUAGE not in languages and language not in languages:
            problem(f"examples: language {language!r} is not in the rule's languages {languages}")
            continue
        if not isinstance(language, str) or not _LANGUAGE_CODE.match(language):
            problem(f"examples: {language!r} is not a language code")
            continue
        if not isinstance(pair, dict) or set(pair) != {"trigger", "compliant"}:
            problem(f"examples.{language} must have exactly 'trigger' and 'compliant' lists")
            continue
        entry = {}
        for kind in ("trigger", "compliant"):
            texts = pair[kind]
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
                problem(f"examples.{language}.{kind} must be a non-empty list of texts")
                texts = []
            entry[kind] = tuple(texts)
        examples[language] = entry
    for language in languages:
        if language != ANY_LANGUAGE and language not in examples:
            problem(f"examples: no trigger/compliant examples for language {language!r}")
    return examples


def spec_from_definition(
    definition: Mapping[str, Any], *, file: str = "", file_version: int = 0, content_hash: str = ""
) -> RuleSpec:
    """A ``RuleSpec`` from the plain data ``RuleSpec.definition()`` produced (a database row's copy).

    The data was validated when it was loaded; a row that no longer validates raises ``RuleFileError``.
    """
    spec, problems = parse_rule(dict(definition), file=file, file_version=file_version)
    if spec is None:
        raise RuleFileError("; ".join(problems))
    return _with_hash(spec, content_hash) if content_hash else spec

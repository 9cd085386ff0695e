"""The ad-claim rule engine: rules compiled into regular expressions per (markets, channel, language).

A ``RuleBook`` holds one version of the rules (from the database or the files) and the words staff added;
``RuleBook.ruleset(markets=..., channel=..., language=...)`` compiles the rules that apply there once and keeps
the result, and ``CompiledRuleSet.check(text)`` returns a ``CheckResult``. Nothing here touches the database:
``compliance.services`` decides which rules are current and keeps one ``RuleBook`` per rules version.

Matching is language-aware. Every text and every pattern goes through the same length-preserving
normalisation (full-width forms to ASCII, typographic apostrophes and spaces, Arabic alef, alef maqsura and
teh marbuta variants), and Arabic diacritics, tatweel and zero-width characters are removed with their offsets
kept, so a finding's span always points into the original text. Literal words match case-insensitively on
word boundaries in alphabetic languages (German umlauts also match their ae/oe/ue/ss spellings, and ``*`` at a
word's end lets compounds match: ``*klimaneutral*``), as substrings in Chinese, Japanese, Korean and Thai, and
with the attached prefixes (wa-, bi-, li-, al-) in Arabic.

A rule's trigger that is covered by one of its ``ignore`` phrases (``sugar-free``) is no claim. A claim whose
compliant form (an ``exception``) appears in the same sentence is cleared: ``Testsieger bei Stiftung
Warentest (Ausgabe 05/2026)``; rules with ``scope: text`` look for the compliant form anywhere in the text.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext

from compliance.loader import (
    ANY_CHANNEL,
    ANY_LANGUAGE,
    ANY_MARKET,
    RuleSpec,
    expand_markets,
    normalize_channel,
    normalize_language,
    normalize_markets,
)

VERDICTS: tuple[str, ...] = ("clean", "warn", "blocked")
# Written without spaces between words: terms match as substrings.
SPACELESS_LANGUAGES = frozenset({"zh", "ja", "ko", "th", "lo", "km", "my"})
ARABIC_SCRIPT_LANGUAGES = frozenset({"ar", "fa", "ur"})
GERMAN_FOLDS = {"ä": "(?:ä|ae)", "ö": "(?:ö|oe)", "ü": "(?:ü|ue)", "ß": "(?:ß|ss)"}
# Attached Arabic prefixes: conjunctions and prepositions (wa, fa, bi, ka, li) with or without the article.
ARABIC_PREFIX = "(?:[وف]?(?:[بك]?ال|لل|[بكل])?)"
CACHE_SIZE = 256

_TABLE: dict[int, str] = {code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}  # full-width ASCII
_TABLE.update(
    {
        ord(char): replacement
        for char, replacement in {
            "\u3000": " ",
            "\u00a0": " ",
            "\u202f": " ",
            "\u2009": " ",
            "\u2007": " ",
            "\u2018": "'",
            "\u2019": "'",
            "\u02bc": "'",
            "\u2010": "-",
            "\u2011": "-",
            "\u2012": "-",
            "\u2013": "-",
            "\u2212": "-",
            "\u0623": "\u0627",  # alef with hamza above
            "\u0625": "\u0627",  # alef with hamza below
            "\u0622": "\u0627",  # alef with madda
            "\u0671": "\u0627",  # alef wasla
            "\u0649": "\u064a",  # alef maqsura -> yeh
            "\u0629": "\u0647",  # teh marbuta -> heh
        }.items()
    }
)
# Removed before matching (their offsets are kept): Arabic diacritics and tatweel, zero-width marks, soft hyphen.
_REMOVED = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0640\u200b-\u200f\u00ad]+"
)
# Where a sentence (or a listing's bullet or separator) ends. A full stop after an abbreviation that introduces
# a number or a name ("No. 1", "Nr. 1", "Art. 6a", "z. B.", initials) does not end the sentence.
_ABBREVIATIONS = ("no", "nr", "nos", "art", "abs", "vol", "ca", "bzw", "ggf", "inkl", "zzgl", "vs", "st", "dr", "mr",
                  "mrs", "ms", "inc", "ltd", "co", "reg", "approx", "incl", "lt", "ref", "nº")  # fmt: skip
_SENTENCE_END = re.compile(
    "".join(rf"(?<!\b{abbreviation})" for abbreviation in _ABBREVIATIONS)
    + r"(?<!\b\w)\.+(?=\s|$)|[!?…。！？؟]+|[\n\r|•;]+",
    re.IGNORECASE,
)


def normalize_text(text: str) -> tuple[str, list[int] | None]:
    """The text as the rules see it, and for each of its characters the offset in ``text`` (None: identical).

    Everything but the removal of diacritics and invisible marks maps one character to one character.
    """
    normalized = text.translate(_TABLE)
    if _REMOVED.search(normalized) is None:
        return normalized, None
    kept: list[int] = []
    parts: list[str] = []
    position = 0
    for match in _REMOVED.finditer(normalized):
        parts.append(normalized[position : match.start()])
        kept.extend(range(position, match.start()))
        position = match.end()
    parts.append(normalized[position:])
    kept.extend(range(position, len(normalized)))
    return "".join(parts), kept


def normalize_pattern(pattern: str) -> str:
    """A rule's pattern or word with the same letter normalisation the texts get."""
    return _REMOVED.sub("", pattern.translate(_TABLE))


def fold_german(pattern: str) -> str:
    """``pattern`` with ä, ö, ü and ß outside character classes also matching ae, oe, ue and ss."""
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        else:
            out.append(GERMAN_FOLDS.get(char, GERMAN_FOLDS.get(char.lower(), char)))
    return "".join(out)


def rule_pattern(pattern: str, language: str) -> str:
    """A rule's regular expression as compiled for ``language``: normalised, and umlaut-folded for German."""
    pattern = normalize_pattern(pattern)
    return fold_german(pattern) if language == "de" else pattern


SEPARATOR = r"[\s\-]*"  # between the parts of a term: "eco friendly", "eco-friendly" and "ecofriendly"


def _word_atoms(word: str, language: str) -> tuple[str, str, tuple[str, ...]]:
    """A literal term as (left boundary, right boundary, regex atoms one per character or separator)."""
    word = normalize_pattern(word).strip()
    lead, trail = word.startswith("*"), word.endswith("*")
    atoms: list[str] = []
    for part in re.split(r"[\s\-]+", word.strip("*").strip()):
        if not part:
            continue
        if atoms:
            atoms.append(SEPARATOR)
        for char in part.lower():
            atom = re.escape(char)
            atoms.append(GERMAN_FOLDS.get(char, atom) if language == "de" else atom)
    if language in SPACELESS_LANGUAGES:
        return "", "", tuple(atoms)
    # A leading * drops the left boundary (scanning back over letters with \w* would cost a pass per position);
    # the match then starts at the term itself, e.g. "Testsieger" in "Preis-Leistungs-Testsieger".
    left = "" if lead else r"(?<!\w)"
    if language in ARABIC_SCRIPT_LANGUAGES and not lead:
        left += ARABIC_PREFIX
    return left, r"\w*" if trail else r"(?!\w)", tuple(atoms)


def _trie(branches: dict) -> str:
    """The alternation of a character trie: shared prefixes are matched once, not once per word."""
    ends = "" in branches
    parts = [atom + _trie(child) for atom, child in sorted(branches.items()) if atom != ""]
    if not parts:
        return ""
    if len(parts) == 1 and not ends:
        return parts[0]
    return "(?:" + "|".join(parts) + ")" + ("?" if ends else "")


def words_pattern(words: Iterable[str], language: str) -> str:
    """One regular expression for literal terms in ``language`` (see the module docstring), as a trie per kind
    of boundary so that a text position is tried against the terms' shared prefixes instead of every term."""
    groups: dict[tuple[str, str], dict] = {}
    for word in words:
        left, right, atoms = _word_atoms(word, language)
        node = groups.setdefault((left, right), {})
        for atom in atoms:
            node = node.setdefault(atom, {})
        node[""] = {}
    return "|".join(f"{left}{_trie(root)}{right}" for (left, right), root in sorted(groups.items()))


def word_pattern(word: str, language: str) -> str:
    """The regular expression for one literal term in ``language``."""
    return words_pattern([word], language)


@dataclass(frozen=True)
class TermSpec:
    """A word or pattern staff added to a rule, optionally for one market only (``market=""``: every market)."""

    rule_id: str
    language: str
    value: str
    kind: str = "trigger"  # or "exception"
    is_pattern: bool = False
    market: str = ""

    def source(self, language: str) -> str:
        return rule_pattern(self.value, language) if self.is_pattern else word_pattern(self.value, language)


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one text and the findings that explain it (dicts: see ``CompiledRuleSet.check``)."""

    verdict: str
    findings: list[dict] = field(default_factory=list)
    ruleset: str = ""

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "findings": list(self.findings)}


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    trigger: re.Pattern
    exception: re.Pattern | None
    ignore: re.Pattern | None
    markets: tuple[str, ...]


class CompiledRuleSet:
    """The rules for one (markets, channel, language), each compiled into one combined expression for its
    triggers (its words as a trie, its patterns, the staff's additions), one for its compliant forms and one for
    its ignore phrases.

    There is deliberately no expression across rules: Python's regular expression engine tries every branch
    of an alternation at every position, so a union of all rules costs as much as scanning them one by one,
    and as a "no claim at all" pre-check it made the benchmark slower, not faster.
    """

    def __init__(self, *, rules: Sequence[CompiledRule], token: str = "") -> None:
        self.rules = tuple(rules)
        self.token = token
        self.rule_ids = tuple(rule.spec.rule_id for rule in self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def check(self, text: str) -> CheckResult:
        """Every finding in ``text``, ordered by position: dicts with ``rule_id``, ``category``, ``severity``,
        ``start``, ``end``, ``match`` (the span of the original text), ``explanation``, ``fix``, ``source``,
        ``source_url`` and ``markets`` (the requested markets the rule applies to, comma-separated)."""
        text = text or ""
        if not self.rules:
            return CheckResult(verdict="clean", findings=[], ruleset=self.token)
        normalized, offsets = normalize_text(text)
        findings = []
        sentences = None
        length = len(normalized)
        for rule in self.rules:
            for match in rule.trigger.finditer(normalized):
                start, end = match.span()
                if rule.ignore is not None and _covered(rule.ignore, normalized, start, end):
                    continue
                if rule.exception is not None:
                    if rule.spec.scope == "text":
                        window = (0, length)
                    else:
                        if sentences is None:
                            sentences = _sentence_bounds(normalized)
                        window = _window(sentences, start, end, length)
                    if rule.exception.search(normalized, *window) is not None:
                        continue
                if offsets is not None:
                    start, end = offsets[start], offsets[end - 1] + 1
                findings.append(_finding(rule, start, end, text[start:end]))
        if not findings:
            return CheckResult(verdict="clean", findings=[], ruleset=self.token)
        findings.sort(key=lambda f: (f["start"], f["severity"] != "block", f["rule_id"]))
        verdict = "blocked" if any(f["severity"] == "block" for f in findings) else "warn"
        return CheckResult(verdict=verdict, findings=findings, ruleset=self.token)


def _finding(rule: CompiledRule, start: int, end: int, matched: str) -> dict:
    spec = rule.spec
    return {
        "rule_id": spec.rule_id,
        "category": spec.category,
        "severity": spec.severity,
        "start": start,
        "end": end,
        "match": matched,
        "explanation": gettext(spec.explanation),
        "fix": gettext(spec.fix),
        "source": spec.source,
        "source_url": spec.source_url,
        "markets": ",".join(rule.markets),
    }


def _covered(pattern: re.Pattern, text: str, start: int, end: int) -> bool:
    """True when one of ``pattern``'s matches near the span contains all of it."""
    for match in pattern.finditer(text, max(0, start - 80), min(len(text), end + 80)):
        if match.start() <= start and match.end() >= end:
            return True
    return False


def _sentence_bounds(text: str) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    for match in _SENTENCE_END.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
    return starts, ends


def _window(bounds: tuple[list[int], list[int]], start: int, end: int, length: int) -> tuple[int, int]:
    """The sentence around [start, end): from the last sentence end before it to the next one after it."""
    starts, ends = bounds
    before = bisect_right(ends, start) - 1
    after = bisect_left(starts, end)
    return (ends[before] if before >= 0 else 0), (starts[after] if after < len(starts) else length)


def _alternation(sources: Iterable[str]) -> str:
    return "|".join(f"(?:{source})" for source in dict.fromkeys(sources))


class RuleBook:
    """One version of the rules and the staff's words, compiled lazily per (markets, channel, language)."""

    def __init__(self, *, rules: Iterable[RuleSpec], terms: Iterable[TermSpec] = (), token: str = "") -> None:
        self.rules = tuple(rules)
        self.token = token
        self._terms: dict[str, list[TermSpec]] = {}
        for term in terms:
            self._terms.setdefault(term.rule_id, []).append(term)
        self._rule_markets = {spec.rule_id: expand_markets(spec.markets) for spec in self.rules}
        self._cache: OrderedDict[tuple, CompiledRuleSet] = OrderedDict()
        self._lock = threading.Lock()

    def ruleset(self, *, markets: Iterable[str] | str, channel: str, language: str) -> CompiledRuleSet:
        """The compiled rules for these markets (codes or groups; none: only rules for every market), this
        channel and this language. ``ValueError`` for an unknown channel or a malformed market code."""
        key = (normalize_markets(markets), normalize_channel(channel), normalize_language(language))
        with self._lock:
            compiled = self._cache.get(key)
            if compiled is not None:
                self._cache.move_to_end(key)
                return compiled
        compiled = self._compile(*key)
        with self._lock:
            self._cache[key] = compiled
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return compiled

    def check(self, *, text: str, markets: Iterable[str] | str, channel: str, language: str) -> CheckResult:
        return self.ruleset(markets=markets, channel=channel, language=language).check(text)

    def _compile(self, markets: frozenset[str], channel: str, language: str) -> CompiledRuleSet:
        compiled = []
        for spec in self.rules:
            if ANY_CHANNEL not in spec.channels and channel not in spec.channels:
                continue
            if ANY_LANGUAGE not in spec.languages and language not in spec.languages:
                continue
            if ANY_MARKET in spec.markets:
                applies_in = markets
            else:
                applies_in = markets & self._rule_markets[spec.rule_id]
                if not applies_in:
                    continue
            rule = self._compile_rule(spec, applies_in, language)
            if rule is not None:
                compiled.append(rule)
        return CompiledRuleSet(rules=compiled, token=self.token)

    def _compile_rule(self, spec: RuleSpec, markets: frozenset[str], language: str) -> CompiledRule | None:
        triggers: list[str] = []
        exceptions: list[str] = []
        ignore: list[str] = []
        for key in (language, ANY_LANGUAGE):
            matcher = spec.matchers.get(key)
            if matcher is None:
                continue
            if matcher.words:
                triggers.append(words_pattern(matcher.words, language))
            triggers += [rule_pattern(pattern, language) for pattern in matcher.patterns]
            exceptions += [rule_pattern(pattern, language) for pattern in matcher.exceptions]
            ignore += [rule_pattern(pattern, language) for pattern in matcher.ignore]
        for term in self._terms.get(spec.rule_id, ()):
            if term.language not in (language, ANY_LANGUAGE, ""):
                continue
            if term.market and term.market not in markets:
                continue
            (triggers if term.kind == "trigger" else exceptions).append(term.source(language))
        if not triggers:
            return None
        flags = re.IGNORECASE
        try:
            return CompiledRule(
                spec=spec,
                trigger=re.compile(_alternation(triggers), flags),
                exception=re.compile(_alternation(exceptions), flags) if exceptions else None,
                ignore=re.compile(_alternation(ignore), flags) if ignore else None,
                markets=tuple(sorted(markets)),
            )
        except re.error as exc:  # a staff-added pattern that slipped past validation
            raise ValueError(f"rule {spec.rule_id!r} does not compile for {language}: {exc}") from exc

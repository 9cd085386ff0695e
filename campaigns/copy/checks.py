"""The one gate every generated or edited ad copy passes before it may be approved.

``copy_check`` hands the text to the compliance rule engine, ``compliance.services.ad_text_check(text=...,
markets=..., channel=..., language=...)``, and returns its verdict. Until that engine exists (the module or
the function is missing) the result is ``verdict="clean"`` with ``checked=False``: callers must then show
"not checked" instead of a green tick, and nothing may claim the copy passed review. Callers never import the
engine themselves, so when it lands every copy path is checked at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["clean", "warn", "blocked"]
VERDICTS: tuple[str, ...] = ("clean", "warn", "blocked")
ENGINE_MODULE = "compliance.services"
ENGINE_FUNCTION = "ad_text_check"


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one text. ``findings`` come from the engine as it explains them (rule, why, fix).

    ``checked`` is False when no rule engine was available: the verdict is then "clean" only by default.
    """

    verdict: Verdict
    findings: list = field(default_factory=list)
    checked: bool = True

    @property
    def approvable(self) -> bool:
        """True unless the engine blocked the text; a "warn" may be approved after a person reads it."""
        return self.verdict != "blocked"


def copy_check(*, text: str, markets: Iterable[str], channel: str, language: str) -> CheckResult:
    """Check ``text`` for ``markets`` (marketplace codes) on ``channel`` in ``language``.

    Returns the engine's verdict and findings, or an unchecked "clean" result while no engine is installed.
    An engine that answers with an unknown verdict raises ``ValueError`` rather than letting the copy through.
    """
    engine = _engine()
    if isinstance(markets, str):
        markets = [markets]
    markets = [str(m).strip().upper() for m in markets if str(m).strip()]
    if engine is None:
        return CheckResult(verdict="clean", findings=[], checked=False)
    answer = engine(text=text, markets=markets, channel=channel, language=language)
    if isinstance(answer, Mapping):
        verdict, findings = answer.get("verdict"), answer.get("findings")
    else:
        verdict, findings = getattr(answer, "verdict", None), getattr(answer, "findings", None)
    verdict = getattr(verdict, "value", verdict)  # an enum member is fine too
    if verdict not in VERDICTS:
        raise ValueError(f"the ad text check answered with an unknown verdict {verdict!r}")
    return CheckResult(verdict=verdict, findings=list(findings or []), checked=True)


def _engine():
    """The engine function, or None while the compliance app does not provide one.

    Only the absence of the module itself counts as "no engine": an error raised inside it propagates.
    """
    try:
        module = importlib.import_module(ENGINE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (ENGINE_MODULE, ENGINE_MODULE.split(".")[0]):
            return None
        raise
    return getattr(module, ENGINE_FUNCTION, None)

"""The Simplified Chinese catalog is complete, loadable and compiled from the current .po.

After changing translatable strings, run:

    python manage.py makemessages --locale zh_Hans --no-obsolete --no-location \
        --ignore '.venv/*' --ignore '.tools/*' --ignore 'staticfiles/*' --ignore '.data/*' \
        --ignore 'test-artifacts/*'
    # translate the new entries in locale/zh_Hans/LC_MESSAGES/django.po, then
    python manage.py compilemessages --locale zh_Hans --ignore '.venv/*' --ignore '.tools/*'

and commit both django.po and django.mo.
"""

import gettext
from io import BytesIO

from babel.messages.checkers import python_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils import translation

LC_MESSAGES = settings.BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = LC_MESSAGES / "django.po"
MO_PATH = LC_MESSAGES / "django.mo"


def _read_catalog():
    with PO_PATH.open("rb") as f:
        return read_po(f, locale="zh_Hans")


def _messages(catalog):
    """Every real entry (not the header, not obsolete ones)."""
    return [m for m in catalog if m.id]


def _label(message):
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _mo_catalog(translations):
    # GNUTranslations keeps the parsed file in _catalog: msgid -> msgstr, and
    # (msgid, n) -> msgstr[n] for plural entries. The "" key is the header.
    return {key: value for key, value in translations._catalog.items() if key != ""}


def test_zh_hans_catalog_is_fully_translated():
    catalog = _read_catalog()
    messages = _messages(catalog)
    assert messages, f"{PO_PATH} has no messages"

    fuzzy = [_label(m) for m in messages if m.fuzzy]
    assert not fuzzy, f"Fuzzy entries in {PO_PATH.name} (review them and drop the fuzzy flag): {fuzzy}"

    def untranslated(message):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        return not strings or any(not s.strip() for s in strings)

    empty = [_label(m) for m in messages if untranslated(m)]
    assert not empty, f"Untranslated entries in {PO_PATH.name}: {empty}"


def test_zh_hans_catalog_header_and_placeholders():
    catalog = _read_catalog()
    assert not catalog.fuzzy, "The header entry is fuzzy, so msgfmt would ignore it"
    headers = dict(catalog.mime_headers)
    assert headers.get("Plural-Forms", "").replace(" ", "").startswith("nplurals=1;plural=0"), headers
    assert "charset=utf-8" in headers.get("Content-Type", "").lower(), headers

    problems = []
    for message in _messages(catalog):
        try:
            python_format(catalog, message)
        except Exception as exc:  # babel raises TranslationError
            problems.append(f"{_label(message)!r}: {exc}")
    assert not problems, "Placeholders differ between msgid and msgstr:\n" + "\n".join(problems)


def test_compiled_catalog_is_loaded():
    with translation.override("zh-hans"):
        assert translation.gettext("Dashboard") == "仪表板"
    with translation.override("en"):
        assert translation.gettext("Dashboard") == "Dashboard"


def test_committed_mo_matches_po():
    buffer = BytesIO()
    write_mo(buffer, _read_catalog())
    buffer.seek(0)
    expected = _mo_catalog(gettext.GNUTranslations(buffer))

    with MO_PATH.open("rb") as f:
        committed = _mo_catalog(gettext.GNUTranslations(f))

    def key_label(key):
        return key[0] if isinstance(key, tuple) else key

    stale = sorted({key_label(k) for k in expected if committed.get(k) != expected[k]})
    extra = sorted({key_label(k) for k in committed.keys() - expected.keys()})
    assert not stale and not extra, (
        f"{MO_PATH.name} is out of date with {PO_PATH.name}; run compilemessages. "
        f"Missing or different in .mo: {stale}. Only in .mo: {extra}"
    )

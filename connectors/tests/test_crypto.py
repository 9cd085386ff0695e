"""Secrets at rest: Fernet tokens in the column, key rotation, and clear errors when keys are missing."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from connectors import crypto
from connectors.models import Connection

SECRET = {"access_token": "Atza|IwEBIsecret-access", "refresh_token": "Atzr|IwEBIsecret-refresh", "scope": ["ads"]}
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
REMOVED = "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed?)."


def raw_column(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connectors_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def make_connection(organization, credentials) -> Connection:
    return Connection.unscoped_objects.create(
        organization=organization,
        platform="amazon_ads",
        name="Profile",
        external_id="123",
        currency="USD",
        lookback_days=3,
        credentials=credentials,
    )


def test_round_trip():
    token = crypto.encrypt(SECRET)

    assert crypto.decrypt(token) == SECRET
    assert token != crypto.encrypt(SECRET)  # a fresh IV every time


def test_the_column_holds_a_token_not_the_secret(org):
    conn = make_connection(org, SECRET)

    raw = raw_column(conn.pk)
    assert raw.startswith("gAAAAA")  # a Fernet token (version byte 0x80)
    for plaintext in ("secret-access", "secret-refresh", "access_token", "Atza"):
        assert plaintext not in raw
    assert crypto.decrypt(raw) == SECRET
    assert Connection.unscoped_objects.get(pk=conn.pk).credentials == SECRET


def test_empty_credentials_are_stored_empty(org):
    conn = make_connection(org, {})

    assert raw_column(conn.pk) == ""
    assert Connection.unscoped_objects.get(pk=conn.pk).credentials == {}


def test_the_field_is_never_serialized_in_clear(org):
    conn = make_connection(org, SECRET)

    assert Connection._meta.get_field("credentials").value_to_string(conn) == "<encrypted>"


def test_rotation(settings, org):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    old_token = crypto.encrypt(SECRET)
    conn = make_connection(org, SECRET)

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]  # a new key first; the old one still decrypts
    assert crypto.decrypt(old_token) == SECRET
    assert Connection.unscoped_objects.get(pk=conn.pk).credentials == SECRET
    new_token = crypto.rotate(old_token)
    assert json.loads(Fernet(KEY_B).decrypt(new_token)) == SECRET  # re-encrypted with the newest key
    with pytest.raises(InvalidToken):
        Fernet(KEY_A).decrypt(new_token)
    assert json.loads(Fernet(KEY_B).decrypt(crypto.encrypt(SECRET))) == SECRET  # new secrets use it too

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]  # the old key retired
    assert crypto.decrypt(new_token) == SECRET
    with pytest.raises(ImproperlyConfigured) as error:
        crypto.decrypt(old_token)
    assert str(error.value) == REMOVED
    with pytest.raises(ImproperlyConfigured):
        Connection.unscoped_objects.get(pk=conn.pk)  # a row nobody rotated cannot be read any more


def test_rotating_stored_rows(settings, org):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    conn = make_connection(org, SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE connectors_connection SET credentials = %s WHERE id = %s",
            [crypto.rotate(raw_column(conn.pk)), conn.pk],
        )
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]

    assert Connection.unscoped_objects.get(pk=conn.pk).credentials == SECRET


def test_missing_keys_are_a_configuration_error(settings, org):
    settings.FIELD_ENCRYPTION_KEYS = []
    message = "FIELD_ENCRYPTION_KEYS is empty: secrets cannot be stored."

    with pytest.raises(ImproperlyConfigured) as error:
        crypto.encrypt(SECRET)
    assert str(error.value) == message
    with pytest.raises(ImproperlyConfigured), transaction.atomic():
        make_connection(org, SECRET)
    assert Connection.unscoped_objects.count() == 0


def test_a_key_that_is_not_a_fernet_key_is_a_configuration_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A, "not-a-key"]

    with pytest.raises(ImproperlyConfigured) as error:
        crypto.encrypt(SECRET)

    assert str(error.value) == (
        "FIELD_ENCRYPTION_KEYS: key 2 is not a Fernet key "
        "(32 url-safe base64-encoded bytes, as Fernet.generate_key() makes)."
    )

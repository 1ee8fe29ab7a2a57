"""Password hashing and policy (no records store needed)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from backend.access.passwords import (
    DEFAULT_HASHER,
    MEMORY_COST_KIB,
    PARALLELISM,
    PASSWORD_MAX,
    TIME_COST,
    PasswordPolicyError,
    check_policy,
    hash_password,
    make_hasher,
    needs_rehash,
    verify_password,
)

CHEAP = make_hasher(time_cost=1, memory_cost=8, parallelism=1)
PHRASE = "mật khẩu của tôi rất dài"


def test_a_hash_is_argon2id_with_the_stated_parameters_and_a_fresh_salt() -> None:
    made = hash_password(PHRASE)
    assert made.startswith(f"$argon2id$v=19$m={MEMORY_COST_KIB},t={TIME_COST},p={PARALLELISM}$")
    assert PHRASE not in made
    assert hash_password(PHRASE, CHEAP) != hash_password(PHRASE, CHEAP)
    assert verify_password(made, PHRASE)
    assert not verify_password(made, PHRASE + " ")
    assert not needs_rehash(made)


def test_composed_and_decomposed_diacritics_are_the_same_password() -> None:
    composed = unicodedata.normalize("NFC", PHRASE)
    decomposed = unicodedata.normalize("NFD", PHRASE)
    assert composed != decomposed
    assert verify_password(hash_password(decomposed, CHEAP), composed, CHEAP)
    assert verify_password(hash_password(composed, CHEAP), decomposed, CHEAP)


GARBLED_HASHES: list[Any] = [None, "", "plain text", "$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB", "$argon2id$" + "x" * 500,
                             "$2b$12$abcdefghijklmnopqrstuu5Q3H1ZpQJx3Q1Jx1a1a1a1a1a1a1a1a", b"$argon2id$", 42, "\ud800"]


@pytest.mark.parametrize("garbled", GARBLED_HASHES, ids=range(len(GARBLED_HASHES)))
def test_a_garbled_hash_never_matches_and_never_raises(garbled: Any) -> None:
    assert verify_password(garbled, PHRASE, CHEAP) is False
    assert isinstance(needs_rehash(garbled, CHEAP), bool)


@pytest.mark.parametrize("password", [None, 42, b"bytes", "", "x" * (PASSWORD_MAX + 1), "x" * 1_000_000, "\ud800" * 12])
def test_an_odd_password_never_matches_and_never_raises(password: Any) -> None:
    made = hash_password("a fine passphrase", CHEAP)
    assert verify_password(made, password, CHEAP) is False


@pytest.mark.parametrize("password", [None, 42, b"bytes", "", "x" * (PASSWORD_MAX + 1), "\ud800" * 12])
def test_hashing_refuses_what_is_not_a_password(password: Any) -> None:
    with pytest.raises(PasswordPolicyError):
        hash_password(password, CHEAP)


def test_hashes_made_with_other_parameters_need_a_rehash() -> None:
    cheap = hash_password(PHRASE, CHEAP)
    assert needs_rehash(cheap) and not needs_rehash(cheap, CHEAP)
    assert verify_password(cheap, PHRASE, DEFAULT_HASHER)  # still verifies: parameters are in the hash


@pytest.mark.parametrize("password", [PHRASE, "x1y" * 4, "y" * 10 + "zw", "a" * 253 + "bcd", "correct horse battery",
                                      "  spaces around ok  ", "emoji 🔑 keys are fine"])
def test_good_passwords_pass_the_policy(password: str) -> None:
    check_policy(password, "ana")


@pytest.mark.parametrize(("password", "user", "message"), [
    ("short", "ana", "at least 12"), ("elevenchars", "ana", "at least 12"),
    ("x" * 256 + "y", "ana", "at most 256"), ("ana.nguyen@desk", "ana.nguyen@desk", "user name"),
    ("my name is ANA NGUYEN", "ana nguyen", "user name"), ("ANA.NGUYEN@DESK", "ana.nguyen@desk", "user name"),
    ("password1234", "ana", "most common"), ("Password1234", "ana", "most common"),
    ("Qwertyuiop123", "ana", "most common"), ("with\ttab inside", "ana", "control"),
    ("line\nbreak inside", "ana", "control"), ("nul\x00inside password", "ana", "control"),
    ("\u2028separator here!!", "ana", "control"), ("abababababab", "ana", "two different"),
    (None, "ana", "expected text"), (123456789012, "ana", "expected text"), (["a" * 12], "ana", "expected text"),
])
def test_weak_passwords_are_refused_with_the_reason(password: Any, user: str, message: str) -> None:
    with pytest.raises(PasswordPolicyError, match=message):
        check_policy(password, user)


def test_a_very_short_user_name_only_refuses_the_identical_password() -> None:
    check_policy("a fine passphrase", "a")  # contains "a" many times: allowed
    check_policy("bo in the back office", "bo")
    with pytest.raises(PasswordPolicyError, match="user name"):
        check_policy("abcdefghijklmn", "abcdefghijklmn")

"""Password hashing (argon2id) and the password policy.

Passwords are compared as NFC-normalised text, so the same password typed with composed or
decomposed diacritics (Vietnamese keyboards produce both) signs in either way.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PASSWORD_MIN: Final = 12
PASSWORD_MAX: Final = 256

# argon2id, 32 MiB, 2 passes, 1 lane: one hash takes a median 73 ms on this 2-core machine
# (9 hashes each of t=2/m=32MiB/p=1: 73 ms; t=3/m=32MiB: 101 ms; argon2-cffi's default
# t=3/m=64MiB/p=4: 160 ms); 90-120 ms while other work loads the machine. Above OWASP's
# minimum (19 MiB, t=2) while a burst of sign-ins cannot starve the web process of CPU.
TIME_COST: Final = 2
MEMORY_COST_KIB: Final = 32 * 1024
PARALLELISM: Final = 1

# The most common passwords of at least PASSWORD_MIN characters in breach lists (compared
# case-insensitively); the length rule already refuses the shorter ones.
COMMON_PASSWORDS: Final[frozenset[str]] = frozenset({
    "123456789012", "1234567890123", "12345678901234", "123456789123", "1234567891011",
    "111111111111", "000000000000", "123123123123", "qwertyuiop12", "qwertyuiop123",
    "qwertyuiopasdfghjkl", "qwertyuiopasdfghjklzxcvbnm", "1q2w3e4r5t6y", "1q2w3e4r5t6y7u",
    "1qaz2wsx3edc", "1qaz2wsx3edc4rfv", "zaq12wsxcde3", "zaq1zaq1zaq1", "password1234",
    "password12345", "password123456", "passwordpassword", "password1234567", "p@ssw0rd1234",
    "passw0rd1234", "iloveyou1234", "letmein12345", "welcome12345", "welcome123456",
    "administrator", "administrator1", "admin1234567", "adminadmin123", "changeme1234",
    "trustno1trustno1", "abcdefghijkl", "abcdefghijklm", "abc123abc123", "abcd1234abcd",
    "aaaaaaaaaaaa", "asdfghjkl123", "asdfghjkl;'", "football1234", "baseball1234",
    "superman1234", "monkey123456", "dragon123456", "sunshine1234", "princess1234",
    "deskboard123", "deskboard1234", "correcthorsebatterystaple", "mật khẩu123456",
    "matkhau123456", "matkhau12345", "matkhau1234", "vietnam12345", "vietnam123456",
})


class PasswordPolicyError(ValueError):
    """A password the policy refuses; the message says what to change."""


def make_hasher(*, time_cost: int = TIME_COST, memory_cost: int = MEMORY_COST_KIB,
                parallelism: int = PARALLELISM) -> PasswordHasher:
    """An argon2id hasher; tests pass tiny parameters to stay fast."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism,
                          type=Type.ID)


DEFAULT_HASHER: Final = make_hasher()


def _normal(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    if not isinstance(password, str) or not password:
        raise PasswordPolicyError("password: expected text")
    if len(password) > PASSWORD_MAX:
        raise PasswordPolicyError(f"password: at most {PASSWORD_MAX} characters")
    try:
        return (hasher or DEFAULT_HASHER).hash(_normal(password))
    except UnicodeEncodeError:  # lone surrogates cannot be encoded
        raise PasswordPolicyError("password: contains characters that are not text") from None


def verify_password(password_hash: str | None, password: str, hasher: PasswordHasher | None = None) -> bool:
    """Whether ``password`` matches; False (never an exception) for a garbled hash or odd input."""
    if not isinstance(password_hash, str) or not isinstance(password, str) or len(password) > PASSWORD_MAX:
        return False
    try:
        return (hasher or DEFAULT_HASHER).verify(password_hash, _normal(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeEncodeError, ValueError):
        return False


def needs_rehash(password_hash: str, hasher: PasswordHasher | None = None) -> bool:
    """Whether the hash was made with other parameters than the hasher's (rehash at next sign-in)."""
    if not isinstance(password_hash, str):
        return True
    try:
        return (hasher or DEFAULT_HASHER).check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError, TypeError, AttributeError, UnicodeError):
        return True


def check_policy(password: object, user_id: str) -> None:
    """Refuse a password that is too short or long, holds control characters, names the user
    or is among the most common passwords."""
    if not isinstance(password, str):
        raise PasswordPolicyError("password: expected text")
    password = _normal(password)
    if len(password) < PASSWORD_MIN:
        raise PasswordPolicyError(f"password: at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise PasswordPolicyError(f"password: at most {PASSWORD_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in password):
        raise PasswordPolicyError("password: control characters and line breaks are not allowed")
    folded = password.casefold()
    name = user_id.casefold() if isinstance(user_id, str) else ""
    # A one- or two-letter user name is inside almost every password: only equality counts then.
    if name and (folded == name or (len(name) >= 3 and name in folded)):
        raise PasswordPolicyError("password: must not contain your user name")
    if folded in COMMON_PASSWORDS or folded.strip() in COMMON_PASSWORDS:
        raise PasswordPolicyError("password: this is one of the most common passwords; choose another")
    if len(set(folded)) <= 2:
        raise PasswordPolicyError("password: use more than two different characters")

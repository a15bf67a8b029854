"""Password hashing (argon2id) and the password policy."""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
MAX_LENGTH = 128


@lru_cache
def hasher(time_cost: int, memory_cost_kib: int, parallelism: int) -> PasswordHasher:
    if time_cost < 2 or memory_cost_kib < 19456:
        raise ValueError("argon2id needs t >= 2 and m >= 19 MiB (PRODUCT.md section 2)")
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism)


@lru_cache
def common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common leaked passwords; we refuse all of them.
    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common(password: str) -> bool:
    return password.lower() in common_passwords()


def verify(ph: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return ph.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

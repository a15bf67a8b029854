"""Password hashing (argon2id) and the password policy."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 8
MAX_LENGTH = 128
#: zxcvbn's "safely unguessable": about 10^8 guesses or more.
MIN_SCORE = 3
#: zxcvbn refuses longer input to stay fast; a longer password is at least as strong as its start.
SCORED_LENGTH = 72
#: Words an attacker of this site tries first, whoever the user is.
SITE_WORDS = ("lianxin",)
#: Passwords anyone can read: the demo's, printed by `flask demo seed` and in the README.
PUBLISHED = frozenset({"lianxin-demo-2026"})
# zxcvbn keeps the user inputs of the current call in a module-level dictionary.
_zxcvbn_lock = threading.Lock()


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


def is_published(password: str) -> bool:
    return password.lower() in PUBLISHED


def guessability(password: str, personal: Iterable[str]) -> tuple[int, bool]:
    """Return zxcvbn's score (0 to 4) and whether the user's own details made the password weak."""
    personal = {word.lower() for word in personal if word}
    with _zxcvbn_lock:
        result = zxcvbn(password[:SCORED_LENGTH], user_inputs=[*personal, *SITE_WORDS])
    used = any(match.get("dictionary_name") == "user_inputs" and match["matched_word"] in personal
               for match in result["sequence"])
    return result["score"], used


def verify(ph: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return ph.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

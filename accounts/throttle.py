"""Sign-in throttling after OWASP's device cookies.

A browser that has signed in to an account carries a device entry for it, and its attempts on that account are
judged by its own failures alone: guessing elsewhere never holds it up. Every other browser is untrusted: past a
few failures per account, and per account and address, each further attempt waits twice as long as the one
before. Failed attempts from untrusted browsers at one address, all accounts together, are limited too. The
counts live in the rate limiter's storage, which every node shares.
"""
from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from itsdangerous import Signer
from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter

#: How many accounts one browser keeps device entries for (a family's shared tablet); the oldest makes room.
DEVICE_ENTRIES = 5
ENTRY_SEPARATOR = ":"
ENTRY = re.compile(r"[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,128}")
#: Past this many doublings the delay is the longest one anyway; the cap keeps the arithmetic small.
MAX_DOUBLINGS = 32


def login_key(login: str) -> str:
    """Return the login as accounts.users.authenticate looks it up, so that spellings of one count as one."""
    return login.strip().lower()


class DeviceCookies:
    """Device entries: a nonce and HMAC(key, login|nonce); the login itself stays out of the browser."""

    def __init__(self, key: bytes) -> None:
        self._signer = Signer(key, salt="device-cookie", digest_method=hashlib.sha256)

    def _signature(self, login: str, nonce: str) -> str:
        return self._signer.get_signature(f"{login_key(login)}|{nonce}").decode()

    def nonce_for(self, cookie: str, login: str) -> str | None:
        """Return the nonce of the cookie's entry signed for this login, if it has one."""
        for entry in cookie.split(ENTRY_SEPARATOR)[-DEVICE_ENTRIES:]:
            if not ENTRY.fullmatch(entry):
                continue
            nonce, _, signature = entry.partition(".")
            if self._signer.verify_signature(f"{login_key(login)}|{nonce}", signature):
                return nonce
        return None

    def issue(self, cookie: str, login: str) -> str:
        """Return the cookie with a fresh entry for this login in place of its old one."""
        old = self.nonce_for(cookie, login)
        kept = [entry for entry in cookie.split(ENTRY_SEPARATOR)
                if ENTRY.fullmatch(entry) and entry.partition(".")[0] != old]
        nonce = secrets.token_urlsafe(16)
        return ENTRY_SEPARATOR.join(kept[-(DEVICE_ENTRIES - 1):] + [f"{nonce}.{self._signature(login, nonce)}"])


@dataclass(frozen=True)
class Policy:
    """How many failures each browser gets before waiting, and over how long they are counted ("5 per day")."""

    per_device: RateLimitItem
    per_account: RateLimitItem
    per_account_and_address: RateLimitItem
    #: Failures from untrusted browsers at one address, all accounts together: a limit, not a delay.
    per_address: RateLimitItem
    #: Seconds to wait after the last failure allowed free; doubled by each further one, up to max_delay.
    first_delay: int
    max_delay: int

    @classmethod
    def from_settings(cls, settings: Mapping) -> Policy:
        return cls(
            per_device=parse(settings["LOGIN_LIMIT_PER_DEVICE"]),
            per_account=parse(settings["LOGIN_LIMIT_PER_ACCOUNT"]),
            per_account_and_address=parse(settings["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"]),
            per_address=parse(settings["LOGIN_LIMIT_PER_IP"]),
            first_delay=settings["LOGIN_DELAY_SECONDS"],
            max_delay=settings["LOGIN_MAX_DELAY_SECONDS"],
        )


@dataclass(frozen=True)
class Attempt:
    login: str
    address: str
    #: The nonce of the browser's device entry for this login, checked; None for an untrusted browser.
    device: str | None

    @property
    def trusted(self) -> bool:
        return self.device is not None


class LoginThrottle:
    """Decide whether a sign-in attempt may check its password now, and count its failures."""

    def __init__(self, storage: Storage, policy: Policy, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.policy = policy
        self.clock = clock
        self.per_address = MovingWindowRateLimiter(storage)

    def _counters(self, attempt: Attempt) -> list[tuple[RateLimitItem, str]]:
        login = login_key(attempt.login)
        if attempt.trusted:
            return [(self.policy.per_device, self.policy.per_device.key_for("login-device", attempt.device))]
        return [
            (self.policy.per_account, self.policy.per_account.key_for("login-account", login)),
            (self.policy.per_account_and_address,
             self.policy.per_account_and_address.key_for("login-account-address", login, attempt.address)),
        ]

    def _now(self) -> int:
        return int(self.clock())

    def wait(self, attempt: Attempt) -> int:
        """Return the seconds this attempt must wait before its password is checked; 0 when it may go ahead."""
        now = self._now()
        waits = [0]
        for _limit, key in self._counters(attempt):
            # Each failure past the free ones records when the next attempt may come, under its own number.
            if failures := self.storage.get(key):
                waits.append(self.storage.get(f"{key}/until/{failures}") - now)
        if not attempt.trusted and not self.per_address.test(self.policy.per_address, "login-ip", attempt.address):
            reset_at, _remaining = self.per_address.get_window_stats(self.policy.per_address, "login-ip",
                                                                     attempt.address)
            waits.append(math.ceil(reset_at - self.clock()))
        return max(waits)

    def failed(self, attempt: Attempt) -> None:
        """Count a refused password against the browser's counters and, untrusted, its address."""
        now = self._now()
        for limit, key in self._counters(attempt):
            failures = self.storage.incr(key, limit.get_expiry())
            if failures >= limit.amount:
                doublings = min(failures - limit.amount, MAX_DOUBLINGS)
                delay = min(self.policy.first_delay * 2 ** doublings, self.policy.max_delay)
                # A key per failure number: written once, so two nodes failing at once cannot add up their times.
                self.storage.incr(f"{key}/until/{failures}", delay, amount=now + delay)
        if not attempt.trusted:
            self.per_address.hit(self.policy.per_address, "login-ip", attempt.address)

    def succeeded(self, attempt: Attempt) -> None:
        """Forget the browser's own failures: its device entry's, or its account's at its address."""
        _limit, key = self._counters(attempt)[-1]
        # The latest wait may outlive its last second by a fraction: gone, it cannot add to the next one's time.
        self.storage.clear(f"{key}/until/{self.storage.get(key)}")
        self.storage.clear(key)

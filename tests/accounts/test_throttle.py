"""Sign-in throttling after OWASP's device cookies, on the limits storage with a clock the test moves."""
from __future__ import annotations

import time

import pytest
from limits import parse
from limits.storage import MemoryStorage

from accounts.throttle import Attempt, DeviceCookies, LoginThrottle, Policy
from tests.conftest import PASSWORD, Client
from tests.helpers import soup

KEY = b"k" * 32
ADDRESS = "198.51.100.7"
POLICY = Policy(
    per_device=parse("3 per day"), per_account=parse("6 per day"), per_account_and_address=parse("2 per day"),
    per_address=parse("8 per hour"), first_delay=60, max_delay=300,
)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return LoginThrottle(MemoryStorage(), POLICY, clock)


def untrusted(login: str = "member.chunhui", address: str = ADDRESS) -> Attempt:
    return Attempt(login, address, device=None)


def test_an_untrusted_browser_waits_twice_as_long_after_each_failure_past_the_first_few(throttle, clock):
    attempt = untrusted()
    for _ in range(2):
        assert throttle.wait(attempt) == 0
        throttle.failed(attempt)
    waits = []
    for _ in range(4):
        waits.append(throttle.wait(attempt))
        assert throttle.wait(attempt) == waits[-1]  # asking again does not move it
        clock.now += waits[-1]
        assert throttle.wait(attempt) == 0
        throttle.failed(attempt)
    assert waits == [60, 120, 240, 300]  # doubling, up to the longest delay


def test_the_login_is_counted_as_it_is_looked_up(throttle):
    for _ in range(2):
        throttle.failed(untrusted(" Member.Chunhui "))
    assert throttle.wait(untrusted("member.chunhui")) == 60


def test_failures_from_many_addresses_slow_every_untrusted_browser_but_not_a_trusted_one(throttle):
    for n in range(6):
        throttle.failed(untrusted(address=f"203.0.113.{n}"))
    assert throttle.wait(untrusted(address="192.0.2.1")) == 60
    assert throttle.wait(Attempt("member.chunhui", "192.0.2.1", device="home")) == 0


def test_a_device_that_failed_too_often_waits_alone(throttle):
    stolen = Attempt("member.chunhui", ADDRESS, device="stolen")
    for _ in range(3):
        throttle.failed(stolen)
    assert throttle.wait(stolen) == 60
    assert throttle.wait(Attempt("member.chunhui", ADDRESS, device="home")) == 0
    assert throttle.wait(untrusted()) == 0
    assert throttle.wait(untrusted(address="192.0.2.1")) == 0


def test_one_address_failing_for_many_accounts_is_held_up_but_its_trusted_browsers_are_not(throttle, clock):
    for n in range(8):
        throttle.failed(untrusted(f"1380000000{n}"))
    clock.now = time.time()  # the window is kept by the storage's own clock
    assert 3590 < throttle.wait(untrusted("13800000009")) <= 3600
    assert throttle.wait(Attempt("13800000009", ADDRESS, device="home")) == 0
    assert throttle.wait(untrusted("13800000009", address="192.0.2.1")) == 0


def test_signing_in_forgets_the_browsers_own_failures_only(throttle):
    for n in range(3):
        throttle.failed(untrusted(address=f"203.0.113.{n}"))
    throttle.failed(untrusted())
    throttle.succeeded(untrusted())
    throttle.failed(untrusted())
    assert throttle.wait(untrusted()) == 0  # one failure here since signing in, not two
    # The account's failures from elsewhere still count: one more anywhere and untrusted browsers wait.
    throttle.failed(untrusted(address="192.0.2.1"))
    assert throttle.wait(untrusted()) == 60


def test_a_device_entry_vouches_for_its_own_login_only():
    cookies = DeviceCookies(KEY)
    cookie = cookies.issue("", "member.chunhui")
    nonce = cookies.nonce_for(cookie, "member.chunhui")
    assert nonce and nonce == cookies.nonce_for(cookie, " MEMBER.chunhui")
    assert "member" not in cookie  # the login stays out of the browser
    assert cookies.nonce_for(cookie, "sec.chunhui") is None
    assert DeviceCookies(b"o" * 32).nonce_for(cookie, "member.chunhui") is None


@pytest.mark.parametrize("forged", [
    "", "garbage", "nonce.", ".signature", "nonce.c2lnbmF0dXJl", "a.b.c:d.e", ":" * 50, "x" * 5000,
])
def test_a_forged_device_cookie_vouches_for_nobody(forged):
    assert DeviceCookies(KEY).nonce_for(forged, "member.chunhui") is None


def test_a_browser_keeps_a_device_entry_for_each_of_a_few_accounts():
    cookies = DeviceCookies(KEY)
    cookie = cookies.issue("", "13800000001")
    first = cookies.nonce_for(cookie, "13800000001")
    cookie = cookies.issue(cookie, "13800000002")
    cookie = cookies.issue(cookie, "13800000001")
    renewed = cookies.nonce_for(cookie, "13800000001")
    assert renewed and renewed != first and len(cookie.split(":")) == 2
    for n in range(3, 10):
        cookie = cookies.issue(cookie, f"1380000000{n}")
    assert cookies.nonce_for(cookie, "13800000009")
    assert cookies.nonce_for(cookie, "13800000001") is None  # the oldest made room


# --- the sign-in page ----------------------------------------------------------------------

DEVICE_COOKIE = "device"
UNTRUSTED_SAYS = "has signed in to this account before"


def browser(app, address: str) -> Client:
    """A browser of its own, with its own cookies, at an address."""
    raw = app.test_client()
    raw.environ_base["REMOTE_ADDR"] = address
    return Client(raw)


def sign_in(browser: Client, username: str, password: str = PASSWORD):
    return browser.post("/login", {"username": username, "password": password})


def device_cookie(browser: Client) -> str | None:
    cookie = browser.raw.get_cookie(DEVICE_COOKIE, path="/login")
    return cookie.value if cookie else None


def test_five_wrong_passwords_from_elsewhere_leave_the_accounts_own_browser_signing_in(app, world):
    home = browser(app, "192.0.2.10")
    home.login("member")
    home.logout()
    attacker = browser(app, "203.0.113.66")
    assert [sign_in(attacker, "member", "guess").status_code for _ in range(5)] == [422] * 5
    assert sign_in(attacker, "member").status_code == 429
    assert sign_in(home, "member").status_code == 303


def test_the_device_cookie_is_set_at_sign_in_only_and_for_the_login_page_only(app, world):
    app.config["SESSION_COOKIE_SECURE"] = True
    home = browser(app, "192.0.2.10")

    def device_cookies_set(response) -> list[str]:
        return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{DEVICE_COOKIE}=")]

    assert device_cookies_set(sign_in(home, "member", "wrong")) == []
    (set_cookie,) = device_cookies_set(sign_in(home, "member"))
    attributes = {part.strip().split("=")[0] for part in set_cookie.split(";")}
    assert {"HttpOnly", "Secure", "Max-Age", "Expires"} <= attributes
    assert "Path=/login" in set_cookie and "SameSite=Lax" in set_cookie
    assert "member" not in set_cookie


def test_guessing_from_many_addresses_slows_untrusted_browsers_but_not_the_accounts_own(app, world):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "6 per day"
    home = browser(app, "192.0.2.10")
    home.login("member")
    home.logout()
    for n in range(3):
        attacker = browser(app, f"203.0.113.{n}")
        assert [sign_in(attacker, "member", "guess").status_code for _ in range(2)] == [422, 422]
    newcomer = sign_in(browser(app, "198.51.100.1"), "member")
    assert newcomer.status_code == 429
    assert newcomer.headers["Retry-After"] == "60"
    message = soup(newcomer).select_one("article p").get_text()
    assert "1 minute" in message and UNTRUSTED_SAYS in message
    assert sign_in(home, "member").status_code == 303


def test_an_untrusted_browser_is_told_when_to_try_again_even_with_the_right_password(app, world):
    client = browser(app, "192.0.2.20")
    assert [sign_in(client, "member", "wrong").status_code for _ in range(5)] == [422] * 5
    refused = sign_in(client, "member")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert UNTRUSTED_SAYS in refused.get_data(as_text=True)
    assert device_cookie(client) is None


def test_a_forged_or_another_accounts_device_cookie_vouches_for_nothing(app, world):
    client = browser(app, "192.0.2.30")
    client.login("resident")
    client.logout()
    for _ in range(5):
        sign_in(client, "member", "wrong")
    assert sign_in(client, "member").status_code == 429  # the resident's entry is not the member's
    for forged in (
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        DeviceCookies(app.config["SECRET_KEY"].encode()).issue("", "member"),  # signed with another key
    ):
        client.raw.set_cookie(DEVICE_COOKIE, forged, path="/login")
        assert sign_in(client, "member").status_code == 429, forged


def test_a_browser_whose_device_cookie_failed_too_often_waits_alone(app, world):
    app.config["LOGIN_LIMIT_PER_DEVICE"] = "3 per day"
    stolen = browser(app, "192.0.2.40")
    stolen.login("member")
    stolen.logout()
    assert [sign_in(stolen, "member", "guess").status_code for _ in range(3)] == [422] * 3
    refused = sign_in(stolen, "member")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert "from this browser" in refused.get_data(as_text=True)
    assert sign_in(browser(app, "192.0.2.40"), "member").status_code == 303
    assert sign_in(browser(app, "198.51.100.2"), "member").status_code == 303

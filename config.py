"""Configuration classes; every setting can come from the environment."""
import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = f"sqlite:///{BASE_DIR / 'instance' / 'lianxin.sqlite3'}"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


class Config:
    #: Signs CSRF tokens (sessions live on the server). Unset: made once into instance/secret.key (mode 0600).
    SECRET_KEY = os.environ.get("SECRET_KEY")
    #: Keys the invitation codes' hashes (32 bytes, urlsafe base64), apart from SECRET_KEY so that rotating
    #: the session key keeps every issued code valid. Unset: made once into instance/code.key.
    CODE_KEY = os.environ.get("CODE_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    # hide_parameters keeps answers and other values out of SQL error messages and logs.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}
    #: Seconds a SQLite writer waits for the lock before giving up.
    SQLITE_BUSY_TIMEOUT = _env_int("SQLITE_BUSY_TIMEOUT", 15)

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # Sign-in throttling (accounts/throttle.py): "N per T" lets N wrong passwords through, counted over T from
    # the first; past them each attempt waits LOGIN_DELAY_SECONDS, doubled by every further failure.
    #: Browsers the account never signed in from, all together: bounds a botnet's guesses at one account.
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "20 per day")
    #: The same at one address: a lone guesser is slowed long before the account's own count is reached.
    LOGIN_LIMIT_PER_ACCOUNT_AND_IP = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT_AND_IP", "5 per day")
    #: A browser that signed in to the account before (its device cookie), which nothing else slows.
    LOGIN_LIMIT_PER_DEVICE = os.environ.get("LOGIN_LIMIT_PER_DEVICE", "10 per day")
    LOGIN_DELAY_SECONDS = _env_int("LOGIN_DELAY_SECONDS", 60)
    LOGIN_MAX_DELAY_SECONDS = _env_int("LOGIN_MAX_DELAY_SECONDS", 3600)
    #: Wrong passwords from untrusted browsers at one address, all accounts together, then 429 until the hour
    #: moves on: a community office or a carrier's NAT puts hundreds of people behind one address.
    LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "300 per hour")
    #: Keys the device cookies' signatures (32 bytes, urlsafe base64), apart from SECRET_KEY so that rotating
    #: either leaves the other alone. Unset: made once into instance/device.key.
    DEVICE_KEY = os.environ.get("DEVICE_KEY")
    DEVICE_COOKIE_DAYS = _env_int("DEVICE_COOKIE_DAYS", 365)
    REGISTER_LIMIT_PER_IP = os.environ.get("REGISTER_LIMIT_PER_IP", "30 per 15 minutes")
    #: Requests filed without an account and accepted, per address; residents signed in are not counted.
    FILING_LIMIT_PER_IP = os.environ.get("FILING_LIMIT_PER_IP", "20 per hour")
    BALLOT_LIMIT_PER_IP = os.environ.get("BALLOT_LIMIT_PER_IP", "60 per minute")

    # Argon2id cost; PRODUCT.md requires at least t=2 and 19 MiB.
    ARGON2_TIME_COST = _env_int("ARGON2_TIME_COST", 3)
    ARGON2_MEMORY_COST_KIB = _env_int("ARGON2_MEMORY_COST_KIB", 65536)
    ARGON2_PARALLELISM = _env_int("ARGON2_PARALLELISM", 4)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # The cookie holds only the session's id, which never changes while it lasts: no need to re-send it.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    #: Sessions live on the server: in Redis at this URL when set (several nodes), else in the database.
    SESSION_REDIS_URL = os.environ.get("SESSION_REDIS_URL", "")
    #: Signed-in sessions end after this long without a request...
    SESSION_IDLE_TIMEOUT = timedelta(minutes=_env_int("SESSION_IDLE_MINUTES", 30))
    #: ...and this long after signing in, however active.
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=_env_int("SESSION_ABSOLUTE_HOURS", 12))
    #: How long a session's data is kept on the server and its cookie in the browser.
    PERMANENT_SESSION_LIFETIME = SESSION_ABSOLUTE_TIMEOUT
    HSTS = False

    WTF_CSRF_TIME_LIMIT = None  # the session's idle timeout already bounds a token's life
    #: A form's one-time key (formkeys.py) is accepted this many days after its page was shown; claimed keys
    #: are kept as long, so that a replay within them stores nothing.
    FORM_KEY_DAYS = _env_int("FORM_KEY_DAYS", 2)
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024  # three 5 MB photos and the form

    #: Where residents' photos are stored; never under static/.
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", str(BASE_DIR / "instance" / "uploads"))
    #: Photos with more pixels are refused before they are decoded (a small PNG can decode to gigabytes).
    PHOTO_MAX_PIXELS = _env_int("PHOTO_MAX_PIXELS", 25_000_000)
    WORKFLOW_ESCALATION_GRACE_HOURS = _env_int("WORKFLOW_ESCALATION_GRACE_HOURS", 24)
    WORKFLOW_AUTO_CLOSE_DAYS = _env_int("WORKFLOW_AUTO_CLOSE_DAYS", 7)

    #: The ballot-box key (32 bytes, urlsafe base64) that seals each anonymous survey's private key; kept
    #: outside the database. Unset: made once into instance/ballot.key (mode 0600). Back it up apart.
    BALLOT_KEY = os.environ.get("BALLOT_KEY")

    #: Where queued tasks wait: a SQLite file by default, `redis://…` in production.
    TASK_QUEUE_URL = os.environ.get("TASK_QUEUE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'tasks.sqlite3'}")
    #: Run each task at once where it is queued, without a consumer (tests; `flask` commands).
    TASKS_IMMEDIATE = os.environ.get("TASKS_IMMEDIATE", "0") == "1"

    LANGUAGES = ("en", "zh_Hans")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")


class TestConfig(Config):
    TESTING = True
    UPLOAD_FOLDER = "/nonexistent/uploads"  # tests bind a temporary folder
    SECRET_KEY = "test-only-secret-key-of-thirty-two-characters-or-more"
    CODE_KEY = "dGVzdC1vbmx5LWNvZGUtaGFzaC1rZXktMzItYnl0ZXM="  # tests only: 32 bytes in base64
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    RATELIMIT_STORAGE_URI = "memory://"
    WTF_CSRF_ENABLED = True
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST_KIB = 19456
    ARGON2_PARALLELISM = 1
    TASKS_IMMEDIATE = True
    BALLOT_KEY = "dGVzdC1vbmx5LWJhbGxvdC1ib3gta2V5LTMyLWJ5dGU="  # tests only: 32 bytes in base64
    DEVICE_KEY = "dGVzdC1vbmx5LWRldmljZS1jb29raWUta2V5LTMyYnk="  # tests only: 32 bytes in base64


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    HSTS = True

    @classmethod
    def check(cls) -> None:
        """Refuse to start without a secret key every node shares (one made per node would sign nodes apart)."""
        if not os.environ.get("SECRET_KEY") or len(cls.SECRET_KEY or "") < 32:
            raise RuntimeError("ProductionConfig needs SECRET_KEY set to a random string of at least 32 characters.")

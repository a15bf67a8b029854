"""Fixtures: an app per test on SQLite and on PostgreSQL, clients, factories."""
from __future__ import annotations

import os
import re
from datetime import date

import pytest
import sqlalchemy as sa

import config
from accounts.models import OrgLevel, Role
from accounts.organizations import create_organization
from accounts.terms import appoint_secretary
from accounts.users import GrantSpec, create_user
from app import create_app
from extensions import db
from keys import decode_key

PASSWORD = "correct-horse-battery"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: The ballot-box key of TestConfig, for opening surveys in tests.
BOX_KEY = decode_key(config.TestConfig.BALLOT_KEY, "BALLOT_KEY")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FORM_KEY_RE = re.compile(r'name="form_key"[^>]*value="([^"]+)"')
#: The forms that carry a one-time key (formkeys.py): a browser sends the one its page gave it.
KEYED_FORMS = re.compile(r"/cases/\d+/actions|/track/[^/]+/(answer|feedback|withdraw|comment)|/requests/new")

_postgres_ready: bool | None = None


def _postgres_available() -> bool:
    global _postgres_ready
    if _postgres_ready is None:
        engine = sa.create_engine(TEST_DATABASE_URL)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text("SELECT 1"))
            _postgres_ready = True
        except sa.exc.OperationalError:
            _postgres_ready = False
        finally:
            engine.dispose()
    return _postgres_ready


def _reset_postgres_schema(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_schema():
    """Create the tables on PostgreSQL once per run."""
    if not _postgres_available():
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but {TEST_DATABASE_URL} is unreachable")
        pytest.skip(f"PostgreSQL unreachable at {TEST_DATABASE_URL}")
    _reset_postgres_schema(TEST_DATABASE_URL)
    app = create_app(_config_for(TEST_DATABASE_URL))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield TEST_DATABASE_URL


def _config_for(url: str, upload_folder: str = "") -> type[config.TestConfig]:
    settings = {"SQLALCHEMY_DATABASE_URI": url}
    if upload_folder:
        settings["UPLOAD_FOLDER"] = upload_folder
    return type("BoundTestConfig", (config.TestConfig,), settings)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        yield request.getfixturevalue("postgres_schema")


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(_config_for(database_url, str(tmp_path / "uploads")))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.create_all()
        yield app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                # Triggers off for this transaction (superuser only): the audit log's refuses TRUNCATE.
                connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
                connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


class Client:
    """A test client that sends the CSRF token the way a browser form would.

    Each request runs in its own app context, as in production: otherwise it would
    share `g` (cached user, CSRF token) and the database session with the test.
    """

    def __init__(self, flask_client) -> None:
        self.raw = flask_client
        self._token: str | None = None

    def _request(self, method: str, url: str, **kwargs):
        with self.raw.application.app_context():
            response = getattr(self.raw, method)(url, **kwargs)
            response.get_data()  # buffer the body, then release files it streamed from
            response.close()
        # End the test's own transaction so it sees what the request wrote.
        db.session.rollback()
        return response

    def get(self, url: str, **kwargs):
        return self._request("get", url, **kwargs)

    def token(self) -> str:
        if self._token is None:
            page = self.get("/").get_data(as_text=True)
            self._token = CSRF_RE.search(page).group(1)
        return self._token

    def form_key(self) -> str:
        """Return a fresh one-time form key from a page with a keyed form, as a browser gets one."""
        page = self.get("/requests/new").get_data(as_text=True)
        return FORM_KEY_RE.search(page).group(1)

    def post(self, url: str, data: dict | None = None, csrf: bool = True, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token())
        if KEYED_FORMS.fullmatch(url) and "form_key" not in data:
            data["form_key"] = self.form_key()
        return self._request("post", url, data=data, **kwargs)

    def login(self, username: str, password: str = PASSWORD):
        self._token = None
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        self._token = None  # the session was renewed at login
        return response

    def logout(self):
        response = self.post("/logout")
        self._token = None
        return response


@pytest.fixture
def client(app):
    return Client(app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Factory:
    """Create organizations, people and terms through the real services."""

    def __init__(self, app) -> None:
        self.ph = __import__("accounts.auth", fromlist=["password_hasher"]).password_hasher()
        self._counter = 0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def organization(self, level: OrgLevel = OrgLevel.community, parent=None, name: str | None = None):
        if parent is None and level != OrgLevel.district:
            parent = self.organization(level.parent_level)
        organization = create_organization(
            None, name=name or f"{level.value} {self._next()}", level=level, parent_id=parent.id if parent else None
        )
        db.session.commit()
        return organization

    def user(self, *roles: tuple[Role, object], username: str | None = None, name: str | None = None,
             phone: str | None = None, password: str = PASSWORD):
        n = self._next()
        user = create_user(
            None, username=username or f"user{n}", name=name or f"Person {n}", phone=phone, password=password,
            grants=[GrantSpec(role, org.id if org is not None else None) for role, org in roles], ph=self.ph,
        )
        db.session.commit()
        return user

    def admin(self, **kwargs):
        return self.user((Role.admin, None), **kwargs)

    def term(self, organization, user, start: date = date(2024, 1, 1)):
        term = appoint_secretary(None, organization, user, start)
        db.session.commit()
        return term


@pytest.fixture
def make(app):
    return Factory(app)


def png_bytes(color: str = "red", size: tuple[int, int] = (8, 8)) -> bytes:
    """Return a small real PNG image."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def world(make, app):
    """A small tree with one person of each role, a term, a category and a case with a photo."""
    from pathlib import Path

    from db import utcnow
    from workflow import filing
    from workflow.models import Category, Priority

    district = make.organization(OrgLevel.district, name="District")
    township = make.organization(OrgLevel.township, parent=district, name="Township")
    community = make.organization(parent=township, name="Spring")
    other_township = make.organization(OrgLevel.township, parent=district, name="Other township")
    other_community = make.organization(parent=other_township, name="Autumn")
    member = make.user((Role.member, community), username="member")
    term = make.term(community, member)
    resident = make.user((Role.resident, community), username="resident")
    category = Category(name="路灯", name_en="Street lights")
    db.session.add(category)
    db.session.flush()
    case = filing.file_case(
        resident, category_id=category.id, priority=Priority.normal, title="Lamp out at gate 2",
        description="The lamp has been dark for a week.", address="Gate 2", contact_name=resident.name,
        contact_phone="13800000000", organization_id=None,
        photos=[filing.Upload(png_bytes(), "lamp.png")],
        upload_dir=Path(app.config["UPLOAD_FOLDER"]), now=utcnow(),
    )
    db.session.commit()
    evaluator = make.user((Role.evaluator, township), username="evaluator")
    return {
        "district": district, "township": township, "community": community, "other_community": other_community,
        "admin": make.admin(username="admin"),
        "evaluator": evaluator,
        "member": member,
        "other_member": make.user((Role.member, other_community), username="other.member"),
        "assignee": make.user((Role.member, community), username="assignee"),
        "resident": resident,
        "other_resident": make.user((Role.resident, community), username="other.resident"),
        "term": term,
        "category": category,
        "case": case,
    }


@pytest.fixture
def survey(world):
    """An open democratic evaluation of the world's community, by the township's evaluator."""
    return _open_evaluation(world["evaluator"], world["community"])


def _open_evaluation(evaluator, community):
    """Open a democratic evaluation of the community's secretary, running for a week."""
    from datetime import timedelta

    from db import utcnow
    from surveys.builder import create_survey, set_targets
    from surveys.models import Anonymity, SurveyKind
    from surveys.transitions import open_survey

    now = utcnow()
    survey = create_survey(
        evaluator, title="Evaluation of the secretary", description="", kind=SurveyKind.democratic_evaluation,
        anonymity=Anonymity.anonymous, opens_at=now, closes_at=now + timedelta(days=7), min_group_size=5,
        owner_organization_id=None,
    )
    set_targets(evaluator, survey, [community.id])
    open_survey(evaluator, survey, now, box_key=BOX_KEY)
    db.session.commit()
    return survey

"""What the app accepts: ids the database can hold, text without control characters, in every form."""
from __future__ import annotations

import pytest
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from wtforms import DateField, DateTimeLocalField, HiddenField, IntegerField, PasswordField, StringField, TextAreaField

import config
import inputs
from app import create_app
from inputs import MAX_INTEGER, Form, id_choice, positive_integer


@pytest.fixture(scope="module")
def app():
    """An app for routing and forms only: these checks need no database."""
    return create_app(type("RoutingConfig", (config.TestConfig,), {"SQLALCHEMY_DATABASE_URI": "sqlite://"}))


@pytest.mark.parametrize("text, number", [
    ("1", 1), ("2147483647", MAX_INTEGER), ("0042", 42),
    ("0", None), ("2147483648", None), ("99999999999999999999", None), ("-1", None), ("", None), ("1e3", None),
    ("１", None), ("²", None), (" 1", None), ("9" * 5000, None),
])
def test_positive_integer_reads_only_what_an_id_can_be(text, number):
    assert positive_integer(text) == number


def test_a_chosen_id_out_of_range_is_an_invalid_choice():
    assert id_choice("") is None and id_choice(None) is None and id_choice(7) == 7
    with pytest.raises(ValueError):
        id_choice("2147483648")


def test_the_largest_id_is_routed(app):
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/organizations/2147483647") == ("accounts.organization", {"organization_id": MAX_INTEGER})


@pytest.mark.parametrize("number", ["2147483648", "0", "-1", "9" * 5000, "１"])
def test_route_ids_the_database_cannot_hold_match_no_route(app, number):
    with pytest.raises(NotFound):
        app.url_map.bind("localhost").match(f"/organizations/{number}")


class Sample(Form):
    class Meta:
        csrf = False

    line = StringField()
    secret = PasswordField()
    text = TextAreaField()
    hidden = HiddenField()
    number = IntegerField()
    day = DateField()
    moment = DateTimeLocalField(format="%Y-%m-%dT%H:%M")


def _validated(app, **data):
    with app.test_request_context():
        form = Sample(MultiDict(data))
        form.validate()
        return form


@pytest.mark.parametrize("field", ["line", "secret", "text"])
@pytest.mark.parametrize("value", ["a\x00b", "\x1b[2J", "\x7f", "\x85"])
def test_text_fields_refuse_control_characters(app, field, value):
    form = _validated(app, **{field: value})
    assert form.errors[field] == ["This field contains characters that are not allowed."]


def test_multi_line_text_keeps_tabs_and_line_breaks_and_every_field_keeps_other_scripts(app):
    form = _validated(app, text="第一行\r\n\tsecond", line="\u202e😀 社区")
    assert form.errors == {}
    assert _validated(app, line="a\tb").errors == {"line": ["This field contains characters that are not allowed."]}


def test_a_hidden_field_with_control_characters_is_dropped(app):
    assert _validated(app, hidden="/cases\x00").hidden.data == ""


@pytest.mark.parametrize("value, valid", [("2147483647", True), ("-2147483648", True), ("2147483648", False),
                                          ("99999999999999999999", False)])
def test_whole_numbers_must_fit_the_database(app, value, valid):
    form = _validated(app, number=value)
    assert ("number" not in form.errors) is valid


@pytest.mark.parametrize("field, value, valid", [
    ("day", "1900-01-01", True), ("day", "2999-12-31", True), ("day", "1899-12-31", False), ("day", "0001-01-01", False),
    ("moment", "2026-03-01T09:00", True), ("moment", "0001-01-01T00:00", False), ("moment", "9999-12-31T23:59", False),
])
def test_dates_must_be_ones_a_time_zone_can_shift(app, field, value, valid):
    """Year 1 or 9999 moved into UTC leaves what datetime can hold."""
    form = _validated(app, **{field: value})
    assert form.errors.get(field, []) == ([] if valid else ["Enter a date from the year 1900 to 2999."])


def _subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def test_every_form_of_the_app_refuses_control_characters(app):
    """Every form derives from inputs.Form; a plain FlaskForm would let NUL through to the database."""
    ours = [form for form in _subclasses(FlaskForm) if form.__module__.split(".")[0] in
            ("accounts", "workflow", "surveys", "evaluation", "demo")]
    assert len(ours) > 20
    assert [f"{form.__module__}.{form.__name__}" for form in ours if not issubclass(form, inputs.Form)] == []

"""What the app accepts from URLs, query strings and forms: ids the database holds, text without control characters.

Ids are SQL INTEGER (PostgreSQL int4) counted from 1, so any other number in a URL names nothing: it is a 404
before a query is made, rather than an overflow in the database driver. Text never holds control characters:
PostgreSQL refuses NUL, and none of them is typed by a person (multi-line text keeps tabs and line breaks).
Whole numbers in forms fit an INTEGER column, and dates lie in years a time zone can shift.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.routing import IntegerConverter, ValidationError
from wtforms import DateTimeField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import StopValidation

from errors import ValidationFailed

#: The largest id, page number or count the database's INTEGER columns hold.
MAX_INTEGER = 2**31 - 1
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Control characters less tab, line feed and carriage return, which multi-line text keeps.
CONTROL_CHARACTERS_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NOT_ALLOWED = _l("This field contains characters that are not allowed.")
OUT_OF_RANGE = _l("This number is out of range.")
#: Years a date field takes: a time zone shifts year 1 or 9999 out of what datetime holds, and no date of the
#: app's (terms, surveys, periods) lies outside these.
YEARS = range(1900, 3000)


def positive_integer(text: str) -> int | None:
    """Return the id or page number written in ASCII digits, or None if it cannot be one (0, too large, not digits)."""
    # Ten digits at most: int() reads no more than 4300, and no id needs more than ten.
    if not (0 < len(text) <= 10 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_INTEGER else None


class IdConverter(IntegerConverter):
    """`<int:…>` in a route: 1 to MAX_INTEGER, so that any other number is a 404 before a query is made."""

    def to_python(self, value: str) -> int:
        number = positive_integer(value)
        if number is None:
            raise ValidationError()
        return number


def init_app(app) -> None:
    """Make every `<int:…>` of the app's routes an id; call before the blueprints are registered."""
    app.url_map.converters["int"] = IdConverter


def id_choice(value) -> int | None:
    """Coerce a chosen id for a SelectField: None for no choice; anything that cannot be an id is refused."""
    if value in (None, "", "None"):
        return None
    number = positive_integer(str(value))
    if number is None:
        raise ValueError(value)  # the field reports it as an invalid choice
    return number


def id_argument(name: str, message) -> int | None:
    """Return the query string's id or page number `name`, None if absent or empty; refuse any other value with 422."""
    value = request.args.get(name, "")
    if not value:
        return None
    number = positive_integer(value)
    if number is None:
        raise ValidationFailed({name: [message]})
    return number


def refuse_control_characters(values: Mapping[str, str], multiline: bool = False) -> None:
    """Raise ValidationFailed naming each value that holds a control character."""
    pattern = CONTROL_CHARACTERS_IN_LINES if multiline else CONTROL_CHARACTERS
    errors = {name: [NOT_ALLOWED] for name, value in values.items() if pattern.search(value)}
    if errors:
        raise ValidationFailed(errors)


def text_argument(name: str) -> str:
    """Return the query string's text `name` ("" if absent), refusing control characters with 422."""
    value = request.args.get(name, "")
    refuse_control_characters({name: value})
    return value


def _refuse(pattern: re.Pattern):
    def refuse(form, field) -> None:
        if isinstance(field.data, str) and pattern.search(field.data):
            raise StopValidation(NOT_ALLOWED)
    return refuse


def _drop_if_control_characters(value):
    # Nobody types a hidden field, and its error would show nowhere: a value with control characters is
    # dropped, as if it had not been sent, rather than cleaned into something else.
    return "" if isinstance(value, str) and CONTROL_CHARACTERS.search(value) else value


def _in_range(form, field) -> None:
    if isinstance(field.data, int) and not -MAX_INTEGER - 1 <= field.data <= MAX_INTEGER:
        raise StopValidation(OUT_OF_RANGE)


def _plausible_year(form, field) -> None:
    if field.data is not None and field.data.year not in YEARS:
        raise StopValidation(_l("Enter a date from the year %(first)d to %(last)d.", first=YEARS[0], last=YEARS[-1]))


class Form(FlaskForm):
    """The base of every form: text refuses control characters, numbers fit the database, dates a time zone."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, HiddenField):
                field.filters = (*field.filters, _drop_if_control_characters)
            elif isinstance(field, StringField):
                lines = isinstance(field, TextAreaField)
                field.validators = [_refuse(CONTROL_CHARACTERS_IN_LINES if lines else CONTROL_CHARACTERS),
                                    *field.validators]
            elif isinstance(field, IntegerField):
                field.validators = [*field.validators, _in_range]
            elif isinstance(field, DateTimeField):  # dates, months and local times too
                field.validators = [*field.validators, _plausible_year]
            return field

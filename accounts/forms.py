"""Forms of the accounts area; they check shape only, services check the rules."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

import formkeys
from accounts.models import OrgLevel, Role
from db import utcnow
from inputs import Form, id_choice as coerce_optional_int

PHONE_PATTERN = r"^\+?[\d\s\-()]{7,20}$"
PHONE_MESSAGE = _l("Enter a phone number, digits only, for example 13800138000.")
NEW_PASSWORD_HINT = _l("At least 8 characters and hard to guess: a few unrelated words work well.")


#: Where an account-less browser's session keeps the name its form keys are issued to.
FORM_KEY_HOLDER = "form_key_holder"


def _form_key_holder() -> str:
    """Name who a form key is issued to: the signed-in user, else this browser's session."""
    if current_user.is_authenticated:
        return formkeys.user_holder(current_user.id)
    return formkeys.session_holder(session.setdefault(FORM_KEY_HOLDER, secrets.token_urlsafe(16)))


def _form_key_secret() -> bytes:
    return current_app.config["SECRET_KEY"].encode()


def new_form_key() -> str:
    """Return a fresh one-time key for a form on the page being shown."""
    return formkeys.issue(_form_key_secret(), _form_key_holder(), utcnow())


class FormKeyField(HiddenField):
    """A form's one-time key: a fresh one on the page; once submitted, only the key that was sent."""

    def __init__(self, **kwargs) -> None:
        super().__init__(default=new_form_key, **kwargs)

    def process_formdata(self, valuelist) -> None:
        # A form sent without a key must not pass with the fresh default.
        self.data = valuelist[0] if valuelist else ""


class OneTimeForm(Form):
    """A form that appends: it carries a one-time key, and only its first submission appends (formkeys.py)."""

    form_key = FormKeyField()

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        max_age = timedelta(days=current_app.config["FORM_KEY_DAYS"])
        self.form_key_nonce = formkeys.nonce_of(self.form_key.data, _form_key_secret(), _form_key_holder(), utcnow(),
                                                max_age)
        if self.form_key_nonce is None:
            # A page from before form keys, too old, or shown to someone else: a fresh key lets them send it again.
            self.form_errors.append(_l("This form was out of date. Check it and send it again."))
            self.form_key.data = new_form_key()
            return False
        return valid

    def claim_key(self) -> None:
        """Claim the form's key for this submission, in its transaction, or raise formkeys.AlreadySent."""
        formkeys.claim(self.form_key_nonce, utcnow())

    def settle_key(self, result_url: str) -> None:
        """Record where this submission's result is shown, for any replay of the form."""
        formkeys.settle(self.form_key_nonce, result_url)


class LoginForm(Form):
    username = StringField(_l("Login or phone number"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class RegisterForm(Form):
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=80)],
                       description=_l("As in the community's register, so that your account can be verified."),
                       render_kw={"autocomplete": "name"})
    phone = StringField(_l("Mobile phone number"), validators=[DataRequired(), Regexp(PHONE_PATTERN, message=PHONE_MESSAGE)],
                        description=_l("You will log in with this number."), render_kw={"autocomplete": "tel", "inputmode": "tel"})
    community = SelectField(_l("Your community"), coerce=coerce_optional_int, validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)],
                             description=NEW_PASSWORD_HINT,
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the password"), validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)],
                                 description=NEW_PASSWORD_HINT,
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"), validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class LanguageForm(Form):
    locale = SelectField(_l("Language"), choices=[SelectChoice("en", "English"), SelectChoice("zh_Hans", "简体中文")])
    next = HiddenField()


class OrganizationForm(Form):
    name = StringField(_l("Organization name"), validators=[DataRequired(), Length(max=120)])
    level = SelectField(_l("Level"), choices=[
        SelectChoice(OrgLevel.district.value, _l("District or county committee")),
        SelectChoice(OrgLevel.township.value, _l("Township or street committee")),
        SelectChoice(OrgLevel.community.value, _l("Community or village organization")),
    ])
    parent = SelectField(_l("Parent organization"), coerce=coerce_optional_int, validators=[Optional()])


class UserForm(Form):
    username = StringField(_l("Login"), validators=[DataRequired(), Length(min=3, max=64)])
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=80)])
    phone = StringField(_l("Phone"), validators=[Optional(), Regexp(PHONE_PATTERN, message=PHONE_MESSAGE)])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})
    active = BooleanField(_l("Account active"), default=True)
    is_resident = BooleanField(_l("Resident"))
    resident_org = SelectField(_l("Community of residence"), coerce=coerce_optional_int, validators=[Optional()])
    is_member = BooleanField(_l("Member"))
    member_org = SelectField(_l("Organization served"), coerce=coerce_optional_int, validators=[Optional()])
    is_evaluator = BooleanField(_l("Evaluator"))
    evaluator_org = SelectField(_l("Area evaluated"), coerce=coerce_optional_int, validators=[Optional()])
    is_admin = BooleanField(_l("Administrator"))

    ROLE_FIELDS = (
        (Role.resident, "is_resident", "resident_org"),
        (Role.member, "is_member", "member_org"),
        (Role.evaluator, "is_evaluator", "evaluator_org"),
    )


class EditUserForm(UserForm):
    username = None
    password = None


class ResetPasswordForm(Form):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)],
                             render_kw={"autocomplete": "new-password"})


class AppointSecretaryForm(Form):
    user = SelectField(_l("New secretary"), coerce=coerce_optional_int, validators=[DataRequired()],
                       description=_l("Only members of this organization can be appointed."))
    start_date = DateField(_l("Term starts on"), validators=[DataRequired()])


class EndTermForm(Form):
    end_date = DateField(_l("Term ends on"), validators=[DataRequired()])


class RegisterImportForm(Form):
    file = FileField(_l("CSV file"), validators=[FileRequired(), FileAllowed(["csv", "txt"], _l("Upload a .csv file."))],
                     description=_l("Columns: name, phone, household, community (or 姓名, 电话, 户/单元, 社区). UTF-8 or GB18030."))

"""Forms of the workflow: filing, the action panel, feedback and categories."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, MultipleFileField
from wtforms import BooleanField, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from accounts.forms import PHONE_MESSAGE, PHONE_PATTERN, OneTimeForm, coerce_optional_int
from inputs import Form
from workflow.models import Priority, Satisfaction

PRIORITY_CHOICES = [
    SelectChoice(Priority.normal.value, _l("Normal")),
    SelectChoice(Priority.urgent.value, _l("Urgent: a danger to people or property")),
]
SATISFACTION_CHOICES = [
    SelectChoice(Satisfaction.satisfied.value, _l("Satisfied")),
    SelectChoice(Satisfaction.basically_satisfied.value, _l("Basically satisfied")),
    SelectChoice(Satisfaction.dissatisfied.value, _l("Dissatisfied")),
]


class FileCaseForm(OneTimeForm):
    category = SelectField(_l("What is it about?"), coerce=coerce_optional_int, validators=[DataRequired()])
    priority = RadioField(_l("How urgent is it?"), choices=PRIORITY_CHOICES, default=Priority.normal.value)
    title = StringField(_l("Short title"), validators=[DataRequired(), Length(max=120)],
                        description=_l("For example: Street light broken at gate 2"))
    description = TextAreaField(_l("What is the problem?"), validators=[DataRequired(), Length(max=4000)],
                                render_kw={"rows": 5})
    address = StringField(_l("Where?"), validators=[DataRequired(), Length(max=200)],
                          description=_l("Building, street or a landmark near it."))
    organization = SelectField(_l("Community"), coerce=coerce_optional_int, validators=[Optional()],
                               description=_l("The community where the problem is."))
    contact_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=80)],
                               render_kw={"autocomplete": "name"})
    contact_phone = StringField(_l("Phone number for a call back"),
                                validators=[DataRequired(), Regexp(PHONE_PATTERN, message=PHONE_MESSAGE)],
                                render_kw={"autocomplete": "tel", "inputmode": "tel"})
    photos = MultipleFileField(_l("Photos (optional)"),
                               validators=[FileAllowed(["jpg", "jpeg", "png", "webp"], _l("Photos must be JPEG, PNG or WebP images."))],
                               description=_l("Up to 3 photos, 5 MB each."),
                               render_kw={"accept": "image/jpeg,image/png,image/webp"})


class ActionForm(OneTimeForm):
    """One form for every action; the panel shows only the fields the action requires."""

    action = HiddenField(validators=[DataRequired()])
    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    reason = TextAreaField(_l("Reason"), validators=[Length(max=2000)], render_kw={"rows": 2})
    question = TextAreaField(_l("Question for the resident"), validators=[Length(max=2000)], render_kw={"rows": 2})
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)], render_kw={"rows": 2})
    resolution = TextAreaField(_l("How it was solved"), validators=[Length(max=4000)], render_kw={"rows": 3})
    text = TextAreaField(_l("Comment"), validators=[Length(max=2000)], render_kw={"rows": 2})
    public = BooleanField(_l("Visible to the resident"), default=True)
    assignee = SelectField(_l("Assign to"), coerce=coerce_optional_int, validators=[Optional()])
    duplicate_of = IntegerField(_l("Number of the original case"), validators=[Optional(), NumberRange(min=1)])


class FeedbackForm(OneTimeForm):
    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    solved = RadioField(_l("Was your problem solved?"), validators=[InputRequired()],
                        choices=[SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))])
    satisfaction = RadioField(_l("How satisfied are you with how it was handled?"), validators=[InputRequired()],
                              choices=SATISFACTION_CHOICES)
    comment = TextAreaField(_l("Comment"), validators=[Length(max=2000)], render_kw={"rows": 3},
                            description=_l("Required if the problem is not solved or you are dissatisfied: tell us why."))


class AnswerForm(OneTimeForm):
    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    note = TextAreaField(_l("Your answer"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 3})


class WithdrawForm(OneTimeForm):
    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])


class TrackForm(Form):
    class Meta:
        csrf = False  # a lookup changes nothing

    code = StringField(_l("Tracking code"), validators=[DataRequired(), Length(max=20)],
                       render_kw={"autocomplete": "off", "autocapitalize": "characters"})


class CategoryForm(Form):
    name = StringField(_l("Name in Chinese"), validators=[DataRequired(), Length(max=80)])
    name_en = StringField(_l("Name in English"), validators=[DataRequired(), Length(max=80)])
    active = BooleanField(_l("Offered to residents"), default=True)
    urgent_respond_hours = IntegerField(_l("Urgent: respond within (hours)"), default=1,
                                        validators=[InputRequired(), NumberRange(min=1, max=720)])
    urgent_resolve_hours = IntegerField(_l("Urgent: resolve within (hours)"), default=24,
                                        validators=[InputRequired(), NumberRange(min=1, max=8760)])
    normal_respond_hours = IntegerField(_l("Normal: respond within (hours)"), default=24,
                                        validators=[InputRequired(), NumberRange(min=1, max=720)])
    normal_resolve_hours = IntegerField(_l("Normal: resolve within (hours)"), default=168,
                                        validators=[InputRequired(), NumberRange(min=1, max=8760)])


class CommentForm(OneTimeForm):
    """A resident's comment on the public history of their request."""

    version = IntegerField(widget=HiddenField.widget, validators=[InputRequired()])
    text = TextAreaField(_l("Your comment"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 2},
                         description=_l("The organization and anyone with the tracking code can read it."))

"""Forms of the surveys area; answers are checked by surveys/ballots.py against the survey's questions."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField, DateTimeLocalField, IntegerField, RadioField, SelectField, SelectMultipleField, StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from inputs import Form, id_choice
from surveys.models import Anonymity, QuestionType, SurveyKind


class BallotForm(Form):
    """CSRF only: the questions' fields are built from the survey and checked by ballots.check_answers."""


class CodeForm(Form):
    code = StringField(_l("Invitation code"), validators=[DataRequired(), Length(max=20)],
                       description=_l("The 8 letters and digits on your slip, for example K7QP-M2XA."),
                       render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"})


DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class SurveySettingsForm(Form):
    """A survey's settings that can be changed while it is a draft; times are local, as typed."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=160)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)],
                                description=_l("Shown to residents above the questions."))
    anonymity = RadioField(_l("Anonymity"), default=Anonymity.anonymous.value, choices=[
        SelectChoice(Anonymity.anonymous.value, _l("Anonymous: nobody can see who gave which answers")),
        SelectChoice(Anonymity.identified.value, _l("Identified: each ballot is linked to who gave it")),
    ])
    opens_at = DateTimeLocalField(_l("Opens at"), format=DATETIME_LOCAL, validators=[DataRequired()])
    closes_at = DateTimeLocalField(_l("Closes at"), format=DATETIME_LOCAL, validators=[DataRequired()])
    min_group_size = IntegerField(
        _l("Minimum group size (k)"), default=5, validators=[InputRequired()],
        description=_l("No result is shown for a community with fewer answers than this; at least 3."),
        render_kw={"min": 3, "inputmode": "numeric"},
    )


class NewSurveyForm(SurveySettingsForm):
    kind = RadioField(_l("Kind of survey"), default=SurveyKind.general.value, choices=[
        SelectChoice(SurveyKind.democratic_evaluation.value,
                     _l("Democratic evaluation of community secretaries (ready questions included)")),
        SelectChoice(SurveyKind.service_satisfaction.value, _l("Satisfaction with services")),
        SelectChoice(SurveyKind.general.value, _l("General survey")),
    ])
    #: Administrators only; an evaluator's survey belongs to the area they evaluate.
    owner = SelectField(_l("Organization running the survey"), coerce=id_choice, validators=[InputRequired()])


class QuestionForm(Form):
    qtype = RadioField(_l("Type of answer"), default=QuestionType.rating3.value, choices=[
        SelectChoice(QuestionType.rating3.value, _l("Satisfaction: satisfied / basically satisfied / dissatisfied")),
        SelectChoice(QuestionType.grade4.value, _l("Grade: excellent / competent / basically competent / incompetent")),
        SelectChoice(QuestionType.likert5.value, _l("Scale from 1 to 5")),
        SelectChoice(QuestionType.single_choice.value, _l("One of your own choices")),
        SelectChoice(QuestionType.free_text.value, _l("Free text")),
    ])
    text = TextAreaField(_l("Question"), validators=[DataRequired(), Length(max=1000)], render_kw={"rows": 2})
    required = BooleanField(_l("An answer is required"), default=True)
    allow_dont_know = BooleanField(_l("Offer “don't know” (satisfaction questions only)"))
    choices = TextAreaField(_l("Choices"), validators=[Optional(), Length(max=4000)], render_kw={"rows": 3},
                            description=_l("For “one of your own choices” only: one choice per line."))


class TargetsForm(Form):
    #: Whether the communities lie in the survey's area is the service's rule.
    targets = SelectMultipleField(_l("Communities asked"), coerce=id_choice, validate_choice=False)


class IssueCodesForm(Form):
    organization = SelectField(_l("Community"), coerce=id_choice, validators=[InputRequired()])
    count = IntegerField(_l("Number of codes"), default=50, validators=[InputRequired()],
                         description=_l("Between 1 and 2000; each code gives one ballot."),
                         render_kw={"min": 1, "max": 2000, "inputmode": "numeric"})

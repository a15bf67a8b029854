"""Evaluators build, open, close and publish surveys, issue invitation codes and follow participation."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, get_timezone, to_user_timezone, to_utc
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from accounts.auth import role_required
from accounts.models import OrgLevel, Role
from accounts.organizations import organizations_in
from accounts.terms import current_secretaries
from db import utcnow
from errors import ValidationFailed
from extensions import db
from responses import copy_errors, form_status, render_page_or_fragment, wants_fragment
from surveys import ballots, builder, codes, lifecycle, transitions
from surveys.codes_sheet_views import render_sheet
from surveys.forms import IssueCodesForm, NewSurveyForm, QuestionForm, SurveySettingsForm, TargetsForm
from surveys.labels import ANONYMITY_LABELS, KIND_LABELS, QUESTION_TYPE_LABELS, STATUS_LABELS
from surveys.tasks import tally_survey
from surveys.models import Anonymity, Question, QuestionType, Survey, SurveyKind

bp = Blueprint("surveys", __name__, url_prefix="/surveys")

MANAGERS = (Role.evaluator, Role.admin)


@bp.context_processor
def survey_labels():
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "anonymity_labels": ANONYMITY_LABELS,
            "question_type_labels": QUESTION_TYPE_LABELS, "timezone_name": str(get_timezone())}


def _local(moment: datetime) -> datetime:
    """Return a naive UTC time as the naive local time a datetime-local input shows."""
    return to_user_timezone(moment).replace(tzinfo=None)


def _settings(form: SurveySettingsForm) -> dict:
    """Return the form's settings as the services take them, with times in naive UTC."""
    return {
        "title": form.title.data, "description": form.description.data or "",
        "anonymity": Anonymity(form.anonymity.data), "opens_at": to_utc(form.opens_at.data),
        "closes_at": to_utc(form.closes_at.data), "min_group_size": form.min_group_size.data,
    }


def _settings_form(survey: Survey) -> SurveySettingsForm:
    return SurveySettingsForm(
        formdata=None, title=survey.title, description=survey.description, anonymity=survey.anonymity.value,
        opens_at=_local(survey.opens_at), closes_at=_local(survey.closes_at), min_group_size=survey.min_group_size,
    )


def _question_form(question: Question) -> QuestionForm:
    return QuestionForm(formdata=None, qtype=question.type.value, text=question.text, required=question.required,
                        allow_dont_know=question.allow_dont_know, choices="\n".join(question.choices))


def _question_input(form: QuestionForm) -> dict:
    return {
        "qtype": QuestionType(form.qtype.data), "text": form.text.data, "required": form.required.data,
        "allow_dont_know": form.allow_dont_know.data, "choices": (form.choices.data or "").splitlines(),
    }


def _codes_form(survey: Survey, submitted: bool = False) -> IssueCodesForm:
    form = IssueCodesForm() if submitted else IssueCodesForm(formdata=None)
    form.organization.choices = [SelectChoice(t.organization_id, t.organization.name) for t in survey.targets]
    return form


def _survey_context(survey: Survey, **forms) -> dict:
    """Return what the survey page and its partials show, with fresh forms where none is given."""
    now = utcnow()
    editing = forms.get("editing")
    draft = not survey.is_locked
    communities = [o for o in organizations_in(survey.owner_organization)
                   if o.level == OrgLevel.community] if draft else []
    targets_form = forms.get("targets_form")
    return {
        "survey": survey,
        "now": now,
        "phase": lifecycle.phase(survey, now).status,
        # The transitions a manager may take now decide the buttons shown.
        "allowed": lifecycle.allowed(survey, now, lifecycle.MANAGER),
        "settings_form": forms.get("settings_form") or _settings_form(survey),
        "question_form": forms.get("question_form") or QuestionForm(formdata=None),
        "edit_forms": {
            q.id: forms["edit_form"] if editing == q.id else _question_form(q) for q in survey.questions
        } if draft else {},
        "editing": editing,
        "communities": communities,
        "chosen": set(targets_form.targets.data or []) if targets_form else {t.organization_id for t in survey.targets},
        "targets_errors": targets_form.targets.errors if targets_form else [],
        "secretaries": current_secretaries([c.id for c in communities]),
        "open_errors": forms.get("open_errors", []),
        "codes_form": forms.get("codes_form") or _codes_form(survey),
        "participation": [] if draft else ballots.participation_summary(survey),
    }


def _load(survey_id: int) -> Survey:
    return builder.get_managed_survey(current_user, survey_id)


def _done(survey: Survey, fragment: str, message: str, **context):
    """Answer a successful mutation: the updated partial for htmx, else a redirect to the survey."""
    if wants_fragment():
        return render_template(fragment, **_survey_context(survey, **context)) + render_template(
            "_flash_oob.html", message=message
        )
    flash(message, "success")
    return redirect(url_for("surveys.show", survey_id=survey.id), 303)


def _invalid(survey: Survey, fragment: str, **forms):
    """Show the survey again with the refused form's messages beside its fields."""
    return render_page_or_fragment("surveys/show.html", fragment, status=422, **_survey_context(survey, **forms))


@dataclass(frozen=True)
class Turnout:
    ballots: int
    eligible: int


@bp.get("")
@role_required(*MANAGERS)
def index():
    """List the surveys of the user's area, newest first, with their state and participation so far."""
    now = utcnow()
    surveys = builder.managed_surveys(current_user)
    turnout = {}
    for survey in surveys:
        rows = ballots.participation_summary(survey)
        turnout[survey.id] = Turnout(sum(r.ballots for r in rows), sum(r.eligible for r in rows))
    statuses = {survey.id: lifecycle.phase(survey, now).status for survey in surveys}
    return render_template("surveys/index.html", surveys=surveys, statuses=statuses, turnout=turnout)


@bp.route("/new", methods=["GET", "POST"])
@role_required(*MANAGERS)
def new():
    """Create a draft survey; a democratic evaluation starts with its ready questions."""
    start = _local(utcnow()).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    form = NewSurveyForm(opens_at=start, closes_at=start + timedelta(days=14))
    if current_user.is_admin:
        form.owner.choices = [
            SelectChoice(o.id, "\u2003" * (o.path.count("/") - 2) + o.name)
            for o in organizations_in(None) if o.level != OrgLevel.community
        ]
    else:
        del form.owner
    if form.validate_on_submit():
        try:
            survey = builder.create_survey(
                current_user, kind=SurveyKind(form.kind.data), **_settings(form),
                owner_organization_id=form.owner.data if form.owner else None,
            )
        except ValidationFailed as error:
            copy_errors(form, error)
        else:
            db.session.commit()
            flash(_("Survey created. Now add its questions and choose the communities to ask."), "success")
            return redirect(url_for("surveys.show", survey_id=survey.id), 303)
    return render_template("surveys/new.html", form=form, scope=builder.manage_scope(current_user)), form_status(form)


@bp.get("/<int:survey_id>")
@role_required(*MANAGERS)
def show(survey_id: int):
    """Show a survey: its settings, questions, communities, lifecycle and participation."""
    return render_template("surveys/show.html", **_survey_context(_load(survey_id)))


@bp.post("/<int:survey_id>/settings")
@role_required(*MANAGERS)
def update(survey_id: int):
    """Change a draft survey's settings."""
    survey = _load(survey_id)
    form = SurveySettingsForm()
    if not form.validate():
        return _invalid(survey, "surveys/_survey.html", settings_form=form)
    try:
        builder.update_survey(current_user, survey, **_settings(form), now=utcnow())
    except ValidationFailed as error:
        copy_errors(form, error)
        return _invalid(survey, "surveys/_survey.html", settings_form=form)
    db.session.commit()
    return _done(survey, "surveys/_survey.html", _("Settings saved."))


@bp.post("/<int:survey_id>/questions")
@role_required(*MANAGERS)
def add_question(survey_id: int):
    """Add a question at the end of a draft survey."""
    survey = _load(survey_id)
    form = QuestionForm()
    if not form.validate():
        return _invalid(survey, "surveys/_questions.html", question_form=form)
    try:
        builder.add_question(current_user, survey, **_question_input(form))
    except ValidationFailed as error:
        copy_errors(form, error)
        return _invalid(survey, "surveys/_questions.html", question_form=form)
    db.session.commit()
    return _done(survey, "surveys/_questions.html", _("Question added."))


@bp.post("/<int:survey_id>/questions/<int:question_id>")
@role_required(*MANAGERS)
def update_question(survey_id: int, question_id: int):
    """Change a question of a draft survey."""
    survey = _load(survey_id)
    question = builder.get_question(survey, question_id)
    form = QuestionForm()
    if not form.validate():
        return _invalid(survey, "surveys/_questions.html", edit_form=form, editing=question.id)
    try:
        builder.update_question(current_user, question, **_question_input(form))
    except ValidationFailed as error:
        copy_errors(form, error)
        return _invalid(survey, "surveys/_questions.html", edit_form=form, editing=question.id)
    db.session.commit()
    return _done(survey, "surveys/_questions.html", _("Question saved."))


@bp.post("/<int:survey_id>/questions/<int:question_id>/delete")
@role_required(*MANAGERS)
def delete_question(survey_id: int, question_id: int):
    """Remove a question from a draft survey."""
    survey = _load(survey_id)
    builder.delete_question(current_user, builder.get_question(survey, question_id))
    db.session.commit()
    return _done(survey, "surveys/_questions.html", _("Question deleted."))


@bp.post("/<int:survey_id>/questions/<int:question_id>/move")
@role_required(*MANAGERS)
def move_question(survey_id: int, question_id: int):
    """Move a question of a draft survey one place up or down."""
    survey = _load(survey_id)
    question = builder.get_question(survey, question_id)
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ValidationFailed(_("Move a question up or down."))
    builder.move_question(current_user, question, -1 if direction == "up" else 1)
    db.session.commit()
    return _done(survey, "surveys/_questions.html", _("Question moved."))


@bp.post("/<int:survey_id>/targets")
@role_required(*MANAGERS)
def set_targets(survey_id: int):
    """Choose the communities a draft survey asks."""
    survey = _load(survey_id)
    form = TargetsForm()
    if not form.validate():
        return _invalid(survey, "surveys/_targets.html", targets_form=form)
    try:
        builder.set_targets(current_user, survey, form.targets.data or [])
    except ValidationFailed as error:
        copy_errors(form, error)
        return _invalid(survey, "surveys/_targets.html", targets_form=form)
    db.session.commit()
    return _done(survey, "surveys/_targets.html", _("Communities saved."))


@bp.post("/<int:survey_id>/open")
@role_required(*MANAGERS)
def open_survey(survey_id: int):
    """Lock a draft and open it now, or at its opening time."""
    survey = _load(survey_id)
    immediately = request.form.get("when") != "scheduled"
    try:
        transitions.open_survey(current_user, survey, utcnow(), immediately=immediately,
                                box_key=current_app.config["BALLOT_BOX_KEY"])
    except ValidationFailed as error:
        return _invalid(survey, "surveys/_survey.html", open_errors=[m for ms in error.errors.values() for m in ms])
    db.session.commit()
    message = _("The survey is open.") if immediately else _("The survey will open at its opening time.")
    return _done(survey, "surveys/_survey.html", message)


@bp.post("/<int:survey_id>/close")
@role_required(*MANAGERS)
def close_survey(survey_id: int):
    """Stop an open survey taking answers."""
    survey = _load(survey_id)
    transitions.close_survey(current_user, survey, utcnow())
    db.session.commit()
    tally_survey(survey.id)
    return _done(survey, "surveys/_survey.html", _("The survey is closed."))


@bp.post("/<int:survey_id>/publish")
@role_required(*MANAGERS)
def publish_survey(survey_id: int):
    """Publish a closed survey's results."""
    survey = _load(survey_id)
    transitions.publish_survey(current_user, survey, utcnow())
    db.session.commit()
    return _done(survey, "surveys/_survey.html", _("The survey is published."))


@bp.post("/<int:survey_id>/delete")
@role_required(*MANAGERS)
def delete_survey(survey_id: int):
    """Delete a draft survey."""
    survey = _load(survey_id)
    title = survey.title
    transitions.delete_survey(current_user, survey)
    db.session.commit()
    flash(_("Survey “%(title)s” deleted.", title=title), "success")
    return redirect(url_for("surveys.index"), 303)


@bp.post("/<int:survey_id>/codes")
@role_required(*MANAGERS)
def issue_codes(survey_id: int):
    """Issue invitation codes for a community and show them once, as a printable and downloadable sheet."""
    survey = _load(survey_id)
    form = _codes_form(survey, submitted=True)
    if not form.validate():
        return _invalid(survey, "surveys/_survey.html", codes_form=form)
    try:
        issued = codes.generate_codes(current_user, survey, form.organization.data, form.count.data,
                                      key=current_app.config["CODE_HASH_KEY"], now=utcnow())
    except ValidationFailed as error:
        copy_errors(form, error)
        return _invalid(survey, "surveys/_survey.html", codes_form=form)
    db.session.commit()
    response = current_app.make_response(render_sheet(survey, form.organization.data, issued))
    # The codes exist in plain text only in this response: keep it out of every cache.
    response.headers["Cache-Control"] = "no-store"
    return response

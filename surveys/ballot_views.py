"""Residents answer surveys: by account or with an invitation code, exactly once.

Nothing here logs a request's form: a ballot's answers must never reach a log.
"""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import format_datetime, lazy_gettext as _l
from flask_login import current_user, login_required

from db import utcnow
from errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from security import reads_before_writing
from extensions import db, limiter, writing
from surveys.ballots import (
    AlreadyParticipated, BallotSurvey, Voter, ballot_survey, check_can_answer, has_participated, prepare_ballot,
    store_ballot, surveys_for_resident, target_for,
)
from surveys.builder import get_survey
from surveys.codes import find_invitation, format_code, invitation_for_code, normalize_code
from surveys.forms import BallotForm, CodeForm
from surveys.labels import OPTION_LABELS
from surveys.lifecycle import Refused
from surveys.models import Question, QuestionType, Survey, SurveyKind

bp = Blueprint("ballots", __name__)

#: Where a checked invitation code waits, so that it leaves the address bar after the first request.
CODE_KEY = "ballot_code"
#: Fields of a ballot's form that are not answers; every other field must name a question.
NOT_ANSWERS = frozenset({"csrf_token", "code"})

def _ballot_limit() -> str:
    return current_app.config["BALLOT_LIMIT_PER_IP"]


def _no_code_tried() -> bool:
    return request.method == "GET" and "code" not in request.args


#: One bucket per address for everything that submits a ballot or tries a code. The blueprint's
#: POSTs are counted before anything else of the request runs (on SQLite, before the signed-in
#: user's query takes the write lock); /vote has its own limit, which replaces it there.
ballot_limit = limiter.shared_limit(_ballot_limit, scope="ballots", methods=["POST"])
code_limit = limiter.shared_limit(_ballot_limit, scope="ballots", exempt_when=_no_code_tried)
ballot_limit(bp)


@bp.app_template_global()
def answer_label(question: Question, value: str) -> str:
    """Name an answer value of a question in the reader's language."""
    if question.type == QuestionType.single_choice:
        return question.choices[int(value)]
    return str(OPTION_LABELS[question.type][value])


def _key() -> bytes:
    return current_app.config["CODE_HASH_KEY"]


def _resident():
    return Voter(resident=current_user._get_current_object())


def _answers() -> dict[str, str]:
    return {key: value for key, value in request.form.items() if key not in NOT_ANSWERS}


def _reason(error: DomainError) -> str:
    """Return why the error refused, with a time it names in the reader's zone and locale."""
    if isinstance(error, Refused) and error.date is not None:
        return error.message % {"date": format_datetime(error.date, "short")}
    return error.message


def _refused(survey_id: int, voter: Voter, error: Conflict | PermissionDenied):
    db.session.rollback()
    survey = get_survey(survey_id)
    if voter.invitation is not None and isinstance(error, AlreadyParticipated):
        session.pop(CODE_KEY, None)
    return render_template(
        "surveys/ballot_refused.html", survey=survey, error=error, reason=_reason(error),
        by_code=voter.invitation is not None, already=isinstance(error, AlreadyParticipated),
    ), error.status


def _ballot_page(survey: Survey, voter: Voter, action: str, code: str | None = None,
                 answers: dict[str, str] | None = None, errors: dict[str, list] | None = None, status: int = 200):
    target = target_for(survey, voter)
    evaluated = target.term.user if survey.kind == SurveyKind.democratic_evaluation and target.term else None
    return render_template(
        "surveys/ballot.html", survey=survey, target=target, evaluated=evaluated, form=BallotForm(formdata=None),
        action=action, code=code, answers=answers or {}, errors=errors or {}, by_code=code is not None,
    ), status


def _submit(survey: BallotSurvey, voter: Voter, endpoint: str, code: str | None = None):
    """Store the ballot and thank the voter, or show the form again with what needs fixing.

    Storing needs only a row of the survey; the pages that refuse or ask again load all of it.
    """
    # CSRFProtect has checked the token already; the answers are the service's to check.
    answers = _answers()
    now = utcnow()
    try:
        prepared = prepare_ballot(survey, voter, answers, now)
        # The reads end here, so that SQLite's write lock is held for the ballot's own writes alone.
        db.session.commit()
        with writing():
            store_ballot(prepared, now)
    except ValidationFailed as error:
        db.session.rollback()
        return _ballot_page(get_survey(survey.id), voter, url_for(endpoint, survey_id=survey.id), code,
                            answers, error.errors, status=422)
    except (Conflict, PermissionDenied) as error:
        return _refused(survey.id, voter, error)
    db.session.commit()
    if code is not None and session.get(CODE_KEY) == code:
        session.pop(CODE_KEY)
    return redirect(url_for("ballots.thanks"), 303)


@bp.app_template_global()
def open_ballots() -> list[tuple[Survey, bool]]:
    """Return the surveys open now to the signed-in resident, each with whether they have taken part."""
    if not current_user.is_authenticated:
        return []
    voter = _resident()
    return [(s, has_participated(s, voter)) for s in surveys_for_resident(voter.resident, utcnow())]


@bp.get("/surveys/open")
@login_required
def available():
    """List the surveys open now to the resident's community, and whether they have answered."""
    return render_template("surveys/ballots_available.html", rows=open_ballots())


@bp.get("/surveys/<int:survey_id>/ballot")
@login_required
def ballot(survey_id: int):
    """Show the ballot to a resident who may answer, or say clearly why they may not."""
    survey = get_survey(survey_id)
    voter = _resident()
    try:
        check_can_answer(survey, voter, utcnow())
    except (Conflict, PermissionDenied) as error:
        return _refused(survey.id, voter, error)
    return _ballot_page(survey, voter, url_for("ballots.submit", survey_id=survey.id))


@bp.post("/surveys/<int:survey_id>/ballot")
@login_required
@reads_before_writing
def submit(survey_id: int):
    """Store a resident's ballot once, anonymously where the survey says so."""
    return _submit(ballot_survey(survey_id), _resident(), "ballots.submit")


def _code_page(form: CodeForm, status: int, message: str | None = None):
    if message:
        form.code.errors = [message]
    return render_template("surveys/vote.html", form=form), status


@bp.route("/vote", methods=["GET", "POST"])
@code_limit
def vote():
    """Take an invitation code, typed in or filled from a slip's `/vote#CODE` link, and lead to its ballot.

    Slips printed before the fragment link to `/vote?code=…`, which still works; logs.py redacts it.
    """
    if request.method == "POST":
        form = CodeForm()
        checked = form.validate_on_submit()
    else:
        form = CodeForm(request.args)
        if "code" not in request.args:
            return _code_page(form, 200)
        checked = form.code.validate(form)
    if not checked:
        return _code_page(form, 422)
    try:
        invitation = invitation_for_code(form.code.data, _key())
        survey = get_survey(invitation.survey_id)
        check_can_answer(survey, Voter(invitation=invitation), utcnow())
    except AlreadyParticipated:
        return _code_page(form, 409, _l("This code has already been used: each code gives one ballot."))
    except (ValidationFailed, Conflict, PermissionDenied) as error:
        return _code_page(form, error.status, _reason(error))
    # The code waits in the session, out of the address bar, the history and later Referer headers.
    session[CODE_KEY] = normalize_code(form.code.data)
    return redirect(url_for("ballots.code_ballot", survey_id=survey.id), 303)


def _invitation_or_code_page(survey: Survey | BallotSurvey, code: str):
    """Return the survey's invitation for a code and None, or None and the code page saying what is wrong."""
    if not code:
        return None, _code_page(CodeForm(formdata=None), 422, _l("Enter the code on your slip."))
    try:
        return find_invitation(survey, code, _key()), None
    except ValidationFailed as error:
        if session.get(CODE_KEY) == code:
            session.pop(CODE_KEY)
        return None, _code_page(CodeForm(formdata=None, code=format_code(code)), 422, error.message)


@bp.get("/vote/<int:survey_id>")
def code_ballot(survey_id: int):
    """Show the ballot for the invitation code checked a moment ago."""
    code = session.get(CODE_KEY)
    if not code:
        return redirect(url_for("ballots.vote"), 303)
    survey = get_survey(survey_id)
    invitation, refusal = _invitation_or_code_page(survey, code)
    if refusal:
        return refusal
    voter = Voter(invitation=invitation)
    try:
        check_can_answer(survey, voter, utcnow())
    except (Conflict, PermissionDenied) as error:
        return _refused(survey.id, voter, error)
    return _ballot_page(survey, voter, url_for("ballots.submit_code", survey_id=survey.id), code)


@bp.post("/vote/<int:survey_id>")
@reads_before_writing
def submit_code(survey_id: int):
    """Store the ballot of an invitation code once; the code comes back in the form and is checked again."""
    survey = ballot_survey(survey_id)
    code = normalize_code(request.form.get("code", ""))
    invitation, refusal = _invitation_or_code_page(survey, code)
    if refusal:
        return refusal
    return _submit(survey, Voter(invitation=invitation), "ballots.submit_code", code)


@bp.get("/vote/thanks")
def thanks():
    """Thank the voter; the page says nothing of the ballot."""
    return render_template("surveys/ballot_thanks.html")

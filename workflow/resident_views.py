"""Residents' screens: file a request, my requests, tracking by code, answers and feedback."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from accounts.models import OrgLevel, Role
from accounts.organizations import organizations_in
from db import utcnow
from errors import NotFound, ValidationFailed
from extensions import db, limiter
from formkeys import AlreadySent
from responses import already_sent, copy_errors, form_status, render_page_or_fragment, wants_fragment
from workflow import actions, categories, filing, history, queries
from workflow.forms import AnswerForm, CommentForm, FeedbackForm, FileCaseForm, TrackForm, WithdrawForm
from workflow.machine import Party, allowed_actions
from workflow.models import Case, Priority, Satisfaction

bp = Blueprint("requests", __name__)

#: The actions a resident takes from the tracking page; members act from their own case page.
RESIDENT_ACTIONS = ("resume", "confirm", "reopen", "withdraw", "comment")
#: Actions whose event without an actor was taken by the resident who filed without an account.
RESIDENT_EVENTS = frozenset({"submit", "resume", "confirm", "reopen", "withdraw", "comment"})
#: How many tracked cases a browser remembers; the session lives in a cookie.
TRACKED_LIMIT = 20
PAGE = "workflow/resident_track.html"
PARTIAL = "workflow/_resident_case.html"


def _remember(case: Case) -> None:
    tracked = [case_id for case_id in session.get("tracked", []) if case_id != case.id]
    session["tracked"] = (tracked + [case.id])[-TRACKED_LIMIT:]


def _actor():
    return current_user if current_user.is_authenticated else None


def _community_choices() -> list[SelectChoice]:
    organizations = organizations_in(None)
    by_id = {o.id: o for o in organizations}
    return [SelectChoice("", _("Choose…"))] + [
        SelectChoice(o.id, f"{by_id[o.parent_id].name} · {o.name}" if o.parent_id in by_id else o.name)
        for o in organizations if o.level == OrgLevel.community
    ]


def _filed(_response) -> bool:
    return g.pop("case_filed", False)


def _filing_limit_message() -> str:
    return _("Too many requests have been filed from your network without an account. Please try again later, "
             "or sign in: residents signed in to their account are not limited.")


@bp.route("/requests/new", methods=["GET", "POST"])
# Counts only requests filed and accepted without an account: a refused form costs nothing, a resident nothing.
@limiter.limit(lambda: current_app.config["FILING_LIMIT_PER_IP"], methods=["POST"], deduct_when=_filed,
               exempt_when=lambda: current_user.is_authenticated, error_message=_filing_limit_message)
def new():
    """Let anyone file a request, with an account or with a phone number and a tracking code."""
    user = _actor()
    form = FileCaseForm(contact_name=user.name if user else None, contact_phone=user.phone if user else None)
    locale = str(get_locale())
    form.category.choices = [SelectChoice("", _("Choose…"))] + [
        SelectChoice(c.id, c.label(locale)) for c in categories.active_categories()
    ]
    goes_to_own_community = user is not None and user.has_role(Role.resident)
    if goes_to_own_community:
        del form.organization
    else:
        form.organization.choices = _community_choices()
    if form.validate_on_submit():
        photos = [filing.Upload(f.read(), f.filename) for f in request.files.getlist("photos") if f and f.filename]
        try:
            form.claim_key()
            case = filing.file_case(
                user,
                category_id=form.category.data,
                priority=Priority(form.priority.data),
                title=form.title.data,
                description=form.description.data,
                address=form.address.data,
                contact_name=form.contact_name.data,
                contact_phone=form.contact_phone.data,
                organization_id=None if goes_to_own_community else form.organization.data,
                photos=photos,
                upload_dir=Path(current_app.config["UPLOAD_FOLDER"]),
                now=utcnow(),
                max_pixels=current_app.config["PHOTO_MAX_PIXELS"],
            )
        except AlreadySent as sent:
            return already_sent(sent.result_url)
        except ValidationFailed as error:
            db.session.rollback()  # the form's key stays unclaimed for the corrected form
            copy_errors(form, error)
        else:
            form.settle_key(url_for("requests.track", code=case.tracking_code))
            db.session.commit()
            g.case_filed = True
            _remember(case)
            if user is None:
                flash(_("Your request was filed. Its tracking code is %(code)s. Write it down: without an account, "
                        "it is the only way to follow your request.", code=case.tracking_code), "success")
            else:
                flash(_("Your request was filed. Its tracking code is %(code)s; you also find it under "
                        "“My requests”.", code=case.tracking_code), "success")
            return redirect(url_for("requests.track", code=case.tracking_code), 303)
    return render_template("workflow/resident_new.html", form=form), form_status(form)


@bp.get("/requests/mine")
@login_required
def mine():
    """List the requests the signed-in person filed, newest first."""
    return render_template("workflow/resident_mine.html", cases=queries.filed_by(current_user), now=utcnow())


@bp.get("/track")
def find():
    """Ask for a tracking code and go to that request's page."""
    form = TrackForm(request.args)
    status = 200
    if "code" in request.args:
        if form.validate():
            try:
                case = filing.find_by_tracking_code(form.code.data)
            except NotFound as error:
                form.code.errors = [error.message]
                status = 404
            else:
                return redirect(url_for("requests.track", code=case.tracking_code), 303)
        else:
            status = 422
    return render_template("workflow/resident_find.html", form=form), status


def _parties(case: Case) -> frozenset[Party]:
    # This page acts only for the filer, even when a member of the organization opens it.
    return actions.parties_for(current_user, case, holds_tracking_code=True) & {Party.owner}


def _who(event, case: Case) -> str:
    """Name who took a step as a resident sees it: the resident, the organization or the system."""
    if event.actor_id is None:
        return _("the resident") if event.action in RESIDENT_EVENTS else _("the system")
    organization = event.actor.organization_for(Role.member)
    if event.actor_id == case.resident_id or organization is None:
        return _("the resident")
    # Residents deal with the organization; members' names stay inside it.
    return organization.name


def _case_context(case: Case, forms: dict | None = None, conflict: actions.StaleCase | None = None,
                  message: str | None = None) -> dict:
    parties = _parties(case)
    names = {a.name for a in allowed_actions(case.state, parties)} & set(RESIDENT_ACTIONS)
    forms = forms or {}
    timeline = history.timeline(case, internal=False)
    question = next((e.note for e in reversed(timeline) if e.action == "request_info"), "")
    return {
        "case": case,
        "can": names,
        "is_owner": Party.owner in parties,
        "question": question,
        "entries": [(event, _who(event, case)) for event in reversed(timeline)],
        "changes": [e for e in conflict.changes if e.public] if conflict else [],
        "conflict": conflict,
        "message": message,
        "answer_form": forms.get("answer") or AnswerForm(formdata=None),
        "feedback_form": forms.get("feedback") or FeedbackForm(formdata=None),
        "withdraw_form": forms.get("withdraw") or WithdrawForm(formdata=None),
        "comment_form": forms.get("comment") or CommentForm(formdata=None),
        "now": utcnow(),
    }


@bp.get("/track/<code>")
def track(code: str):
    """Show a request to whoever holds its tracking code: status, public history and the filer's actions."""
    case = filing.find_by_tracking_code(code)
    _remember(case)
    return render_template(PAGE, **_case_context(case))


def _renamed(error: ValidationFailed, names: dict[str, str]) -> ValidationFailed:
    return ValidationFailed({names.get(key, key): messages for key, messages in error.errors.items()})


def _act(case: Case, name: str, form, run, done: str, field_names: dict[str, str] | None = None):
    """Validate a resident's form, run its service call, then answer with the partial, a redirect or errors."""
    status = 200
    conflict = None
    if form.validate_on_submit():
        try:
            form.claim_key()
            run()
        except AlreadySent as sent:
            return already_sent(sent.result_url)
        except actions.StaleCase as stale:
            db.session.rollback()  # the key stays unclaimed: the resident sends the form again
            conflict, status = stale, 409
        except ValidationFailed as error:
            # The refusal may come after the service touched the case; drop that before showing it again.
            db.session.rollback()
            copy_errors(form, _renamed(error, field_names or {}))
            status = 422
        else:
            form.settle_key(url_for("requests.track", code=case.tracking_code))
            db.session.commit()
            if not wants_fragment():
                flash(done, "success")
                return redirect(url_for("requests.track", code=case.tracking_code), 303)
            return render_template(PARTIAL, **_case_context(case, message=done))
    else:
        status = 422
    context = _case_context(case, {name: form} if status == 422 else None, conflict)
    context["open_form"] = name if status == 422 else None
    return render_page_or_fragment(PAGE, PARTIAL, status=status, **context)


@bp.post("/track/<code>/answer")
def answer(code: str):
    """Send the resident's answer to the organization's question and resume the work."""
    case = filing.find_by_tracking_code(code)
    form = AnswerForm()
    return _act(case, "answer", form, lambda: actions.take_action(
        case, "resume", actor=_actor(), parties=_parties(case), seen_version=form.version.data,
        data=actions.ActionInput(note=form.note.data), now=utcnow(),
    ), _("Thank you: your answer was sent and the work goes on."))


@bp.post("/track/<code>/feedback")
def feedback(code: str):
    """Record whether the problem was solved and how satisfied the resident is."""
    case = filing.find_by_tracking_code(code)
    form = FeedbackForm()
    return _act(case, "feedback", form, lambda: actions.give_feedback(
        case, actor=_actor(), parties=_parties(case), seen_version=form.version.data,
        solved=form.solved.data == "yes", satisfaction=Satisfaction(form.satisfaction.data),
        comment=form.comment.data or "", now=utcnow(),
    ), _("Thank you for your feedback."), {"reason": "comment", "feedback": "solved"})


@bp.post("/track/<code>/withdraw")
def withdraw(code: str):
    """Withdraw the request: the organization stops working on it."""
    case = filing.find_by_tracking_code(code)
    form = WithdrawForm()
    return _act(case, "withdraw", form, lambda: actions.take_action(
        case, "withdraw", actor=_actor(), parties=_parties(case), seen_version=form.version.data,
        data=actions.ActionInput(), now=utcnow(),
    ), _("Your request was withdrawn."))


@bp.post("/track/<code>/comment")
def comment(code: str):
    """Add the resident's comment to the public history."""
    case = filing.find_by_tracking_code(code)
    form = CommentForm()
    return _act(case, "comment", form, lambda: actions.take_action(
        case, "comment", actor=_actor(), parties=_parties(case), seen_version=form.version.data,
        data=actions.ActionInput(text=form.text.data), now=utcnow(),
    ), _("Your comment was added."))

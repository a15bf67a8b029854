"""Members' case screens: the list, a case with its action panel, photos, supervision."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, redirect, render_template, request, send_file, session, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from accounts.auth import role_required
from accounts.forms import new_form_key
from accounts.models import Role
from accounts.organizations import organizations_in
from db import utcnow
from errors import NotFound, PermissionDenied, ValidationFailed
from extensions import db
from formkeys import AlreadySent
from inputs import CONTROL_CHARACTERS, NOT_ALLOWED, positive_integer
from responses import already_sent, copy_errors, render_page_or_fragment, wants_fragment
from workflow import actions, categories, filing, history, queries
from workflow.forms import ActionForm
from workflow.machine import ACTIONS, Field, Party, State, allowed_actions
from workflow.models import Priority

bp = Blueprint("workflow", __name__, url_prefix="/cases")

#: Which form field carries each required field of the declaration.
FORM_FIELDS = {
    Field.reason: "reason", Field.question: "question", Field.note: "note", Field.resolution: "resolution",
    Field.text: "text", Field.assignee: "assignee", Field.duplicate_of: "duplicate_of",
}


@bp.app_template_global()
def state_label(state: State) -> str:
    return _(state.label)


@bp.app_template_global()
def action_label(name: str) -> str:
    action = ACTIONS.get(name)
    if action is not None:
        return _(action.label)
    return {
        "submit": _("Filed"), "overdue": _("Deadline passed"), "supervise": _("Put under supervision"),
    }.get(name, name)


@bp.app_template_global()
def hours_label(hours: int) -> str:
    if hours % 24 == 0 and hours >= 48:
        return ngettext("%(num)d day", "%(num)d days", hours // 24)
    return ngettext("%(num)d hour", "%(num)d hours", hours)


def tracked_case_ids() -> set[int]:
    """Return the cases whose tracking code this browser has entered."""
    return set(session.get("tracked", []))


def _filters_from_request() -> queries.CaseFilters:
    """Read the list's query string, refusing values the list cannot show with 422."""
    args = request.args
    tab, sort, priority = args.get("tab", "open"), args.get("sort", "newest"), args.get("priority", "")
    errors: dict[str, list] = {}
    if tab not in queries.TABS:
        errors["tab"] = [_("There is no tab “%(value)s”.", value=tab[:40])]
    if sort not in queries.SORTS:
        errors["sort"] = [_("Cases cannot be sorted by “%(value)s”.", value=sort[:40])]
    if priority not in ("", *(p.value for p in Priority)):
        errors["priority"] = [_("There is no priority “%(value)s”.", value=priority[:40])]
    numbers: dict[str, int | None] = {}
    for name, message in (("category", _("Choose a category from the list.")),
                          ("organization", _("Choose an organization from the list.")),
                          ("page", _("Page numbers are whole numbers from 1."))):
        value = args.get(name, "")
        numbers[name] = positive_integer(value)
        if value and numbers[name] is None:
            errors[name] = [message]
    query = args.get("q", "")
    if CONTROL_CHARACTERS.search(query):
        errors["q"] = [NOT_ALLOWED]
    if errors:
        raise ValidationFailed(errors)
    return queries.CaseFilters(
        tab=tab,
        category_id=numbers["category"],
        priority=Priority(priority) if priority else None,
        overdue=args.get("overdue") == "1",
        mine=args.get("mine") == "1",
        organization_id=numbers["organization"],
        q=query[:100],
        sort=sort,
        page=numbers["page"] or 1,
    )


@bp.get("")
@role_required(Role.member, Role.evaluator, Role.admin)
def index():
    """List the cases in the user's area with tabs by state, filters, search and sorting."""
    filters = _filters_from_request()
    now = utcnow()
    scope = queries.case_scope(current_user)
    # Loaded first, so the listed cases find their category and organization in the session.
    organizations = organizations_in(scope)
    all_categories = categories.all_categories()
    page = queries.list_cases(current_user, filters, now)
    return render_page_or_fragment(
        "workflow/index.html", "workflow/_case_results.html",
        page=page, filters=filters, organizations=organizations, categories=all_categories, now=now,
        states=list(State),
    )


def _assignee_choices(case) -> list[SelectChoice]:
    return [SelectChoice("", _("Choose…"))] + [SelectChoice(m.id, m.name) for m in actions.assignable_members(case)]


def _panel_context(case, form: ActionForm | None = None, conflict: actions.StaleCase | None = None):
    parties = actions.parties_for(current_user, case)
    # Residents confirm, reopen and withdraw from their own page.
    offered = [a for a in allowed_actions(case.state, parties) if a.name not in ("confirm", "reopen", "withdraw")]
    form = form or ActionForm(formdata=None, version=case.version)
    form.version.data = case.version
    if any(Field.assignee in a.requires for a in offered) and not form.assignee.choices:
        form.assignee.choices = _assignee_choices(case)
    return {
        "case": case,
        "actions": offered,
        "form": form,
        # A key for each action's form: a page kept in the history still sends each action once.
        "form_keys": {action.name: new_form_key() for action in offered},
        "form_fields": FORM_FIELDS,
        "conflict": conflict,
        "timeline": history.timeline(case, internal=True),
        "now": utcnow(),
        "is_member": bool(parties & {Party.member, Party.secretary, Party.assignee}),
    }


@bp.get("/<int:case_id>")
@login_required
def show(case_id: int):
    """Show a case with its details, photos, deadline, timeline and the actions open to the user."""
    case = actions.get_case(case_id)
    if not actions.can_view(current_user, case):
        if case.resident_id == current_user.id:
            return redirect(url_for("requests.track", code=case.tracking_code), 303)
        raise PermissionDenied(_("You may not see this case."))
    return render_template("workflow/show.html", **_panel_context(case))


@bp.post("/<int:case_id>/actions")
@login_required
def act(case_id: int):
    """Take the action posted from the panel, then show the updated case."""
    case = actions.get_case(case_id)
    if not actions.can_view(current_user, case):
        raise PermissionDenied(_("You may not see this case."))
    form = ActionForm()
    # A select validates against its choices; only an action that requires an assignee sends one.
    posted = ACTIONS.get(request.form.get("action", ""))
    form.assignee.choices = _assignee_choices(case) if posted and Field.assignee in posted.requires else []
    status = 200
    conflict = None
    if form.validate_on_submit():
        data = actions.ActionInput(
            reason=form.reason.data or "", question=form.question.data or "", note=form.note.data or "",
            resolution=form.resolution.data or "", text=form.text.data or "",
            assignee_id=form.assignee.data, duplicate_of_id=form.duplicate_of.data, public=form.public.data,
        )
        parties = actions.parties_for(current_user, case)
        try:
            form.claim_key()
            actions.take_action(case, form.action.data, actor=current_user, parties=parties,
                                seen_version=form.version.data, data=data, now=utcnow())
        except AlreadySent as sent:
            return already_sent(sent.result_url)
        except actions.StaleCase as stale:
            db.session.rollback()  # the key stays unclaimed: the member sends the form again
            conflict, status = stale, 409
        except ValidationFailed as error:
            db.session.rollback()  # show the case as stored, not half-changed
            copy_errors(form, error)
            status = 422
        else:
            form.settle_key(url_for("workflow.show", case_id=case.id))
            db.session.commit()
            if not wants_fragment():
                return redirect(url_for("workflow.show", case_id=case.id), 303)
            form = None
    else:
        status = 422
    context = _panel_context(case, form, conflict)
    context["open_action"] = request.form.get("action") if status != 200 else None
    # The swap replaced the button that had focus; give it to the new status instead of the page's top.
    context["acted"] = status == 200
    return render_page_or_fragment("workflow/show.html", "workflow/_case_body.html", status=status, **context)


@bp.get("/<int:case_id>/photos/<int:photo_id>")
def photo(case_id: int, photo_id: int):
    """Send a case's photo to someone who may see the case."""
    photo = filing.get_photo(case_id, photo_id)
    case = photo.case
    owner = current_user.is_authenticated and case.resident_id == current_user.id
    if not (actions.can_view(current_user, case) or owner or case.id in tracked_case_ids()):
        # Answered as a missing photo would be, so that strangers cannot probe which photo ids exist.
        raise NotFound(_("There is no such photo."))
    path = filing.photo_path(photo, Path(current_app.config["UPLOAD_FOLDER"]))
    response = send_file(path, mimetype=photo.content_type, max_age=0, conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/supervision")
@login_required
def supervision():
    """List the late, supervised and escalated open cases in the user's area."""
    cases = queries.supervision_list(current_user, utcnow())
    return render_template("workflow/supervision.html", cases=cases, now=utcnow())

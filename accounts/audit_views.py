"""The audit log for administrators: filtered, paged, exported; and the sign-ins it records from their signals."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Flask, Response, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l, ngettext, to_utc
from flask_login import user_logged_in, user_logged_out
from openpyxl import Workbook
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from accounts import audit
from accounts.audit import AuditKind
from accounts.audit_queries import AuditFilters, AuditPage, AuditRow, audit_page, audit_rows, find_login
from accounts.auth import ROLE_LABELS, role_required
from accounts.forms import coerce_optional_int
from accounts.models import Role, User
from accounts.organizations import get_organization_in_scope, organizations_in
from accounts.signals import login_failed
from extensions import db
from inputs import Form, text_argument
from spreadsheets import guard_formula, set_text

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

KIND_LABELS = {
    AuditKind.sign_in: _l("Signed in"),
    AuditKind.sign_out: _l("Signed out"),
    AuditKind.sign_in_failed: _l("Sign-in refused"),
    AuditKind.account_created: _l("Account created"),
    AuditKind.account_disabled: _l("Account disabled"),
    AuditKind.account_enabled: _l("Account enabled"),
    AuditKind.password_reset: _l("Password reset"),
    AuditKind.sessions_ended: _l("Signed out everywhere"),
    AuditKind.role_granted: _l("Role granted"),
    AuditKind.role_removed: _l("Role removed"),
    AuditKind.term_opened: _l("Secretary appointed"),
    AuditKind.term_ended: _l("Secretary term ended"),
    AuditKind.organization_created: _l("Organization added"),
    AuditKind.organization_changed: _l("Organization changed"),
    AuditKind.organization_deleted: _l("Organization deleted"),
    AuditKind.register_imported: _l("Register imported"),
    AuditKind.category_created: _l("Category added"),
    AuditKind.category_changed: _l("Category changed"),
    AuditKind.settings_changed: _l("Evaluation settings changed"),
    AuditKind.survey_opened: _l("Survey opened"),
    AuditKind.survey_closed: _l("Survey closed"),
    AuditKind.survey_published: _l("Results published"),
    AuditKind.codes_issued: _l("Invitation codes issued"),
    AuditKind.case_reassigned: _l("Case reassigned"),
    AuditKind.case_supervised: _l("Case put under supervision"),
}

#: The words for what changed; a key not named here shows as it is stored (the evaluation's weight_* keys).
FIELD_LABELS = {
    "name": _l("name"), "parent_id": _l("parent organization"), "name_en": _l("English name"),
    "active": _l("offered to residents"), "urgent_respond_hours": _l("urgent: respond within (hours)"),
    "urgent_resolve_hours": _l("urgent: resolve within (hours)"),
    "normal_respond_hours": _l("normal: respond within (hours)"),
    "normal_resolve_hours": _l("normal: resolve within (hours)"), "theta": "θ", "shrink_m": "m",
}
MAX_EXPORT_ROWS = 100_000


class AuditFilterForm(Form):
    class Meta:
        csrf = False  # reading changes nothing

    actor = StringField(_l("Who (login)"), validators=[Optional(), Length(max=64)])
    kind = SelectField(_l("What"), validators=[Optional()])
    organization = SelectField(_l("Organization"), coerce=coerce_optional_int, validators=[Optional()],
                               description=_l("With the organizations below it."))
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=10**6)])


def _filter_form() -> AuditFilterForm:
    form = AuditFilterForm(formdata=request.args)
    form.kind.choices = [SelectChoice("", _("Any act"))] + [SelectChoice(k.value, KIND_LABELS[k]) for k in AuditKind]
    form.organization.choices = [SelectChoice("", _("Any organization"))] + [
        SelectChoice(o.id, "\u2003" * (o.path.count("/") - 2) + o.name) for o in organizations_in(None)
    ]
    return form


def _utc_start_of(day: date) -> datetime:
    """Return when the day begins where the app keeps time, as naive UTC like the stored times."""
    return to_utc(datetime.combine(day, time.min))


def _filters(form: AuditFilterForm) -> AuditFilters | None:
    """Return the filters the form asks for, or None with its fields' errors filled in."""
    if not form.validate():
        form.form_errors.extend(form.page.errors)  # the page number has no field of its own on the page
        return None
    actor = find_login(form.actor.data) if form.actor.data else None
    if form.actor.data and actor is None:
        form.actor.errors.append(_("There is no account with this login."))
    if form.since.data and form.until.data and form.until.data < form.since.data:
        form.until.errors.append(_("The end of the period comes before its start."))
    if form.errors:
        return None
    return AuditFilters(
        actor_id=actor.id if actor else None,
        kind=AuditKind(form.kind.data) if form.kind.data else None,
        organization=get_organization_in_scope(form.organization.data, None) if form.organization.data else None,
        since=_utc_start_of(form.since.data) if form.since.data else None,
        until=_utc_start_of(form.until.data + timedelta(days=1)) if form.until.data else None,
    )


def _query_args() -> dict[str, str]:
    """Return the filters as given, for the pages' and the exports' links."""
    return {name: value for name in ("actor", "kind", "organization", "since", "until")
            if (value := text_argument(name))}


def _render(form: AuditFilterForm, page: AuditPage | None):
    """Render the page: the entries, or the filters with what is wrong with them (422)."""
    return render_template("audit/index.html", form=form, page=page, args=_query_args(), describe=describe,
                           changes_text=changes_text, kind_label=KIND_LABELS.get), 200 if page is not None else 422


@bp.get("")
@role_required(Role.admin)
def index():
    """Show the privileged acts that pass the filters, newest first."""
    form = _filter_form()
    filters = _filters(form)
    return _render(form, audit_page(filters, form.page.data or 1) if filters is not None else None)


def _export(build) -> Response | tuple:
    form = _filter_form()
    filters = _filters(form)
    if filters is not None:
        rows, logins = audit_rows(filters, MAX_EXPORT_ROWS)
        if rows is not None:
            return build(rows, logins)
        form.form_errors.append(_("An export holds at most %(n)d entries; choose a shorter period or narrower filters.",
                                  n=MAX_EXPORT_ROWS))
    return _render(form, None)


def _cells(row: AuditRow, logins: dict[int, str]) -> list[str]:
    entry = row.entry
    return [entry.at.strftime("%Y-%m-%d %H:%M:%S"), str(KIND_LABELS[entry.kind]), row.actor_login or "",
            entry.origin or "", row.organization_name or "", describe(row, logins), changes_text(entry),
            json.dumps(entry.details, ensure_ascii=False, sort_keys=True)]


def _headers() -> list[str]:
    return [_("Time (UTC)"), _("What"), _("Who"), _("From address"), _("Organization"), _("Description"),
            _("What changed"), _("Details")]


def _attachment(data: bytes, mimetype: str, filename: str) -> Response:
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/export.csv")
@role_required(Role.admin)
def export_csv():
    """Download the entries that pass the filters as CSV."""

    def build(rows: list[AuditRow], logins: dict[int, str]) -> Response:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(_headers())
        writer.writerows([guard_formula(cell) for cell in _cells(row, logins)] for row in rows)
        # The BOM makes Excel on Chinese Windows read UTF-8 rather than GBK.
        return _attachment(out.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8", "audit-log.csv")

    return _export(build)


@bp.get("/export.xlsx")
@role_required(Role.admin)
def export_xlsx():
    """Download the entries that pass the filters as an Excel workbook."""

    def build(rows: list[AuditRow], logins: dict[int, str]) -> Response:
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "audit"
        for i, cells in enumerate([_headers()] + [_cells(row, logins) for row in rows], start=1):
            for j, text in enumerate(cells, start=1):
                set_text(sheet.cell(row=i, column=j), text)
        sheet.freeze_panes = "A2"
        out = io.BytesIO()
        workbook.save(out)
        return _attachment(out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           "audit-log.xlsx")

    return _export(build)


def describe(row: AuditRow, logins: dict[int, str]) -> str:
    """Say what an entry records, in a sentence in the reader's language."""
    entry, details = row.entry, row.entry.details

    def person(user_id) -> str:
        return logins.get(user_id) or (f"#{user_id}" if user_id else _("nobody"))

    values = {
        "actor": row.actor_login or _("The system"), "subject": person(entry.subject_id),
        "organization": row.organization_name or details.get("name") or "", "name": details.get("name", ""),
        "title": details.get("title", ""), "case": entry.subject_id or 0,
    }
    kind = entry.kind
    if kind == AuditKind.sign_in:
        return _("%(actor)s signed in.", **values)
    if kind == AuditKind.sign_out:
        return _("%(actor)s signed out.", **values)
    if kind == AuditKind.sign_in_failed:
        return _("A sign-in as %(subject)s was refused.", **values) if entry.subject_id \
            else _("A sign-in with an unknown login was refused.")
    if kind == AuditKind.account_created:
        return _("%(actor)s created the account %(subject)s.", **values)
    if kind == AuditKind.account_disabled:
        return _("%(actor)s disabled the account %(subject)s.", **values)
    if kind == AuditKind.account_enabled:
        return _("%(actor)s enabled the account %(subject)s again.", **values)
    if kind == AuditKind.password_reset:
        return _("%(actor)s reset the password of %(subject)s.", **values)
    if kind == AuditKind.sessions_ended:
        return _("%(actor)s signed %(subject)s out everywhere (%(count)d sessions).",
                 count=details.get("sessions", 0), **values)
    if kind in (AuditKind.role_granted, AuditKind.role_removed):
        role = Role(details["role"])
        values["role"] = str(ROLE_LABELS[role])
        if kind == AuditKind.role_removed:
            return _("%(actor)s removed the role %(role)s from %(subject)s.", **values)
        return _("%(actor)s gave %(subject)s the role %(role)s.", **values)
    if kind == AuditKind.term_opened:
        return _("%(actor)s appointed %(subject)s secretary from %(date)s.", date=details.get("start_date"), **values)
    if kind == AuditKind.term_ended:
        return _("%(actor)s ended the secretary term of %(subject)s on %(date)s.", date=details.get("end_date"),
                 **values)
    if kind == AuditKind.organization_created:
        return _("%(actor)s added the organization %(name)s.", **values)
    if kind == AuditKind.organization_changed:
        return _("%(actor)s changed the organization %(name)s.", **values)
    if kind == AuditKind.organization_deleted:
        return _("%(actor)s deleted the organization %(name)s.", **values)
    if kind == AuditKind.register_imported:
        return _("%(actor)s imported the resident register: %(added)d added, %(unchanged)d already listed, "
                 "%(verified)d accounts verified.", added=details.get("added", 0),
                 unchanged=details.get("unchanged", 0), verified=details.get("verified", 0), **values)
    if kind == AuditKind.category_created:
        return _("%(actor)s added the category %(name)s.", **values)
    if kind == AuditKind.category_changed:
        return _("%(actor)s changed the category %(name)s.", **values)
    if kind == AuditKind.settings_changed:
        return _("%(actor)s changed the evaluation settings.", **values)
    if kind == AuditKind.survey_opened:
        if details.get("scheduled_for"):
            return _("%(actor)s scheduled the survey %(title)s to open at %(when)s (UTC).",
                     when=details["scheduled_for"].replace("T", " "), **values)
        return _("%(actor)s opened the survey %(title)s.", **values)
    if kind == AuditKind.survey_closed:
        return _("%(actor)s closed the survey %(title)s.", **values)
    if kind == AuditKind.survey_published:
        return _("%(actor)s published the results of the survey %(title)s.", **values)
    if kind == AuditKind.codes_issued:
        return ngettext("%(actor)s issued %(num)d invitation code for the survey %(title)s.",
                        "%(actor)s issued %(num)d invitation codes for the survey %(title)s.",
                        details.get("count", 0), **values)
    if kind == AuditKind.case_reassigned:
        return _("%(actor)s reassigned case %(case)d from %(before)s to %(after)s.",
                 before=person(details.get("from_assignee_id")), after=person(details.get("to_assignee_id")),
                 **values)
    return _("Case %(case)d went on the supervision list of %(organization)s.", **values)


def changes_text(entry: audit.AuditEntry) -> str:
    """List what an entry's act changed, as "what: before → after"."""
    return "; ".join(f"{FIELD_LABELS.get(key, key)}: {_shown(old)} → {_shown(new)}"
                     for key, (old, new) in entry.details.get("changes", {}).items())


def _shown(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


# --- sign-ins, from the signals of Flask-Login and of the login view -------------------------------------

def _signed_in(_app: Flask, user: User, **_extra) -> None:
    audit.record(AuditKind.sign_in, user)
    db.session.commit()


def _signed_out(_app: Flask, user: User, **_extra) -> None:
    if not user.is_authenticated:
        return  # a logout without a sign-in ends nothing
    audit.record(AuditKind.sign_out, user)
    db.session.commit()


def _sign_in_refused(_app: Flask, login: str, address: str | None, **_extra) -> None:
    # The login as typed may be a stranger's phone number or a mistyped password: only an account's id is kept.
    account = find_login(login)
    audit.record(AuditKind.sign_in_failed, None, subject_id=account.id if account else None, origin=address)
    db.session.commit()


def init_app(app: Flask) -> None:
    """Record sign-ins, sign-outs and refused sign-ins of this app in the audit log."""
    # Each receiver commits its own entry: the sign-in receiver of accounts/auth.py commits too, and the
    # order in which a signal calls its receivers is not defined.
    user_logged_in.connect(_signed_in, app)
    user_logged_out.connect(_signed_out, app)
    login_failed.connect(_sign_in_refused, app)

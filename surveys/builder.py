"""Building surveys: who manages which, their settings, questions and the communities they ask."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from accounts.models import Organization, OrgLevel, User
from accounts.users import evaluator_scope
from db import utcnow
from errors import NotFound, PermissionDenied, ValidationFailed
from extensions import db
from surveys import lifecycle
from surveys.models import Anonymity, Invitation, Question, QuestionType, Survey, SurveyKind, SurveyTarget

#: The democratic evaluation's ready questions: (type, text, required, don't-know offered).
DEMOCRATIC_TEMPLATE = (
    (QuestionType.rating3, _l("Overall, how satisfied are you with your community's Party secretary?"), True, True),
    (QuestionType.grade4, _l("How do you rate the secretary's performance this year?"), True, False),
    (QuestionType.rating3, _l("How satisfied are you with how the secretary serves residents?"), True, True),
    (QuestionType.rating3, _l("How satisfied are you with the secretary's leading of study and learning?"), True, True),
    (QuestionType.rating3, _l("How satisfied are you with the secretary's new ideas and innovation?"), True, True),
    (QuestionType.free_text, _l("Anything else you want to tell the organization department? (optional)"), False, False),
)


def manage_scope(actor: User) -> Organization | None:
    """Return the subtree whose surveys the actor manages; None for everything (admin)."""
    return evaluator_scope(actor)


def as_manager(actor: User, survey: Survey) -> frozenset[lifecycle.Party]:
    """Return the parties of a manager of the survey, or raise 403 when the actor is not one."""
    scope = manage_scope(actor)
    if scope is not None and not scope.contains(survey.owner_organization):
        raise PermissionDenied(_l("This survey belongs to another area."))
    return lifecycle.MANAGER


def check_manager(name: str, actor: User, survey: Survey, now: datetime) -> lifecycle.Transition:
    """Check that the actor manages the survey and that its lifecycle allows the transition now."""
    return lifecycle.check(name, survey, now, as_manager(actor, survey))


def get_survey(survey_id: int) -> Survey:
    """Return the survey, or raise 404."""
    survey = db.session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(_l("There is no such survey."))
    return survey


def get_managed_survey(actor: User, survey_id: int) -> Survey:
    """Return a survey the actor may manage, or raise 404/403."""
    survey = get_survey(survey_id)
    as_manager(actor, survey)
    return survey


def managed_surveys(actor: User) -> list[Survey]:
    """Return the surveys of the actor's area, the latest opening first."""
    scope = manage_scope(actor)
    query = select(Survey).join(Organization, Survey.owner_organization_id == Organization.id)
    if scope is not None:
        query = query.where(Organization.path.startswith(scope.path))
    return list(db.session.scalars(query.order_by(Survey.opens_at.desc(), Survey.id.desc())))


def _check_settings(title: str, kind: SurveyKind, anonymity: Anonymity, opens_at: datetime, closes_at: datetime,
                    min_group_size: int) -> None:
    errors = {}
    if not title.strip():
        errors["title"] = [_l("Give the survey a title.")]
    if closes_at <= opens_at:
        errors["closes_at"] = [_l("The survey must close after it opens.")]
    if min_group_size < 3:
        errors["min_group_size"] = [_l("The minimum group size is at least 3, to protect anonymity.")]
    if kind == SurveyKind.democratic_evaluation and anonymity != Anonymity.anonymous:
        # Residents judge their own secretary: only a ballot nobody can trace back is a free one.
        errors["anonymity"] = [_l("A democratic evaluation is always anonymous.")]
    if errors:
        raise ValidationFailed(errors)


def create_survey(
    actor: User, *, title: str, description: str, kind: SurveyKind, anonymity: Anonymity, opens_at: datetime,
    closes_at: datetime, min_group_size: int, owner_organization_id: int | None,
) -> Survey:
    """Create a draft survey in the actor's area; a democratic evaluation gets its ready questions."""
    scope = manage_scope(actor)
    owner = scope if scope is not None else db.session.get(Organization, owner_organization_id or 0)
    if owner is None:
        raise ValidationFailed({"owner": [_l("Choose the organization that runs the survey.")]})
    _check_settings(title, kind, anonymity, opens_at, closes_at, min_group_size)
    survey = Survey(
        title=title.strip(), description=description.strip(), kind=kind, anonymity=anonymity, opens_at=opens_at,
        closes_at=closes_at, min_group_size=min_group_size, owner_organization=owner, created_by_id=actor.id,
    )
    db.session.add(survey)
    if kind == SurveyKind.democratic_evaluation:
        for position, (qtype, text, required, dont_know) in enumerate(DEMOCRATIC_TEMPLATE, start=1):
            survey.questions.append(Question(position=position, type=qtype, text=str(text), required=required,
                                             allow_dont_know=dont_know, choices=[]))
    db.session.flush()
    return survey


def update_survey(
    actor: User, survey: Survey, *, title: str, description: str, anonymity: Anonymity, opens_at: datetime,
    closes_at: datetime, min_group_size: int, now: datetime,
) -> Survey:
    """Change a survey's settings; once open only the title, description and closing time may change."""
    check_manager("edit_details", actor, survey, now)
    if (anonymity, min_group_size, opens_at) != (survey.anonymity, survey.min_group_size, survey.opens_at):
        check_manager("edit_rules", actor, survey, now)
    _check_settings(title, survey.kind, anonymity, opens_at, closes_at, min_group_size)
    if survey.is_locked and closes_at <= now:
        raise ValidationFailed({"closes_at": [_l("To close the survey now, use “Close now”.")]})
    survey.title, survey.description = title.strip(), description.strip()
    survey.anonymity, survey.opens_at, survey.closes_at = anonymity, opens_at, closes_at
    survey.min_group_size = min_group_size
    db.session.flush()
    return survey


def _check_question(qtype: QuestionType, text: str, choices: list[str]) -> list[str]:
    errors = {}
    if not text.strip():
        errors["text"] = [_l("Write the question.")]
    cleaned = [c.strip() for c in choices if c.strip()]
    if qtype == QuestionType.single_choice and len(cleaned) < 2:
        errors["choices"] = [_l("Give at least two choices, one per line.")]
    if len(cleaned) > 20:
        errors["choices"] = [_l("Give at most 20 choices.")]
    if errors:
        raise ValidationFailed(errors)
    return cleaned if qtype == QuestionType.single_choice else []


def add_question(actor: User, survey: Survey, *, qtype: QuestionType, text: str, required: bool,
                 allow_dont_know: bool, choices: list[str]) -> Question:
    """Add a question at the end of a draft survey."""
    check_manager("edit_questions", actor, survey, utcnow())
    cleaned = _check_question(qtype, text, choices)
    position = max((q.position for q in survey.questions), default=0) + 1
    question = Question(survey=survey, position=position, type=qtype, text=text.strip(), required=required,
                        allow_dont_know=allow_dont_know and qtype == QuestionType.rating3, choices=cleaned)
    db.session.add(question)
    db.session.flush()
    return question


def update_question(actor: User, question: Question, *, qtype: QuestionType, text: str, required: bool,
                    allow_dont_know: bool, choices: list[str]) -> Question:
    """Change a question of a draft survey."""
    check_manager("edit_questions", actor, question.survey, utcnow())
    question.choices = _check_question(qtype, text, choices)
    question.type, question.text, question.required = qtype, text.strip(), required
    question.allow_dont_know = allow_dont_know and qtype == QuestionType.rating3
    db.session.flush()
    return question


def get_question(survey: Survey, question_id: int) -> Question:
    """Return a question of the survey, or raise 404."""
    question = db.session.get(Question, question_id)
    if question is None or question.survey_id != survey.id:
        raise NotFound(_l("There is no such question in this survey."))
    return question


def delete_question(actor: User, question: Question) -> None:
    """Remove a question from a draft survey, closing the gap it leaves."""
    survey = question.survey
    check_manager("edit_questions", actor, survey, utcnow())
    survey.questions.remove(question)
    db.session.flush()
    _renumber(survey)


def move_question(actor: User, question: Question, offset: int) -> None:
    """Move a question up (-1) or down (+1) in its survey."""
    survey = question.survey
    check_manager("edit_questions", actor, survey, utcnow())
    order = list(survey.questions)
    index = order.index(question)
    target = index + offset
    if not 0 <= target < len(order):
        return
    order[index], order[target] = order[target], order[index]
    _renumber(survey, order)


def _renumber(survey: Survey, order: list[Question] | None = None) -> None:
    order = order if order is not None else sorted(survey.questions, key=lambda q: q.position)
    # Two passes so the unique (survey, position) never sees a duplicate midway.
    for index, question in enumerate(order, start=1):
        question.position = -index
    db.session.flush()
    for index, question in enumerate(order, start=1):
        question.position = index
    db.session.flush()
    db.session.expire(survey, ["questions"])


def set_targets(actor: User, survey: Survey, organization_ids: list[int]) -> None:
    """Choose the communities the survey asks; they must lie in the survey's area."""
    check_manager("edit_questions", actor, survey, utcnow())
    owner = survey.owner_organization
    communities = list(db.session.scalars(select(Organization).where(
        Organization.id.in_(organization_ids), Organization.level == OrgLevel.community,
        Organization.path.startswith(owner.path),
    ))) if organization_ids else []
    if len(communities) != len(set(organization_ids)):
        raise ValidationFailed({"targets": [_l("Choose communities within the survey's area.")]})
    wanted = {c.id for c in communities}
    survey.targets = [t for t in survey.targets if t.organization_id in wanted] + [
        SurveyTarget(organization_id=c.id) for c in communities
        if c.id not in {t.organization_id for t in survey.targets}
    ]
    # Codes already printed for a community taken off the survey would only be refused later.
    db.session.execute(delete(Invitation).where(
        Invitation.survey_id == survey.id, Invitation.organization_id.not_in(wanted or {0})
    ))
    db.session.flush()

"""Building surveys: access by area, settings, questions, communities, and what opening locks."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from accounts.models import Role
from errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from tests.conftest import BOX_KEY
from surveys import builder, transitions
from surveys.models import DONT_KNOW, Anonymity, Question, QuestionType, Survey, SurveyKind, SurveyState, SurveyTarget
from tests.surveys.conftest import DAY, HOUR, T0, positions, reloaded


@pytest.mark.parametrize("change, field", [
    ({"min_group_size": 2}, "min_group_size"),
    ({"min_group_size": 0}, "min_group_size"),
    ({"closes_at": T0}, "closes_at"),
    ({"closes_at": T0 - HOUR}, "closes_at"),
    ({"title": "   "}, "title"),
])
def test_create_and_update_refuse_bad_settings(sv, world, change, field):
    settings_ = {"title": "Street cleaning", "description": "", "kind": SurveyKind.general,
                 "anonymity": Anonymity.anonymous, "opens_at": T0, "closes_at": T0 + DAY, "min_group_size": 5}
    with pytest.raises(ValidationFailed) as refused:
        builder.create_survey(world["evaluator"], owner_organization_id=None, **{**settings_, **change})
    assert set(refused.value.errors) == {field}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0

    survey = sv.create()
    update = {k: v for k, v in settings_.items() if k != "kind"}
    with pytest.raises(ValidationFailed) as refused:
        builder.update_survey(world["evaluator"], survey, **{**update, **change}, now=T0)
    assert set(refused.value.errors) == {field}
    survey = reloaded(survey)
    assert (survey.title, survey.min_group_size, survey.closes_at) == ("Street cleaning", 5, T0 + 7 * DAY)


def test_k_of_three_is_accepted_and_the_database_refuses_less(sv):
    assert sv.create(k=3).min_group_size == 3
    assert Survey.__table__.c.min_group_size.default.arg == 5
    survey = sv.create()
    survey.min_group_size = 2
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()


def test_a_survey_belongs_to_the_evaluator_s_area_and_only_evaluators_and_admins_create(sv, world):
    survey = sv.create()
    assert survey.state == SurveyState.draft
    assert survey.owner_organization_id == world["township"].id
    assert survey.created_by_id == world["evaluator"].id
    assert survey.questions == [] and survey.targets == []
    with pytest.raises(ValidationFailed):  # an admin names the organization that runs it
        builder.create_survey(world["admin"], title="T", description="", kind=SurveyKind.general,
                              anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5,
                              owner_organization_id=None)
    owned = builder.create_survey(world["admin"], title="T", description="", kind=SurveyKind.general,
                                  anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5,
                                  owner_organization_id=world["district"].id)
    assert owned.owner_organization_id == world["district"].id
    for name in ("resident", "member"):
        with pytest.raises(PermissionDenied):
            builder.create_survey(world[name], title="T", description="", kind=SurveyKind.general,
                                  anonymity=Anonymity.anonymous, opens_at=T0, closes_at=T0 + DAY, min_group_size=5,
                                  owner_organization_id=None)


def test_evaluators_manage_only_surveys_of_their_area(sv, world, make):
    survey = sv.create()
    assert builder.get_managed_survey(world["evaluator"], survey.id) is survey
    assert builder.get_managed_survey(world["admin"], survey.id) is survey
    assert builder.managed_surveys(world["evaluator"]) == [survey]
    outsider = make.user((Role.evaluator, world["other_community"].parent), username="outsider")
    with pytest.raises(PermissionDenied):
        builder.get_managed_survey(outsider, survey.id)
    assert builder.managed_surveys(outsider) == []
    with pytest.raises(NotFound):
        builder.get_managed_survey(world["evaluator"], survey.id + 1000)


def test_a_democratic_evaluation_gets_the_six_template_questions(sv):
    survey = sv.create(kind=SurveyKind.democratic_evaluation)
    rows = [(q.position, q.type, q.required, q.allow_dont_know) for q in reloaded(survey).questions]
    assert rows == [
        (1, QuestionType.rating3, True, True),    # overall, with don't know
        (2, QuestionType.grade4, True, False),
        (3, QuestionType.rating3, True, True),    # service
        (4, QuestionType.rating3, True, True),    # learning
        (5, QuestionType.rating3, True, True),    # innovation
        (6, QuestionType.free_text, False, False),  # the optional comment
    ]
    questions = reloaded(survey).questions
    topics = ("Overall", "performance", "serves residents", "learning", "innovation", "optional")
    assert all(topic in q.text for topic, q in zip(topics, questions))
    assert questions[0].option_values() == ("satisfied", "basically_satisfied", "dissatisfied", DONT_KNOW)
    assert questions[1].option_values() == ("excellent", "competent", "basically_competent", "incompetent")
    assert questions[5].option_values() == ()
    assert sv.create(kind=SurveyKind.service_satisfaction).questions == []


# --- questions ----------------------------------------------------------------------------

@pytest.mark.parametrize("choices", [[], ["Bus"], ["Bus", "  ", ""]])
def test_single_choice_needs_two_choices(sv, world, choices):
    survey = sv.create()
    with pytest.raises(ValidationFailed) as refused:
        builder.add_question(world["evaluator"], survey, qtype=QuestionType.single_choice, text="How?",
                             required=True, allow_dont_know=False, choices=choices)
    assert set(refused.value.errors) == {"choices"}
    assert positions(reloaded(survey)) == []


def test_question_text_is_required_and_choices_are_cleaned(sv, world):
    survey = sv.create()
    with pytest.raises(ValidationFailed) as refused:
        builder.add_question(world["evaluator"], survey, qtype=QuestionType.rating3, text="  ", required=True,
                             allow_dont_know=False, choices=[])
    assert set(refused.value.errors) == {"text"}
    question = builder.add_question(world["evaluator"], survey, qtype=QuestionType.single_choice, text=" How? ",
                                    required=True, allow_dont_know=True, choices=[" Bus ", "", "Bike"])
    assert (question.text, question.choices, question.allow_dont_know) == ("How?", ["Bus", "Bike"], False)
    assert question.option_values() == ("0", "1")
    rating = builder.add_question(world["evaluator"], survey, qtype=QuestionType.rating3, text="Happy?",
                                  required=True, allow_dont_know=False, choices=["stray"])
    assert rating.choices == [] and rating.option_values() == ("satisfied", "basically_satisfied", "dissatisfied")
    with pytest.raises(ValidationFailed):
        builder.update_question(world["evaluator"], question, qtype=QuestionType.single_choice, text="How?",
                                required=True, allow_dont_know=False, choices=["Bus"])


def test_adding_deleting_and_moving_keep_positions_one_to_n(sv, world):
    evaluator = world["evaluator"]
    survey = sv.create()
    sv.add_questions(survey)
    ids = [q.id for q in reloaded(survey).questions]
    assert positions(survey) == list(zip(range(1, 6), ids))

    def check(expected_ids):
        survey_ = reloaded(survey)
        assert positions(survey_) == list(zip(range(1, len(expected_ids) + 1), expected_ids))
        assert [q.id for q in survey_.questions] == expected_ids
        return survey_

    builder.delete_question(evaluator, builder.get_question(survey, ids[1]))
    db.session.commit()
    ids.pop(1)
    survey = check(ids)

    builder.move_question(evaluator, builder.get_question(survey, ids[0]), +1)
    db.session.commit()
    ids[0], ids[1] = ids[1], ids[0]
    survey = check(ids)
    builder.move_question(evaluator, builder.get_question(survey, ids[-1]), -1)
    db.session.commit()
    ids[-1], ids[-2] = ids[-2], ids[-1]
    survey = check(ids)
    builder.move_question(evaluator, builder.get_question(survey, ids[0]), -1)  # already first
    builder.move_question(evaluator, builder.get_question(survey, ids[-1]), +1)  # already last
    db.session.commit()
    survey = check(ids)

    added = builder.add_question(evaluator, survey, qtype=QuestionType.free_text, text="More?", required=False,
                                 allow_dont_know=False, choices=[])
    db.session.commit()
    survey = check(ids + [added.id])

    other = sv.create()
    sv.add_questions(other)
    with pytest.raises(NotFound):
        builder.get_question(survey, reloaded(other).questions[0].id)


def test_targets_are_communities_of_the_survey_s_area(sv, world):
    evaluator = world["evaluator"]
    survey = sv.create()
    for wrong in ([world["other_community"].id], [world["township"].id], [world["community"].id, 10**6]):
        with pytest.raises(ValidationFailed) as refused:
            builder.set_targets(evaluator, survey, wrong)
        assert set(refused.value.errors) == {"targets"}
        assert reloaded(survey).targets == []
    builder.set_targets(evaluator, survey, [world["community"].id, world["summer"].id])
    db.session.commit()
    assert [t.organization_id for t in reloaded(survey).targets] == sorted([world["community"].id, world["summer"].id])
    builder.set_targets(evaluator, reloaded(survey), [world["summer"].id])
    db.session.commit()
    assert [t.organization_id for t in reloaded(survey).targets] == [world["summer"].id]


# --- locking ------------------------------------------------------------------------------

def test_after_opening_questions_targets_k_anonymity_and_opening_time_are_locked(sv, world):
    evaluator = world["evaluator"]
    survey = sv.opened()
    question = survey.questions[0]
    locked = [
        lambda: builder.add_question(evaluator, survey, qtype=QuestionType.rating3, text="New?", required=True,
                                     allow_dont_know=False, choices=[]),
        lambda: builder.update_question(evaluator, question, qtype=QuestionType.rating3, text="Changed?",
                                        required=True, allow_dont_know=False, choices=[]),
        lambda: builder.delete_question(evaluator, question),
        lambda: builder.move_question(evaluator, question, +1),
        lambda: builder.set_targets(evaluator, survey, [world["community"].id]),
        lambda: transitions.open_survey(evaluator, survey, T0 + HOUR, box_key=BOX_KEY),
        lambda: transitions.delete_survey(evaluator, survey),
    ]
    settings_ = {"title": survey.title, "description": "", "anonymity": survey.anonymity,
                 "opens_at": survey.opens_at, "closes_at": survey.closes_at, "min_group_size": survey.min_group_size}
    for change in ({"min_group_size": 7}, {"anonymity": Anonymity.identified}, {"opens_at": T0 + HOUR}):
        locked.append(lambda change=change: builder.update_survey(evaluator, survey, **{**settings_, **change}, now=T0 + HOUR))
    before = (positions(survey), [(t.organization_id, t.term_id) for t in survey.targets])
    for attempt in locked:
        with pytest.raises(Conflict):
            attempt()
        survey = reloaded(survey)
        question = survey.questions[0]
        assert (positions(survey), [(t.organization_id, t.term_id) for t in survey.targets]) == before
        assert (survey.min_group_size, survey.anonymity, survey.opens_at) == (5, Anonymity.anonymous, T0)

    builder.update_survey(evaluator, survey, **{**settings_, "title": "Cleaner streets", "description": "Tell us.",
                                                "closes_at": T0 + 10 * DAY}, now=T0 + HOUR)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.title, survey.description, survey.closes_at) == ("Cleaner streets", "Tell us.", T0 + 10 * DAY)
    assert survey.state == SurveyState.open


def test_a_draft_can_be_changed_and_deleted(sv, world):
    survey = sv.draft()
    builder.update_survey(world["evaluator"], survey, title="Other", description="", anonymity=Anonymity.identified,
                          opens_at=T0 + DAY, closes_at=T0 + 2 * DAY, min_group_size=3, now=T0)
    db.session.commit()
    survey = reloaded(survey)
    assert (survey.anonymity, survey.opens_at, survey.min_group_size) == (Anonymity.identified, T0 + DAY, 3)
    transitions.delete_survey(world["evaluator"], survey)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Question)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyTarget)) == 0

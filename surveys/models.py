"""Surveys, their questions and targets, invitation codes, participation, envelopes, ballots and rollups.

While an anonymous survey is open, a submission writes who took part (a participation) and a
sealed envelope: the answers encrypted to the survey's key, a random id, nothing else. The
tally writes ballots and answers from the envelopes at close, shuffled, with random UUIDs and
no date, so nothing about a ballot orders or times it against the participations.
"""
from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON, CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, LargeBinary, String, Text, UniqueConstraint, Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organization, SecretaryTerm, User, name_referrers
from db import enum_column, utcnow
from extensions import db


class SurveyKind(enum.Enum):
    democratic_evaluation = "democratic_evaluation"
    service_satisfaction = "service_satisfaction"
    general = "general"


class SurveyState(enum.Enum):
    draft = "draft"
    open = "open"
    closed = "closed"
    published = "published"


class Anonymity(enum.Enum):
    anonymous = "anonymous"
    identified = "identified"


class QuestionType(enum.Enum):
    rating3 = "rating3"
    grade4 = "grade4"
    likert5 = "likert5"
    single_choice = "single_choice"
    free_text = "free_text"


#: The answer values of each closed question type, in display order.
OPTIONS = {
    QuestionType.rating3: ("satisfied", "basically_satisfied", "dissatisfied"),
    QuestionType.grade4: ("excellent", "competent", "basically_competent", "incompetent"),
    QuestionType.likert5: ("1", "2", "3", "4", "5"),
}
DONT_KNOW = "dont_know"


class Survey(db.Model):
    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint("min_group_size >= 3", name="k_at_least_3"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[SurveyKind] = mapped_column(enum_column(SurveyKind, "survey_kind"), default=SurveyKind.general)
    state: Mapped[SurveyState] = mapped_column(enum_column(SurveyState, "survey_state"), default=SurveyState.draft)
    anonymity: Mapped[Anonymity] = mapped_column(enum_column(Anonymity), default=Anonymity.anonymous)
    #: No aggregate is shown for fewer answers than this (k).
    min_group_size: Mapped[int] = mapped_column(default=5)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    #: The subtree the survey belongs to: evaluators of it may manage it.
    owner_organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    #: Anonymous surveys, from opening: the public key that ballots are sealed to.
    ballot_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    #: Its private key, sealed by the ballot-box key kept outside the database; the tally destroys it.
    sealed_private_key: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    #: When the tally had made every envelope a ballot; results exist only from then.
    counted_at: Mapped[datetime | None]

    owner_organization: Mapped[Organization] = relationship()
    created_by: Mapped[User] = relationship()
    questions: Mapped[list[Question]] = relationship(
        back_populates="survey", order_by="Question.position", cascade="all, delete-orphan"
    )
    targets: Mapped[list[SurveyTarget]] = relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="SurveyTarget.organization_id"
    )

    @property
    def is_locked(self) -> bool:
        """Questions, targets and k stay as they were once the survey has opened."""
        return self.state != SurveyState.draft


class Question(db.Model):
    __tablename__ = "survey_questions"
    __table_args__ = (UniqueConstraint("survey_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    type: Mapped[QuestionType] = mapped_column(enum_column(QuestionType, "question_type"))
    text: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(default=True)
    #: rating3 only: offer 不了解 "don't know", which is left out of N.
    allow_dont_know: Mapped[bool] = mapped_column(default=False)
    #: single_choice only: the options' labels, in order; answers store the index.
    choices: Mapped[list] = mapped_column(JSON, default=list)

    survey: Mapped[Survey] = relationship(back_populates="questions")

    def option_values(self) -> tuple[str, ...]:
        """Return the values a valid answer may take (empty for free text)."""
        if self.type == QuestionType.single_choice:
            return tuple(str(i) for i in range(len(self.choices)))
        values = OPTIONS.get(self.type, ())
        if self.type == QuestionType.rating3 and self.allow_dont_know:
            values = values + (DONT_KNOW,)
        return values


class SurveyTarget(db.Model):
    """A community asked in a survey, with the secretary evaluated and the counts for turnout."""

    __tablename__ = "survey_targets"

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    #: The secretary term open when the survey opened; ratings attach to it.
    term_id: Mapped[int | None] = mapped_column(ForeignKey("secretary_terms.id"), index=True)
    #: Verified residents when the survey opened (the turnout denominator, with codes issued).
    eligible_residents: Mapped[int] = mapped_column(default=0)
    codes_issued: Mapped[int] = mapped_column(default=0)
    #: Ballots cast, counted in the ballot's own transaction.
    ballots: Mapped[int] = mapped_column(default=0)
    #: Set by the tally's last step: a ballot still on its way then is refused, never left uncounted.
    counted: Mapped[bool] = mapped_column(default=False)

    survey: Mapped[Survey] = relationship(back_populates="targets")
    organization: Mapped[Organization] = relationship(lazy="joined")
    term: Mapped[SecretaryTerm | None] = relationship()


class Invitation(db.Model):
    """A one-use invitation code; only its keyed hash is stored."""

    __tablename__ = "survey_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Participation(db.Model):
    """Who has taken part in a survey: a resident or an invitation. Never which ballot is theirs."""

    __tablename__ = "survey_participations"
    __table_args__ = (
        UniqueConstraint("survey_id", "resident_id"),
        UniqueConstraint("survey_id", "invitation_id"),
        CheckConstraint("(resident_id IS NULL) <> (invitation_id IS NULL)", name="one_voter"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("survey_invitations.id"))
    day: Mapped[date]
    #: Identified surveys only: the ballot given. Always empty for anonymous surveys.
    ballot_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("survey_ballots.id"))


class Envelope(db.Model):
    """A sealed ballot waiting for the tally: the answers encrypted to the survey's key, and nothing else.

    No time and no sequence; the key (survey, community, random id) is all its order, and the
    tally deletes it when it writes the ballot.
    """

    __tablename__ = "survey_envelopes"
    __table_args__ = {"sqlite_with_rowid": False}

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Ballot(db.Model):
    """One answered ballot, as the tally wrote it (or, for an identified survey, as it was given)."""

    __tablename__ = "survey_ballots"
    __table_args__ = (
        # The secretary page reads one community's comments of a survey; without it, every ballot of the survey.
        Index("ix_survey_ballots_survey_organization", "survey_id", "organization_id"),
        # Without SQLite's hidden rowid, storage order cannot be matched against participations.
        {"sqlite_with_rowid": False},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Indexed first in (survey_id, organization_id): an index of its own would only slow each ballot down.
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    #: The community whose secretary (or service) the ballot rates.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))

    answers: Mapped[list[BallotAnswer]] = relationship(cascade="all, delete-orphan")


name_referrers(
    _l("surveys"), Survey.__table__, SurveyTarget.__table__, Invitation.__table__, Participation.__table__,
    Envelope.__table__, Ballot.__table__,
)


class BallotAnswer(db.Model):
    __tablename__ = "survey_ballot_answers"
    __table_args__ = {"sqlite_with_rowid": False}

    ballot_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("survey_ballots.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id", ondelete="CASCADE"), primary_key=True)
    #: The option chosen; None for free text.
    value: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str | None] = mapped_column(Text)


class Rollup(db.Model):
    """How many ballots of a target community chose an option: what results read, never ballots."""

    __tablename__ = "survey_rollups"
    __table_args__ = (
        ForeignKeyConstraint(
            ["survey_id", "organization_id"], ["survey_targets.survey_id", "survey_targets.organization_id"],
            ondelete="CASCADE",
        ),
        Index("ix_survey_rollups_question", "question_id"),
    )

    survey_id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id", ondelete="CASCADE"), primary_key=True)
    #: An option value, or "answered" for free text.
    option: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)

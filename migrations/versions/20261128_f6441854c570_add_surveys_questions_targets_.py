"""Add surveys, questions, targets, invitations, participations, ballots and rollups

Revision ID: f6441854c570
Revises: 059550360966
Create Date: 2026-11-28 00:20:03.108626

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f6441854c570'
down_revision = '059550360966'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kind', sa.Enum('democratic_evaluation', 'service_satisfaction', 'general', name='survey_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('state', sa.Enum('draft', 'open', 'closed', 'published', name='survey_state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('anonymity', sa.Enum('anonymous', 'identified', name='anonymity', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('min_group_size', sa.Integer(), nullable=False),
    sa.Column('opens_at', sa.DateTime(), nullable=False),
    sa.Column('closes_at', sa.DateTime(), nullable=False),
    sa.Column('owner_organization_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_surveys_closes_after_opening')),
    sa.CheckConstraint('min_group_size >= 3', name=op.f('ck_surveys_k_at_least_3')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_surveys_created_by_id_users')),
    sa.ForeignKeyConstraint(['owner_organization_id'], ['organizations.id'], name=op.f('fk_surveys_owner_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys'))
    )
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_surveys_owner_organization_id'), ['owner_organization_id'], unique=False)

    op.create_table('survey_ballots',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_survey_ballots_organization_id_organizations')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_ballots_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_ballots')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('survey_ballots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_ballots_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_survey_invitations_organization_id_organizations')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_invitations_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_invitations')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_survey_invitations_code_hash'))
    )
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_invitations_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('type', sa.Enum('rating3', 'grade4', 'likert5', 'single_choice', 'free_text', name='question_type', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('allow_dont_know', sa.Boolean(), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_questions_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_questions')),
    sa.UniqueConstraint('survey_id', 'position', name=op.f('uq_survey_questions_survey_id_position'))
    )
    with op.batch_alter_table('survey_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_questions_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_targets',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=True),
    sa.Column('eligible_residents', sa.Integer(), nullable=False),
    sa.Column('codes_issued', sa.Integer(), nullable=False),
    sa.Column('ballots', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_survey_targets_organization_id_organizations')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_targets_survey_id_surveys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['term_id'], ['secretary_terms.id'], name=op.f('fk_survey_targets_term_id_secretary_terms')),
    sa.PrimaryKeyConstraint('survey_id', 'organization_id', name=op.f('pk_survey_targets'))
    )
    with op.batch_alter_table('survey_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_targets_term_id'), ['term_id'], unique=False)

    op.create_table('survey_ballot_answers',
    sa.Column('ballot_id', sa.Uuid(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=40), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['ballot_id'], ['survey_ballots.id'], name=op.f('fk_survey_ballot_answers_ballot_id_survey_ballots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['survey_questions.id'], name=op.f('fk_survey_ballot_answers_question_id_survey_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ballot_id', 'question_id', name=op.f('pk_survey_ballot_answers')),
    sqlite_with_rowid=False
    )
    op.create_table('survey_participations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('ballot_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint('(resident_id IS NULL) <> (invitation_id IS NULL)', name=op.f('ck_survey_participations_one_voter')),
    sa.ForeignKeyConstraint(['ballot_id'], ['survey_ballots.id'], name=op.f('fk_survey_participations_ballot_id_survey_ballots')),
    sa.ForeignKeyConstraint(['invitation_id'], ['survey_invitations.id'], name=op.f('fk_survey_participations_invitation_id_survey_invitations')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_survey_participations_organization_id_organizations')),
    sa.ForeignKeyConstraint(['resident_id'], ['users.id'], name=op.f('fk_survey_participations_resident_id_users')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_participations_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_participations')),
    sa.UniqueConstraint('survey_id', 'invitation_id', name=op.f('uq_survey_participations_survey_id_invitation_id')),
    sa.UniqueConstraint('survey_id', 'resident_id', name=op.f('uq_survey_participations_survey_id_resident_id'))
    )
    with op.batch_alter_table('survey_participations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_participations_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_rollups',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('option', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['survey_questions.id'], name=op.f('fk_survey_rollups_question_id_survey_questions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id', 'organization_id'], ['survey_targets.survey_id', 'survey_targets.organization_id'], name=op.f('fk_survey_rollups_survey_id_survey_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('survey_id', 'organization_id', 'question_id', 'option', name=op.f('pk_survey_rollups'))
    )
    with op.batch_alter_table('survey_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_survey_rollups_question', ['question_id'], unique=False)



def downgrade():
    with op.batch_alter_table('survey_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_rollups_question')

    op.drop_table('survey_rollups')
    with op.batch_alter_table('survey_participations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_participations_survey_id'))

    op.drop_table('survey_participations')
    op.drop_table('survey_ballot_answers')
    with op.batch_alter_table('survey_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_targets_term_id'))

    op.drop_table('survey_targets')
    with op.batch_alter_table('survey_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_questions_survey_id'))

    op.drop_table('survey_questions')
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_invitations_survey_id'))

    op.drop_table('survey_invitations')
    with op.batch_alter_table('survey_ballots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_ballots_survey_id'))

    op.drop_table('survey_ballots')
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_surveys_owner_organization_id'))

    op.drop_table('surveys')

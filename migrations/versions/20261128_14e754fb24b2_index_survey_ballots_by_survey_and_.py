"""Index survey ballots by survey and organization, replacing the index by survey alone

Revision ID: 14e754fb24b2
Revises: e7bcbee5e061
Create Date: 2026-11-28 02:40:28.588706

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '14e754fb24b2'
down_revision = 'e7bcbee5e061'
branch_labels = None
depends_on = None


def upgrade():
    # The secretary page's comments are one community's answers in a survey: without this index, reading them
    # goes through every ballot of the survey.
    with op.batch_alter_table('survey_ballots', schema=None) as batch_op:
        batch_op.create_index('ix_survey_ballots_survey_organization', ['survey_id', 'organization_id'], unique=False)
        # Lookups by survey alone use the new index's first column.
        batch_op.drop_index('ix_survey_ballots_survey_id')


def downgrade():
    with op.batch_alter_table('survey_ballots', schema=None) as batch_op:
        batch_op.create_index('ix_survey_ballots_survey_id', ['survey_id'], unique=False)
        batch_op.drop_index('ix_survey_ballots_survey_organization')

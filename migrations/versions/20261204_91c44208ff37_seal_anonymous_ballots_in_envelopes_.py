"""Seal anonymous ballots in envelopes until the tally

Revision ID: 91c44208ff37
Revises: 14e754fb24b2
Create Date: 2026-12-04 15:44:11.245484

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '91c44208ff37'
down_revision = '14e754fb24b2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('survey_envelopes',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_survey_envelopes_organization_id_organizations')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_envelopes_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('survey_id', 'organization_id', 'id', name=op.f('pk_survey_envelopes')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('survey_ballots', schema=None) as batch_op:
        batch_op.drop_column('day')

    with op.batch_alter_table('survey_targets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counted', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ballot_public_key', sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column('sealed_private_key', sa.LargeBinary(length=128), nullable=True))
        batch_op.add_column(sa.Column('counted_at', sa.DateTime(), nullable=True))

    # Surveys closed before envelopes existed wrote their ballots directly: they are counted already.
    op.execute("UPDATE surveys SET counted_at = COALESCE(closed_at, closes_at) WHERE state IN ('closed', 'published')")
    op.execute("UPDATE survey_targets SET counted = true WHERE survey_id IN "
               "(SELECT id FROM surveys WHERE counted_at IS NOT NULL)")


def downgrade():
    with op.batch_alter_table('surveys', schema=None) as batch_op:
        batch_op.drop_column('counted_at')
        batch_op.drop_column('sealed_private_key')
        batch_op.drop_column('ballot_public_key')

    with op.batch_alter_table('survey_targets', schema=None) as batch_op:
        batch_op.drop_column('counted')

    with op.batch_alter_table('survey_ballots', schema=None) as batch_op:
        # The tally kept no date; the day of the downgrade stands in for it.
        batch_op.add_column(sa.Column('day', sa.Date(), nullable=False, server_default=sa.func.current_date()))

    op.drop_table('survey_envelopes')

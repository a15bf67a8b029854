"""Index cases by organization, state and submission time

Revision ID: e7bcbee5e061
Revises: 70051832f381
Create Date: 2026-11-28 01:30:35.207681

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e7bcbee5e061'
down_revision = '70051832f381'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_organization_state'))
        batch_op.create_index('ix_cases_organization_state_submitted', ['organization_id', 'state', 'submitted_at'], unique=False)



def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_organization_state_submitted')
        batch_op.create_index(batch_op.f('ix_cases_organization_state'), ['organization_id', 'state'], unique=False)


"""Add evaluation settings, result settings and case figures

Revision ID: 70051832f381
Revises: f6441854c570
Create Date: 2026-11-28 00:47:30.661601

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '70051832f381'
down_revision = 'f6441854c570'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('evaluation_settings',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('theta_numerator', sa.Integer(), nullable=False),
    sa.Column('theta_denominator', sa.Integer(), nullable=False),
    sa.Column('shrink_m', sa.Integer(), nullable=False),
    sa.Column('weight_survey_satisfaction', sa.Double(), nullable=False),
    sa.Column('weight_response_rate', sa.Double(), nullable=False),
    sa.Column('weight_resolution_rate', sa.Double(), nullable=False),
    sa.Column('weight_case_satisfaction_rate', sa.Double(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_evaluation_settings_single_row')),
    sa.CheckConstraint('shrink_m >= 0', name=op.f('ck_evaluation_settings_shrink_m_not_negative')),
    sa.CheckConstraint('theta_numerator > 0 AND theta_numerator < theta_denominator', name=op.f('ck_evaluation_settings_theta_in_0_1')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_evaluation_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_settings'))
    )
    op.create_table('evaluation_case_figures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.Integer(), nullable=True),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('submitted', sa.Integer(), nullable=False),
    sa.Column('responded_in_time', sa.Integer(), nullable=False),
    sa.Column('with_feedback', sa.Integer(), nullable=False),
    sa.Column('solved', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Integer(), nullable=False),
    sa.Column('basically_satisfied', sa.Integer(), nullable=False),
    sa.Column('dissatisfied', sa.Integer(), nullable=False),
    sa.Column('overdue', sa.Integer(), nullable=False),
    sa.Column('reopened', sa.Integer(), nullable=False),
    sa.Column('resolve_hours', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_evaluation_case_figures_organization_id_organizations')),
    sa.ForeignKeyConstraint(['term_id'], ['secretary_terms.id'], name=op.f('fk_evaluation_case_figures_term_id_secretary_terms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_case_figures')),
    sa.UniqueConstraint('organization_id', 'term_id', 'month', name=op.f('uq_evaluation_case_figures_organization_id_term_id_month'))
    )
    with op.batch_alter_table('evaluation_case_figures', schema=None) as batch_op:
        batch_op.create_index('ix_evaluation_case_figures_month', ['month'], unique=False)
        batch_op.create_index('ix_evaluation_case_figures_term_month', ['term_id', 'month'], unique=False)

    op.create_table('evaluation_result_settings',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('theta_numerator', sa.Integer(), nullable=False),
    sa.Column('theta_denominator', sa.Integer(), nullable=False),
    sa.Column('shrink_m', sa.Integer(), nullable=False),
    sa.Column('weight_survey_satisfaction', sa.Double(), nullable=False),
    sa.Column('weight_response_rate', sa.Double(), nullable=False),
    sa.Column('weight_resolution_rate', sa.Double(), nullable=False),
    sa.Column('weight_case_satisfaction_rate', sa.Double(), nullable=False),
    sa.CheckConstraint('shrink_m >= 0', name=op.f('ck_evaluation_result_settings_shrink_m_not_negative')),
    sa.CheckConstraint('theta_numerator > 0 AND theta_numerator < theta_denominator', name=op.f('ck_evaluation_result_settings_theta_in_0_1')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_evaluation_result_settings_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('survey_id', name=op.f('pk_evaluation_result_settings'))
    )


def downgrade():
    op.drop_table('evaluation_result_settings')
    with op.batch_alter_table('evaluation_case_figures', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluation_case_figures_term_month')
        batch_op.drop_index('ix_evaluation_case_figures_month')

    op.drop_table('evaluation_case_figures')
    op.drop_table('evaluation_settings')

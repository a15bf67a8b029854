"""Create accounts, organizations, secretary terms and the resident register

Revision ID: 64530e876904
Revises: 
Create Date: 2026-11-27 23:26:30.128121

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '64530e876904'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('level', sa.Enum('district', 'township', 'community', name='orglevel', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['organizations.id'], name=op.f('fk_organizations_parent_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('parent_id', 'name', name=op.f('uq_organizations_parent_id_name'))
    )
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organizations_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organizations_path'), ['path'], unique=False)

    op.create_table('register_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('household', sa.String(length=120), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['organizations.id'], name=op.f('fk_register_entries_community_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_register_entries')),
    sa.UniqueConstraint('community_id', 'phone', 'name', name=op.f('uq_register_entries_community_id_phone_name'))
    )
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_register_entries_community_id'), ['community_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('register_entry_id', sa.Integer(), nullable=True),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['register_entry_id'], ['register_entries.id'], name=op.f('fk_users_register_entry_id_register_entries'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('register_entry_id', name=op.f('uq_users_register_entry_id')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('role_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('resident', 'member', 'evaluator', 'admin', name='role', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(role = 'admin') = (organization_id IS NULL)", name=op.f('ck_role_grants_organization_matches_role')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_role_grants_organization_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_role_grants_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_grants')),
    sa.UniqueConstraint('user_id', 'role', name=op.f('uq_role_grants_user_id_role'))
    )
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_grants_organization_id'), ['organization_id'], unique=False)

    op.create_table('secretary_terms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.CheckConstraint('end_date IS NULL OR end_date >= start_date', name=op.f('ck_secretary_terms_ends_after_start')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_secretary_terms_organization_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_secretary_terms_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_secretary_terms'))
    )
    with op.batch_alter_table('secretary_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_secretary_terms_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_secretary_terms_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_secretary_terms_open_per_organization', ['organization_id'], unique=True, sqlite_where=sa.text('end_date IS NULL'), postgresql_where=sa.text('end_date IS NULL'))



def downgrade():
    with op.batch_alter_table('secretary_terms', schema=None) as batch_op:
        batch_op.drop_index('uq_secretary_terms_open_per_organization', sqlite_where=sa.text('end_date IS NULL'), postgresql_where=sa.text('end_date IS NULL'))
        batch_op.drop_index(batch_op.f('ix_secretary_terms_user_id'))
        batch_op.drop_index(batch_op.f('ix_secretary_terms_organization_id'))

    op.drop_table('secretary_terms')
    with op.batch_alter_table('role_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_grants_organization_id'))

    op.drop_table('role_grants')
    op.drop_table('users')
    with op.batch_alter_table('register_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_register_entries_community_id'))

    op.drop_table('register_entries')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organizations_path'))
        batch_op.drop_index(batch_op.f('ix_organizations_parent_id'))

    op.drop_table('organizations')

"""Keep an append-only audit log and one-time form keys

Revision ID: 7805ef561b74
Revises: 5e55104a11c3
Create Date: 2026-12-04 18:49:16.131927

"""
from alembic import op
import sqlalchemy as sa

# The database refuses changes to the audit log (accounts/audit.py keeps the same statements for create_all).
POSTGRESQL_APPEND_ONLY = (
    """
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'audit_log is append-only (' || TG_OP || ' refused)',
        ERRCODE = 'insufficient_privilege';
END
$$
""",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS audit_log_refuse_change()",
)
SQLITE_APPEND_ONLY = tuple(
    f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    for operation in ("UPDATE", "DELETE")
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete")


def _statements(postgresql, sqlite):
    return postgresql if op.get_bind().dialect.name == "postgresql" else sqlite


# revision identifiers, used by Alembic.
revision = '7805ef561b74'
down_revision = '5e55104a11c3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('form_keys',
    sa.Column('nonce', sa.String(length=22), nullable=False),
    sa.Column('result_url', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_form_keys'))
    )
    with op.batch_alter_table('form_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_keys_created_at'), ['created_at'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('sign_in', 'sign_out', 'sign_in_failed', 'account_created', 'account_disabled', 'account_enabled', 'password_reset', 'sessions_ended', 'role_granted', 'role_removed', 'term_opened', 'term_ended', 'organization_created', 'organization_changed', 'organization_deleted', 'register_imported', 'category_created', 'category_changed', 'settings_changed', 'survey_opened', 'survey_closed', 'survey_published', 'codes_issued', 'case_reassigned', 'case_supervised', name='auditkind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('origin', sa.String(length=45), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor_id_at', ['actor_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_log_kind_at', ['kind', 'at'], unique=False)
        batch_op.create_index('ix_audit_log_organization_id_at', ['organization_id', 'at'], unique=False)

    for statement in _statements(POSTGRESQL_APPEND_ONLY, SQLITE_APPEND_ONLY):
        op.execute(statement)


def downgrade():
    for statement in _statements(POSTGRESQL_DROP, SQLITE_DROP):
        op.execute(statement)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_organization_id_at')
        batch_op.drop_index('ix_audit_log_kind_at')
        batch_op.drop_index('ix_audit_log_at')
        batch_op.drop_index('ix_audit_log_actor_id_at')

    op.drop_table('audit_log')
    with op.batch_alter_table('form_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_keys_created_at'))

    op.drop_table('form_keys')

"""API tokens bound to one posting; server-side console sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:40:00

An officer's API token moves to the posting they hold now (the lowest-numbered current one, as the
console signs in); an officer with a token and no current posting loses it (it could act nowhere).
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_hash', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('api_token_expires_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_posting_api_token_hash'), ['api_token_hash'])

    conn = op.get_bind()
    now = models.base.utcnow()
    officers = conn.execute(sa.text(
        "SELECT id, api_token_hash, api_token_expires_at FROM officer WHERE api_token_hash IS NOT NULL")).fetchall()
    posting = sa.table('posting', sa.column('id', sa.Integer), sa.column('officer_id', sa.Integer),
                       sa.column('started_at', models.base.UTCDateTime(timezone=True)),
                       sa.column('ended_at', models.base.UTCDateTime(timezone=True)),
                       sa.column('api_token_hash', sa.String),
                       sa.column('api_token_expires_at', models.base.UTCDateTime(timezone=True)))
    for oid, token_hash, expires in officers:
        pid = conn.execute(sa.select(posting.c.id).where(
            posting.c.officer_id == oid, posting.c.started_at <= now,
            sa.or_(posting.c.ended_at.is_(None), posting.c.ended_at > now)).order_by(posting.c.id).limit(1)).scalar()
        if pid is not None:
            conn.execute(posting.update().where(posting.c.id == pid)
                         .values(api_token_hash=token_hash, api_token_expires_at=expires))

    with op.batch_alter_table('officer', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_officer_api_token_hash'), type_='unique')
        batch_op.drop_column('api_token_expires_at')
        batch_op.drop_column('api_token_hash')

    op.create_table('console_session',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sid_hash', sa.String(length=64), nullable=False),
    sa.Column('officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('posting_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], name=op.f('fk_console_session_officer_id_officer')),
    sa.ForeignKeyConstraint(['posting_id'], ['posting.id'], name=op.f('fk_console_session_posting_id_posting')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_session')),
    sa.UniqueConstraint('sid_hash', name=op.f('uq_console_session_sid_hash'))
    )
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_session_officer_id'), ['officer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_session_officer_id'))
    op.drop_table('console_session')
    with op.batch_alter_table('officer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_token_hash', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('api_token_expires_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_officer_api_token_hash'), ['api_token_hash'])
    with op.batch_alter_table('posting', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_posting_api_token_hash'), type_='unique')
        batch_op.drop_column('api_token_expires_at')
        batch_op.drop_column('api_token_hash')

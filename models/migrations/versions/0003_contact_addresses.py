"""Contacts as addresses: a contact table (scheme + path, linked to one citizen)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:32:07

Every existing citizen keeps every way they were reached: a ``tel:`` contact for each citizen's phone
and a ``whatsapp:`` contact for each WhatsApp id (both columns are unique, so no address is claimed
twice). The citizen's phone and wa_id columns stay as they are.
"""
from alembic import op
import sqlalchemy as sa
import models.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scheme', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=80), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizen.id'], name=op.f('fk_contact_citizen_id_citizen')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact')),
    sa.UniqueConstraint('scheme', 'path', name='uq_contact_scheme_path')
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_citizen_id'), ['citizen_id'], unique=False)

    conn = op.get_bind()
    now = models.base.UTCDateTime(timezone=True).process_bind_param(models.base.utcnow(), conn.dialect)
    for scheme, column in (("tel", "phone"), ("whatsapp", "wa_id")):
        conn.execute(sa.text(
            f"INSERT INTO contact (citizen_id, scheme, path, created_at) "  # noqa: S608 - two fixed names
            f"SELECT id, :scheme, {column}, COALESCE(created_at, :now) FROM citizen "
            f"WHERE {column} IS NOT NULL AND {column} <> '' ORDER BY id"), {"scheme": scheme, "now": now})


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_citizen_id'))
    op.drop_table('contact')

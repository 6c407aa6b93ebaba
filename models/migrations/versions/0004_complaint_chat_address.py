"""A ticket's chat is an address: complaint.wa_id becomes complaint.chat_address (scheme:path)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:20:00

``complaint.wa_id`` held a WhatsApp id for WhatsApp tickets and, since Telegram, ``telegram:<chat id>``
for Telegram ones. It becomes ``chat_address``, the address the ticket's chat is answered at, always
``scheme:path`` (``whatsapp:+91…``, ``telegram:…``), as the contact table writes addresses. The outbox's
unsent ``send`` rows carry the same change (``to_wa`` → ``to_chat``), so nothing queued before the upgrade is
lost or sent to the wrong place.
"""
import json

import sqlalchemy as sa
from alembic import op

import models.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_OPEN = ("pending", "enqueued", "sending")


def _address(wa_id):
    if not wa_id:
        return None
    return wa_id if wa_id.startswith("telegram:") else f"whatsapp:{wa_id}"


def _wa_id(address):
    if not address:
        return None
    return address[len("whatsapp:"):] if address.startswith("whatsapp:") else address


def _payloads(conn, old: str, new: str, convert) -> None:
    outbox = sa.table("outbox", sa.column("id"), sa.column("kind"), sa.column("status"),
                      sa.column("payload", models.base.JSONType))
    rows = conn.execute(sa.select(outbox.c.id, outbox.c.payload).where(
        outbox.c.kind == "send", outbox.c.status.in_(_OPEN))).all()
    for oid, payload in rows:
        p = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
        if old not in p:
            continue
        p[new] = convert(p.pop(old))
        conn.execute(sa.update(outbox).where(outbox.c.id == oid).values(payload=p))


def upgrade() -> None:
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chat_address', sa.String(length=80), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE complaint SET chat_address = CASE WHEN wa_id LIKE 'telegram:%' THEN wa_id "
                         "ELSE 'whatsapp:' || wa_id END WHERE wa_id IS NOT NULL AND wa_id <> ''"))
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_column('wa_id')
    _payloads(conn, "to_wa", "to_chat", _address)


def downgrade() -> None:
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wa_id', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE complaint SET wa_id = CASE WHEN chat_address LIKE 'whatsapp:%' "
                         "THEN substr(chat_address, 10) ELSE chat_address END WHERE chat_address IS NOT NULL"))
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_column('chat_address')
    _payloads(conn, "to_chat", "to_wa", _wa_id)

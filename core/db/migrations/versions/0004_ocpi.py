"""OCPI partners, tokens A and the push outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:15:27.191615
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ocpi_partner',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('versions_url', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=True),
    sa.Column('version_url', sa.String(length=255), nullable=True),
    sa.Column('endpoints', sa.JSON(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=True),
    sa.Column('next_token_digest', sa.String(length=64), nullable=True),
    sa.Column('token_out', sa.LargeBinary(), nullable=True),
    sa.Column('raw_tokens', sa.Boolean(), nullable=False),
    sa.Column('outbox_owner', sa.String(length=64), nullable=True),
    sa.Column('outbox_lease_until', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_updated', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_partner')),
    sa.UniqueConstraint('next_token_digest', name=op.f('uq_ocpi_partner_next_token_digest')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_ocpi_partner_token_digest'))
    )
    with op.batch_alter_table('ocpi_partner', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ocpi_partner_platform'), ['platform'], unique=False)
        batch_op.create_index(batch_op.f('ix_ocpi_partner_status'), ['status'], unique=False)

    op.create_table('ocpi_outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('module', sa.String(length=64), nullable=False),
    sa.Column('interface_role', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('body', sa.JSON(), nullable=True),
    sa.Column('to_country_code', sa.String(length=2), nullable=True),
    sa.Column('to_party_id', sa.String(length=3), nullable=True),
    sa.Column('from_country_code', sa.String(length=2), nullable=True),
    sa.Column('from_party_id', sa.String(length=3), nullable=True),
    sa.Column('object_key', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_outbox_partner_id_ocpi_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_outbox'))
    )
    with op.batch_alter_table('ocpi_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_ocpi_outbox_partner_state', ['partner_id', 'state', 'id'], unique=False)

    op.create_table('ocpi_token_a',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_token_a_partner_id_ocpi_partner'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_token_a')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_ocpi_token_a_token_digest'))
    )


def downgrade() -> None:
    op.drop_table('ocpi_token_a')
    with op.batch_alter_table('ocpi_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_ocpi_outbox_partner_state')

    op.drop_table('ocpi_outbox')
    with op.batch_alter_table('ocpi_partner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ocpi_partner_status'))
        batch_op.drop_index(batch_op.f('ix_ocpi_partner_platform'))

    op.drop_table('ocpi_partner')

"""ClientInfo from hubs, kept by the core for every OCPI platform

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ocpi_client_info',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_updated', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_client_info_partner_id_ocpi_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_client_info')),
    sa.UniqueConstraint('partner_id', 'country_code', 'party_id', name='uq_ocpi_client_info_hub_party')
    )


def downgrade() -> None:
    op.drop_table('ocpi_client_info')

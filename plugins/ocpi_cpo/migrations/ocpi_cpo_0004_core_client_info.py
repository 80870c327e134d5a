"""ocpi_cpo hub client info moves to the core's table, shared by every OCPI platform

Revision ID: ocpi_cpo_0004
Revises: ocpi_cpo_0003
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_cpo_0004'
down_revision: str | None = 'ocpi_cpo_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ('0009',)

# Ids are left to each table's own sequence: copied ids would collide with later rows on
# PostgreSQL, whose sequences do not see explicit values.
_COLUMNS = 'partner_id, country_code, party_id, role, status, last_updated, received_at'


def upgrade() -> None:
    op.execute(f'INSERT INTO ocpi_client_info ({_COLUMNS}) '
               f'SELECT {_COLUMNS} FROM ocpi_cpo_client_info')
    op.drop_table('ocpi_cpo_client_info')


def downgrade() -> None:
    op.create_table('ocpi_cpo_client_info',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_updated', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_cpo_client_info_partner_id_ocpi_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_cpo_client_info')),
    sa.UniqueConstraint('partner_id', 'country_code', 'party_id', name='uq_ocpi_cpo_client_info_hub_party')
    )
    # Back to the CPO's table go the CPO platform's rows; other platforms' stay in the core's.
    cpo_rows = 'partner_id IN (SELECT id FROM ocpi_partner WHERE platform = \'cpo\')'
    op.execute(f'INSERT INTO ocpi_cpo_client_info ({_COLUMNS}) '
               f'SELECT {_COLUMNS} FROM ocpi_client_info WHERE {cpo_rows}')
    op.execute(f'DELETE FROM ocpi_client_info WHERE {cpo_rows}')

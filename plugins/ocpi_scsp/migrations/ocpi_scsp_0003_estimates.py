"""ocpi_scsp estimate records: per completed session, our estimates and the actual values

Revision ID: ocpi_scsp_0003
Revises: ocpi_scsp_0002
Create Date: 2026-11-25 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_scsp_0003'
down_revision: str | None = 'ocpi_scsp_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ('battery_capacity', 'charge_energy', 'charge_duration')


def upgrade() -> None:
    op.create_table('ocpi_scsp_estimate',
                    sa.Column('country_code', sa.String(length=2), nullable=False),
                    sa.Column('party_id', sa.String(length=3), nullable=False),
                    sa.Column('session_id', sa.String(length=36), nullable=False),
                    sa.Column('ended_at', core.db.types.UTCDateTime(timezone=True),
                              nullable=False),
                    *[sa.Column(f'{kind}_{side}', sa.Float(), nullable=True)
                      for kind in _KINDS for side in ('estimate', 'actual')],
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'session_id',
                                            name=op.f('pk_ocpi_scsp_estimate')))
    op.create_index(op.f('ix_ocpi_scsp_estimate_ended_at'), 'ocpi_scsp_estimate', ['ended_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ocpi_scsp_estimate_ended_at'), table_name='ocpi_scsp_estimate')
    op.drop_table('ocpi_scsp_estimate')

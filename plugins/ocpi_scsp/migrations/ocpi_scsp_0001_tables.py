"""ocpi_scsp tables: optimisation contexts, results, sessions and sent charging profiles

Revision ID: ocpi_scsp_0001
Revises: (branch root; needs core 0001)
Create Date: 2026-11-25 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_scsp_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('ocpi_scsp',)
depends_on: str | Sequence[str] | None = ('0004',)

_WHEN = core.db.types.UTCDateTime(timezone=True)


def _owner(key: str) -> list[sa.Column[str]]:
    return [sa.Column('country_code', sa.String(length=2), nullable=False),
            sa.Column('party_id', sa.String(length=3), nullable=False),
            sa.Column(key, sa.String(length=36), nullable=False)]


def upgrade() -> None:
    op.create_table('ocpi_scsp_context', *_owner('id'),
                    sa.Column('data', sa.JSON(), nullable=False),
                    sa.Column('last_updated', _WHEN, nullable=False),
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'id',
                                            name=op.f('pk_ocpi_scsp_context')))
    op.create_table('ocpi_scsp_result', *_owner('context_id'),
                    sa.Column('data', sa.JSON(), nullable=False),
                    sa.Column('computed_at', _WHEN, nullable=False),
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'context_id',
                                            name=op.f('pk_ocpi_scsp_result')))
    op.create_table('ocpi_scsp_session', *_owner('id'),
                    sa.Column('partner_id', sa.Integer(), nullable=True),
                    sa.Column('location_id', sa.String(length=36), nullable=False),
                    sa.Column('evse_uid', sa.String(length=36), nullable=False),
                    sa.Column('status', sa.String(length=16), nullable=False),
                    sa.Column('data', sa.JSON(), nullable=False),
                    sa.Column('preferences', sa.JSON(), nullable=True),
                    sa.Column('last_updated', _WHEN, nullable=False),
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'id',
                                            name=op.f('pk_ocpi_scsp_session')))
    op.create_table('ocpi_scsp_profile', *_owner('session_id'),
                    sa.Column('profile', sa.JSON(), nullable=True),
                    sa.Column('reference', sa.String(length=36), nullable=False),
                    sa.Column('result', sa.String(length=32), nullable=True),
                    sa.Column('active_profile', sa.JSON(), nullable=True),
                    sa.Column('updated_at', _WHEN, nullable=False),
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'session_id',
                                            name=op.f('pk_ocpi_scsp_profile')))


def downgrade() -> None:
    op.drop_table('ocpi_scsp_profile')
    op.drop_table('ocpi_scsp_session')
    op.drop_table('ocpi_scsp_result')
    op.drop_table('ocpi_scsp_context')

"""ocpi_scsp local contexts: which contexts steer our own stations, and their sessions

Revision ID: ocpi_scsp_0002
Revises: ocpi_scsp_0001
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_scsp_0002'
down_revision: str | None = 'ocpi_scsp_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owner(key: str) -> list[sa.Column[str]]:
    return [sa.Column('country_code', sa.String(length=2), nullable=False),
            sa.Column('party_id', sa.String(length=3), nullable=False),
            sa.Column(key, sa.String(length=36), nullable=False)]


def upgrade() -> None:
    op.create_table('ocpi_scsp_local_context', *_owner('context_id'),
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'context_id',
                                            name=op.f('pk_ocpi_scsp_local_context')))
    op.create_table('ocpi_scsp_local_session', *_owner('session_id'),
                    sa.Column('context_id', sa.String(length=36), nullable=False),
                    sa.Column('transaction_id', sa.Integer(), nullable=False),
                    sa.Column('profile', sa.JSON(), nullable=True),
                    sa.Column('outcome', sa.String(length=32), nullable=True),
                    sa.Column('message', sa.String(length=255), nullable=True),
                    sa.Column('attempted_at', core.db.types.UTCDateTime(timezone=True),
                              nullable=True),
                    sa.ForeignKeyConstraint(
                        ['transaction_id'], ['transaction.id'], ondelete='CASCADE',
                        name=op.f('fk_ocpi_scsp_local_session_transaction_id_transaction')),
                    sa.PrimaryKeyConstraint('country_code', 'party_id', 'session_id',
                                            name=op.f('pk_ocpi_scsp_local_session')))
    op.create_index(op.f('ix_ocpi_scsp_local_session_transaction_id'),
                    'ocpi_scsp_local_session', ['transaction_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ocpi_scsp_local_session_transaction_id'),
                  table_name='ocpi_scsp_local_session')
    op.drop_table('ocpi_scsp_local_session')
    op.drop_table('ocpi_scsp_local_context')

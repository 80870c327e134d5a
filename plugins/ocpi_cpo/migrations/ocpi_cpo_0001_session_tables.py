"""ocpi_cpo session tables: charging preferences and session pushes

Revision ID: ocpi_cpo_0001
Revises: (branch root; needs core 0001)
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_cpo_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('ocpi_cpo',)
depends_on: str | Sequence[str] | None = ('0004',)


def upgrade() -> None:
    op.create_table('ocpi_cpo_charging_preferences',
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('profile_type', sa.String(length=8), nullable=False),
    sa.Column('departure_time', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('energy_need', core.db.types.ExactDecimal(precision=18, scale=6), nullable=True),
    sa.Column('discharge_allowed', sa.Boolean(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('updated_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], name=op.f('fk_ocpi_cpo_charging_preferences_transaction_id_transaction'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_ocpi_cpo_charging_preferences'))
    )
    op.create_table('ocpi_cpo_session_push',
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('pushed_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], name=op.f('fk_ocpi_cpo_session_push_transaction_id_transaction'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_ocpi_cpo_session_push'))
    )


def downgrade() -> None:
    op.drop_table('ocpi_cpo_session_push')
    op.drop_table('ocpi_cpo_charging_preferences')

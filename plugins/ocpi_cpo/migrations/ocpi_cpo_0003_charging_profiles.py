"""ocpi_cpo charging profiles tables: profile requests and the parties that set profiles

Revision ID: ocpi_cpo_0003
Revises: ocpi_cpo_0002
Create Date: 2026-11-27 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_cpo_0003'
down_revision: str | None = 'ocpi_cpo_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ocpi_cpo_profile_request',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('our_country_code', sa.String(length=2), nullable=False),
    sa.Column('our_party_id', sa.String(length=3), nullable=False),
    sa.Column('response_url', sa.String(length=512), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=True),
    sa.Column('ocpp_version', sa.String(length=8), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_cpo_profile_request_partner_id_ocpi_partner'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], name=op.f('fk_ocpi_cpo_profile_request_transaction_id_transaction'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_cpo_profile_request'))
    )
    op.create_index('ix_ocpi_cpo_profile_request_state', 'ocpi_cpo_profile_request', ['state', 'deadline'], unique=False)
    op.create_table('ocpi_cpo_session_profile',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('ocpp_profile_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('set_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_cpo_session_profile_partner_id_ocpi_partner'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], name=op.f('fk_ocpi_cpo_session_profile_transaction_id_transaction'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_cpo_session_profile')),
    sa.UniqueConstraint('transaction_id', 'country_code', 'party_id', name='uq_ocpi_cpo_session_profile_session_party')
    )
    op.create_index(op.f('ix_ocpi_cpo_session_profile_transaction_id'), 'ocpi_cpo_session_profile', ['transaction_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ocpi_cpo_session_profile_transaction_id'), table_name='ocpi_cpo_session_profile')
    op.drop_table('ocpi_cpo_session_profile')
    op.drop_index('ix_ocpi_cpo_profile_request_state', table_name='ocpi_cpo_profile_request')
    op.drop_table('ocpi_cpo_profile_request')

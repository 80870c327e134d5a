"""ocpi_cpo receiver tables: tokens, commands, reservations, hub client info

Revision ID: ocpi_cpo_0002
Revises: ocpi_cpo_0001
Create Date: 2026-11-26 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_cpo_0002'
down_revision: str | None = 'ocpi_cpo_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
    op.create_table('ocpi_cpo_command',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('command', sa.String(length=32), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=True),
    sa.Column('party_id', sa.String(length=3), nullable=True),
    sa.Column('our_country_code', sa.String(length=2), nullable=False),
    sa.Column('our_party_id', sa.String(length=3), nullable=False),
    sa.Column('response_url', sa.String(length=512), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('result', sa.String(length=32), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_cpo_command_partner_id_ocpi_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_cpo_command'))
    )
    op.create_index('ix_ocpi_cpo_command_state', 'ocpi_cpo_command', ['state', 'deadline'], unique=False)
    op.create_table('ocpi_cpo_token',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('visual_number', sa.String(length=64), nullable=True),
    sa.Column('issuer', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=36), nullable=True),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('whitelist', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=True),
    sa.Column('default_profile_type', sa.String(length=16), nullable=True),
    sa.Column('energy_contract', sa.JSON(), nullable=True),
    sa.Column('last_updated', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('command_grant_until', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('authorization_reference', sa.String(length=36), nullable=True),
    sa.Column('received_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_cpo_token_partner_id_ocpi_partner'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_cpo_token')),
    sa.UniqueConstraint('country_code', 'party_id', 'uid', 'type', name='uq_ocpi_cpo_token_owner_uid_type')
    )
    op.create_index('ix_ocpi_cpo_token_uid', 'ocpi_cpo_token', ['uid'], unique=False)
    op.create_table('ocpi_cpo_reservation',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('party_id', sa.String(length=3), nullable=False),
    sa.Column('reservation_id', sa.String(length=36), nullable=False),
    sa.Column('location_id', sa.String(length=36), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('station_reservation_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['ocpi_partner.id'], name=op.f('fk_ocpi_cpo_reservation_partner_id_ocpi_partner'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['station_reservation_id'], ['reservation.id'], name=op.f('fk_ocpi_cpo_reservation_station_reservation_id_reservation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpi_cpo_reservation')),
    sa.UniqueConstraint('country_code', 'party_id', 'reservation_id', name='uq_ocpi_cpo_reservation_owner_id')
    )
    op.create_index(op.f('ix_ocpi_cpo_reservation_station_reservation_id'), 'ocpi_cpo_reservation', ['station_reservation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ocpi_cpo_reservation_station_reservation_id'), table_name='ocpi_cpo_reservation')
    op.drop_table('ocpi_cpo_reservation')
    op.drop_index('ix_ocpi_cpo_token_uid', table_name='ocpi_cpo_token')
    op.drop_table('ocpi_cpo_token')
    op.drop_index('ix_ocpi_cpo_command_state', table_name='ocpi_cpo_command')
    op.drop_table('ocpi_cpo_command')
    op.drop_table('ocpi_cpo_client_info')

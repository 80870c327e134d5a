"""OCPP 2.x domain: id token options, vehicles, charging needs, longer profile purposes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('charging_profile', schema=None) as batch_op:
        batch_op.alter_column('purpose', existing_type=sa.String(length=32),
                              type_=sa.String(length=40), existing_nullable=False)

    with op.batch_alter_table('id_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('charging_priority', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('personal_message', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('cache_expiry_date', core.db.types.UTCDateTime(timezone=True), nullable=True))

    op.create_table('vehicle',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('identifier', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('id_token', sa.String(length=255), nullable=True),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('battery_capacity_wh', sa.Integer(), nullable=True),
    sa.Column('last_seen', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_updated', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_vehicle_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicle')),
    sa.UniqueConstraint('identifier', name=op.f('uq_vehicle_identifier'))
    )
    with op.batch_alter_table('vehicle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vehicle_user_id'), ['user_id'], unique=False)

    op.create_table('charging_need',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('evse_number', sa.Integer(), nullable=True),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('energy_transfer', sa.String(length=32), nullable=True),
    sa.Column('departure_time', core.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('energy_amount_wh', sa.Integer(), nullable=True),
    sa.Column('min_current_a', core.db.types.ExactDecimal(precision=18, scale=6), nullable=True),
    sa.Column('max_current_a', core.db.types.ExactDecimal(precision=18, scale=6), nullable=True),
    sa.Column('max_voltage_v', core.db.types.ExactDecimal(precision=18, scale=6), nullable=True),
    sa.Column('max_power_w', core.db.types.ExactDecimal(precision=18, scale=6), nullable=True),
    sa.Column('max_discharge_power_w', core.db.types.ExactDecimal(precision=18, scale=6), nullable=True),
    sa.Column('soc', sa.Integer(), nullable=True),
    sa.Column('target_soc', sa.Integer(), nullable=True),
    sa.Column('battery_capacity_wh', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('received_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['charging_station.id'], name=op.f('fk_charging_need_station_id_charging_station'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['transaction_id'], ['transaction.id'], name=op.f('fk_charging_need_transaction_id_transaction'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charging_need'))
    )
    with op.batch_alter_table('charging_need', schema=None) as batch_op:
        batch_op.create_index('ix_charging_need_station_evse', ['station_id', 'evse_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_charging_need_transaction_id'), ['transaction_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('charging_profile', schema=None) as batch_op:
        batch_op.alter_column('purpose', existing_type=sa.String(length=40),
                              type_=sa.String(length=32), existing_nullable=False)
    op.drop_table('charging_need')
    op.drop_table('vehicle')
    with op.batch_alter_table('id_token', schema=None) as batch_op:
        batch_op.drop_column('cache_expiry_date')
        batch_op.drop_column('personal_message')
        batch_op.drop_column('charging_priority')

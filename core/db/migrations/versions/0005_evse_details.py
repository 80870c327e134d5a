"""EVSE floor level and parking restrictions (OCPI EVSE fields)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 13:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('evse', schema=None) as batch_op:
        batch_op.add_column(sa.Column('floor_level', sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column('parking_restrictions', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('evse', schema=None) as batch_op:
        batch_op.drop_column('parking_restrictions')
        batch_op.drop_column('floor_level')

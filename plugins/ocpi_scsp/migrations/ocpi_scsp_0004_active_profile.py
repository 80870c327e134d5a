"""ocpi_scsp sent profiles: the GetActiveChargingProfile request and its answer

Revision ID: ocpi_scsp_0004
Revises: ocpi_scsp_0003
Create Date: 2026-11-25 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = 'ocpi_scsp_0004'
down_revision: str | None = 'ocpi_scsp_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ocpi_scsp_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_reference', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('active_result', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('active_at', core.db.types.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ocpi_scsp_profile', schema=None) as batch_op:
        batch_op.drop_column('active_at')
        batch_op.drop_column('active_result')
        batch_op.drop_column('active_reference')

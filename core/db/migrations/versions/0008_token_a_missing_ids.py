"""A token A may let the partner that registers with it omit the request ids

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ocpi_token_a', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allow_missing_ids', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('ocpi_token_a', schema=None) as batch_op:
        batch_op.drop_column('allow_missing_ids')

"""Event journal: committed domain events awaiting a durable subscriber

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'event_journal',
        sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('subscriber', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('occurred_at', core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_event_journal')),
    )
    op.create_index('ix_event_journal_subscriber_event', 'event_journal',
                    ['subscriber', 'event_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_journal_subscriber_event', table_name='event_journal')
    op.drop_table('event_journal')

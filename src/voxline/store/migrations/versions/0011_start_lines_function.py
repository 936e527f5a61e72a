"""voxline_lines_in_use(): PostgreSQL takes a partner's lock and counts its lines in use in one call

POST /calls/start writes a call only while the partner has a free line, exactly: N parallel starts against a
limit of L create L calls. That needs the count to run after the partner's lock is granted, with a snapshot
taken after the holder committed. One SQL statement cannot do that (all of it runs on the snapshot taken when
it began); the statements of a PL/pgSQL function each take their own. So the start's single write statement
calls this function first and inserts only when it reports room, and the start needs no BEGIN or COMMIT round
trip. SQLite takes a different path (its transactions are serial already).

The limit is the rule of `voxline.core.call_limits.concurrency_limit`: the sandbox limit (or the
deployment's default) for test mode, the live limit otherwise. Browser test sessions hold lines too.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION voxline_lines_in_use(
    p_partner_id varchar, p_mode varchar, p_sandbox boolean, p_sandbox_default integer,
    p_statuses varchar[], p_now timestamptz,
    OUT line_limit integer, OUT in_use integer
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- NO KEY UPDATE: does not conflict with the KEY SHARE locks that inserts referencing the partner take.
    SELECT CASE WHEN p_sandbox THEN coalesce(sandbox_concurrency_limit, p_sandbox_default)
                ELSE concurrency_limit END
      INTO line_limit
      FROM partners WHERE id = p_partner_id
      FOR NO KEY UPDATE;
    -- From here on each statement sees every start committed before the lock was granted.
    SELECT count(*) INTO in_use
      FROM webrtc_joins
     WHERE partner_id = p_partner_id AND mode = p_mode AND active_until > p_now;
    IF in_use < line_limit THEN
        -- counted up to the free lines only: enough to decide, cheap however many calls there are
        in_use := in_use + (
            SELECT count(*) FROM (
                SELECT 1 FROM calls
                 WHERE partner_id = p_partner_id AND mode = p_mode AND status = ANY (p_statuses)
                 LIMIT line_limit - in_use
            ) AS active
        );
    END IF;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS voxline_lines_in_use(varchar, varchar, boolean, integer, varchar[], timestamptz)"
        )

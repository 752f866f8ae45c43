"""The ledger's invariants, made true by PostgreSQL whatever writes (ORM, raw SQL, COPY).

1. ledger_entry_balanced (deferred constraint trigger, one check per entry at commit): an entry
   has two or more legs, all in the entry's currency, summing to zero.
2. ledger_legs_complete_entries (statement trigger on legs, set-based over the transition
   table): for every entry the statement gives legs to, those legs are all of its legs (none
   inserted before), two or more, in one currency, summing to zero; and every leg is in its
   account's currency (the account must exist already). So legs can never be added to an
   entry later (an old one, or a new one already checked by `SET CONSTRAINTS ... IMMEDIATE`),
   and a bulk INSERT ... SELECT of 400,000 legs costs one aggregate over the statement's legs
   and one index probe per entry and per distinct account, never one query per leg.
3. ledger_*_append_only: UPDATE and DELETE of entries and legs are rejected. TRUNCATE is
   not blocked: Django's flush (transactional tests) uses it, and it needs table ownership.
4. ledger_entry_period_open (statement trigger on entries): an entry dated into a closed
   accounting period is rejected, naming the period. It creates missing period rows (open)
   and holds FOR SHARE locks on the periods it posts into until commit, so closing a period
   (SELECT ... FOR UPDATE) waits for postings in flight and a posting that was waiting for a
   close sees the period closed.
5. A ledger account's identity never changes; accounting periods are never deleted or moved.

Every error is SQLSTATE class 23 (Django raises IntegrityError) and names the rule as its
constraint (`ledger_entry_balanced`, `ledger_period_open`, ...). The queries probe indexes
by key rather than join, so their plans stay cheap without table statistics.
"""

from pathlib import Path

from django.db import migrations

# The SQL lives beside this file, where an editor highlights it and a reviewer reads it whole.
HERE = Path(__file__).resolve().parent
FORWARD = (HERE / "0002_ledger_invariants.sql").read_text(encoding="utf-8")
BACKWARD = (HERE / "0002_ledger_invariants.reverse.sql").read_text(encoding="utf-8")


class Migration(migrations.Migration):
    dependencies = [("royalties", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]

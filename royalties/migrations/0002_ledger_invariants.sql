CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    leg_count bigint;
    leg_total numeric;
    stray_legs bigint;
BEGIN
    SELECT count(*), coalesce(sum(amount_minor), 0), count(*) FILTER (WHERE currency <> NEW.currency)
      INTO leg_count, leg_total, stray_legs
      FROM royalties_journalleg
     WHERE entry_id = NEW.id;
    IF leg_count < 2 OR leg_total <> 0 OR stray_legs > 0 THEN
        RAISE EXCEPTION 'ledger: journal entry % (%) is unbalanced: % legs summing to % minor units, % of them not in %',
            NEW.id, NEW.idempotency_key, leg_count, leg_total, stray_legs, NEW.currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_balanced',
                  HINT = 'An entry needs two or more legs in its own currency that sum to zero.';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON royalties_journalentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();


CREATE FUNCTION ledger_check_inserted_legs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- One row per entry given legs by this statement, and one index probe per entry for its
    -- legs already in the table: never a scan of the whole ledger, whatever the statistics
    -- say. MATERIALIZED keeps the probe from being evaluated twice.
    WITH per_entry AS MATERIALIZED (
        SELECT s.*,
               (SELECT count(*) FROM royalties_journalleg t
                 WHERE t.entry_id = s.entry_id) AS legs_in_table
          FROM (SELECT entry_id, count(*) AS leg_count, sum(amount_minor) AS leg_total,
                       min(currency) AS low_currency, max(currency) AS high_currency
                  FROM new_legs GROUP BY entry_id) s
    )
    SELECT * INTO bad
      FROM per_entry
     WHERE legs_in_table <> leg_count
        OR low_currency <> high_currency
        OR leg_count < 2 OR leg_total <> 0
     ORDER BY entry_id
     LIMIT 1;
    IF FOUND AND bad.legs_in_table <> bad.leg_count THEN
        RAISE EXCEPTION 'ledger: journal entry % already has legs: an entry''s legs are all inserted in one statement, and a posted entry never changes (post a reversing entry)',
            bad.entry_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_legs_complete_entries';
    ELSIF FOUND AND bad.low_currency <> bad.high_currency THEN
        RAISE EXCEPTION 'ledger: journal entry % was given legs in both % and %',
            bad.entry_id, bad.low_currency, bad.high_currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_legs_complete_entries';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'ledger: journal entry % is unbalanced: % legs summing to % minor units',
            bad.entry_id, bad.leg_count, bad.leg_total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_legs_complete_entries',
                  HINT = 'An entry needs two or more legs in its own currency that sum to zero.';
    END IF;

    -- One probe per distinct account (a few hundred in a settlement run).
    WITH per_account AS MATERIALIZED (
        SELECT p.account_id, p.currency,
               (SELECT a.currency FROM royalties_ledgeraccount a
                 WHERE a.id = p.account_id) AS account_currency
          FROM (SELECT DISTINCT account_id, currency FROM new_legs) p
    )
    SELECT * INTO bad
      FROM per_account
     WHERE account_currency IS DISTINCT FROM currency
     ORDER BY account_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: legs on account % are in %, but the account is in %',
            bad.account_id, bad.currency, coalesce(bad.account_currency, '(no such account)')
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_legs_complete_entries';
    END IF;
    RETURN NULL;
END
$$;

-- Without statistics the planner's estimates for the probes above are huge, which would make
-- PostgreSQL JIT-compile the query (over a second) to save milliseconds.
ALTER FUNCTION ledger_check_inserted_legs() SET jit = off;

CREATE TRIGGER ledger_legs_complete_entries
    AFTER INSERT ON royalties_journalleg
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_inserted_legs();


CREATE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % is not allowed: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = TG_NAME;
END
$$;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON royalties_journalentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change(
        'journal entries are append-only; correct one with a reversing entry');

CREATE TRIGGER ledger_leg_append_only
    BEFORE UPDATE OR DELETE ON royalties_journalleg
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change(
        'journal legs are append-only; correct an entry with a reversing entry');

CREATE TRIGGER ledger_account_identity_fixed
    BEFORE UPDATE ON royalties_ledgeraccount
    FOR EACH ROW
    WHEN (OLD.code IS DISTINCT FROM NEW.code
          OR OLD.kind IS DISTINCT FROM NEW.kind
          OR OLD.organisation_id IS DISTINCT FROM NEW.organisation_id
          OR OLD.currency IS DISTINCT FROM NEW.currency
          OR OLD.subledger_key IS DISTINCT FROM NEW.subledger_key)
    EXECUTE FUNCTION ledger_reject_change(
        'a ledger account''s code, kind, organisation, currency and sub-ledger never change');

CREATE TRIGGER ledger_period_kept
    BEFORE DELETE ON royalties_accountingperiod
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change(
        'accounting periods are kept forever; reopen a closed period instead');

CREATE TRIGGER ledger_period_month_fixed
    BEFORE UPDATE ON royalties_accountingperiod
    FOR EACH ROW
    WHEN (OLD.year IS DISTINCT FROM NEW.year OR OLD.month IS DISTINCT FROM NEW.month)
    EXECUTE FUNCTION ledger_reject_change('an accounting period''s month never changes');


CREATE FUNCTION ledger_check_entry_periods() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    period record;
BEGIN
    INSERT INTO royalties_accountingperiod (year, month, status, reopen_reason)
    SELECT DISTINCT m.year, m.month, 'open', ''
      FROM (SELECT extract(year FROM effective_date)::int AS year,
                   extract(month FROM effective_date)::int AS month
              FROM new_entries) m
     WHERE NOT EXISTS (SELECT 1 FROM royalties_accountingperiod p
                        WHERE p.year = m.year AND p.month = m.month)
    ON CONFLICT (year, month) DO NOTHING;

    FOR period IN
        SELECT p.year, p.month, p.status
          FROM royalties_accountingperiod p
          JOIN (SELECT DISTINCT extract(year FROM effective_date)::int AS year,
                                extract(month FROM effective_date)::int AS month
                  FROM new_entries) m ON p.year = m.year AND p.month = m.month
         ORDER BY p.year, p.month
           FOR SHARE OF p
    LOOP
        IF period.status <> 'open' THEN
            RAISE EXCEPTION 'ledger: accounting period %-% is closed: post corrections into the open period as adjustments',
                period.year, lpad(period.month::text, 2, '0')
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_period_open';
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

ALTER FUNCTION ledger_check_entry_periods() SET jit = off;

CREATE TRIGGER ledger_entry_period_open
    AFTER INSERT ON royalties_journalentry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_entry_periods();

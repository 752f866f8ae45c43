# The money models moved to the apps named for their sub-domain: ledger, usage, settlement,
# payouts and finance (each app's 0001_initial takes its models over). No data moves: the tables
# keep their royalties_* names (db_table), rows and constraint triggers (installed by raw SQL in
# 0002/0004/0006, whose names do not depend on the app). Only pgtrigger's triggers are dropped
# here and installed again by the new apps, because pgtrigger names each one after its app
# ("pgtrigger_<name>_<hash of app.Model:name>"); a migration is one transaction, and the new apps'
# migrations run straight after this one, before anything else can write.

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('royalties', '0007_alter_agreementposition_updated_at_and_more'),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(model_name='accountingperiod', name='insert_insert'),
        pgtrigger.migrations.RemoveTrigger(model_name='accountingperiod', name='update_update'),
        pgtrigger.migrations.RemoveTrigger(model_name='accountingperiodevent', name='append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='carrybalance', name='carry_rows_of_snapshot'),
        pgtrigger.migrations.RemoveTrigger(model_name='collection', name='insert_insert'),
        pgtrigger.migrations.RemoveTrigger(model_name='collection', name='update_update'),
        pgtrigger.migrations.RemoveTrigger(model_name='payout', name='insert_insert'),
        pgtrigger.migrations.RemoveTrigger(model_name='payout', name='update_update'),
        pgtrigger.migrations.RemoveTrigger(model_name='payoutthreshold', name='insert_insert'),
        pgtrigger.migrations.RemoveTrigger(model_name='payoutthreshold', name='update_update'),
        pgtrigger.migrations.RemoveTrigger(model_name='ratedline', name='append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='ratedline', name='rated_line_rows_of_snapshot'),
        pgtrigger.migrations.RemoveTrigger(model_name='reconciliationexception', name='insert_insert'),
        pgtrigger.migrations.RemoveTrigger(model_name='reconciliationexception', name='update_update'),
        pgtrigger.migrations.RemoveTrigger(model_name='settlementreport', name='append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='statement', name='append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='statementline', name='statement_line_rows_of_snapshot'),
        pgtrigger.migrations.RemoveTrigger(model_name='statementline', name='statement_line_no_delete'),
        pgtrigger.migrations.RemoveTrigger(model_name='statementline', name='statement_line_run_set_once'),
        pgtrigger.migrations.RemoveTrigger(model_name='usageline', name='usage_line_append_only'),
        pgtrigger.migrations.RemoveTrigger(model_name='usagereport', name='usage_report_never_deleted'),
        pgtrigger.migrations.RemoveTrigger(model_name='usagereport', name='usage_report_sealed'),
        pgtrigger.migrations.RemoveTrigger(model_name='usagereport', name='usage_report_committed_complete'),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # Models that point at others go first.
                migrations.DeleteModel(name='AccountingPeriodEvent'),
                migrations.DeleteModel(name='AgreementPosition'),
                migrations.DeleteModel(name='CarryBalance'),
                migrations.DeleteModel(name='CollectionEvent'),
                migrations.DeleteModel(name='FinanceExport'),
                migrations.DeleteModel(name='JournalLeg'),
                migrations.DeleteModel(name='PayoutEvent'),
                migrations.DeleteModel(name='PayoutThresholdEvent'),
                migrations.DeleteModel(name='RatedLine'),
                migrations.DeleteModel(name='ReconciliationComment'),
                migrations.DeleteModel(name='ReconciliationExceptionEvent'),
                migrations.DeleteModel(name='SettlementAgreement'),
                migrations.DeleteModel(name='SettlementChunk'),
                migrations.DeleteModel(name='SettlementReport'),
                migrations.DeleteModel(name='Statement'),
                migrations.DeleteModel(name='StatementLine'),
                migrations.DeleteModel(name='UsageLine'),
                migrations.DeleteModel(name='AccountingPeriod'),
                migrations.DeleteModel(name='Collection'),
                migrations.DeleteModel(name='LedgerAccount'),
                migrations.DeleteModel(name='Payout'),
                migrations.DeleteModel(name='PayoutThreshold'),
                migrations.DeleteModel(name='ReconciliationException'),
                migrations.DeleteModel(name='UsageReport'),
                migrations.DeleteModel(name='JournalEntry'),
                migrations.DeleteModel(name='ReconciliationRun'),
                migrations.DeleteModel(name='SettlementRun'),
                migrations.DeleteModel(name='StripeBalanceTransaction'),
            ],
            database_operations=[],
        ),
    ]

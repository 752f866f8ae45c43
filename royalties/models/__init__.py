"""Royalties models, one module per domain word. Import each module's models here."""

from royalties.models.ledger import (
    AccountCode,
    AccountingPeriod,
    AccountKind,
    EntryKind,
    JournalEntry,
    JournalLeg,
    LedgerAccount,
)
from royalties.models.payouts import Collection, Payout, PayoutThreshold
from royalties.models.reconciliation import (  # noqa: F401
    FinanceExport,
    ReconciliationComment,
    ReconciliationException,
    ReconciliationRun,
    StripeBalanceTransaction,
)
from royalties.models.settlement import (  # noqa: F401
    AgreementPosition,
    CarryBalance,
    RatedLine,
    SettlementAgreement,
    SettlementChunk,
    SettlementReport,
    SettlementRun,
    Statement,
    StatementLine,
)
from royalties.models.usage import UsageLine, UsageReport  # noqa: F401

__all__ = [
    "AccountCode",
    "AccountKind",
    "AccountingPeriod",
    "Collection",
    "EntryKind",
    "JournalEntry",
    "JournalLeg",
    "LedgerAccount",
    "Payout",
    "PayoutThreshold",
]

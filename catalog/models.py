"""Catalogues, works, their split sheets, opt-in consent and the price list.

Invariants held by PostgreSQL as well as by the services:
- every work's rights shares total exactly 10,000 basis points at commit, whatever path wrote
  them (statement-level triggers queue the touched works, a deferred constraint trigger on
  `SplitSheetCheck` checks them set-based);
- consent is opt-in: no row, or `granted = false`, means not permitted;
- consent and split changes are recorded by triggers (django-pghistory), bulk writes included.
"""

from __future__ import annotations

from typing import Any

import pghistory
import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django_fsm import FSMField, transition

from accounts.models import ApiKey, Organisation, User
from accounts.tenancy import TenantQuerySet
from core.fields import ClockDateTimeField

BASIS_POINTS_TOTAL = 10_000
# Text search configuration of the works' search document: language-neutral (no stemming),
# because a catalogue mixes languages; queries match word prefixes instead.
SEARCH_CONFIG = "simple"


class WorkSearchDocument(models.Func):
    """The text search document of a work: its title (weight A) and every string value of its
    free metadata (weight B). Immutable SQL, so PostgreSQL can keep it as a generated column."""

    output_field = SearchVectorField()

    def __init__(self, title: Any, metadata: Any) -> None:
        super().__init__(title, metadata)

    # Func.as_sql also takes function/template/arg_joiner, which this expression never uses.
    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        title_sql, title_params = compiler.compile(self.source_expressions[0])
        metadata_sql, metadata_params = compiler.compile(self.source_expressions[1])
        sql = (
            f"(setweight(to_tsvector('{SEARCH_CONFIG}'::regconfig, coalesce({title_sql}, '')), 'A')"
            f" || setweight(jsonb_to_tsvector('{SEARCH_CONFIG}'::regconfig,"
            f" coalesce({metadata_sql}, '{{}}'::jsonb), '[\"string\"]'), 'B'))"
        )
        return sql, [*title_params, *metadata_params]


class AiUse(models.TextChoices):
    """The AI uses a rights holder can opt in to, one by one."""

    AI_TRAIN = "ai-train", "Pre-training"
    AI_FINETUNE = "ai-finetune", "Fine-tuning"
    AI_INPUT = "ai-input", "Retrieval / grounding (RAG)"
    AI_INDEX = "ai-index", "Search indexing"
    SYNTHETIC_LIKENESS = "synthetic-likeness", "Voice or style imitation"


class UsageMetric(models.TextChoices):
    """What a licensee reports, and the unit each usage rate is priced per."""

    TOKENS_TRAINED = "tokens_trained", "Tokens trained (rate per 1,000 tokens)"
    TRAINING_EXAMPLES = "training_examples", "Training examples (rate per example)"
    RETRIEVALS = "retrievals", "Retrievals (rate per retrieval)"
    OUTPUTS_ATTRIBUTED = "outputs_attributed", "Attributed outputs (rate per output)"
    REVENUE = "revenue", "Revenue in minor units (priced by revenue share)"


def _queue_works(touched_work_ids_sql: str) -> str:
    return (
        "INSERT INTO catalog_splitsheetcheck (work_ids)"  # noqa: S608 (constant SQL only)
        " SELECT array_agg(DISTINCT work_id) FROM (" + touched_work_ids_sql + ") touched"
        " WHERE work_id IS NOT NULL HAVING count(*) > 0; RETURN NULL;"
    )


QUEUE_INSERTED_WORKS = _queue_works("SELECT id AS work_id FROM new_values")
QUEUE_INSERTED_SHARES = _queue_works("SELECT work_id FROM new_values")
QUEUE_DELETED_SHARES = _queue_works("SELECT work_id FROM old_values")
# Only a change of share or of work can change a total (a confirmation cannot).
QUEUE_UPDATED_SHARES = _queue_works(
    "SELECT unnest(ARRAY[o.work_id, n.work_id]) AS work_id"
    " FROM old_values o FULL JOIN new_values n ON n.id = o.id"
    " WHERE o.id IS NULL OR n.id IS NULL OR o.work_id <> n.work_id"
    " OR o.share_bp <> n.share_bp"
)


def _queue_split_sheet_check(name: str, operation: Any, func: str) -> pgtrigger.Trigger:
    """A statement-level trigger that queues the works a statement touched for the deferred
    split-sheet check (one queue row per statement, however many rows it wrote)."""
    return pgtrigger.Trigger(
        name=name,
        when=pgtrigger.After,
        operation=operation,
        level=pgtrigger.Statement,
        referencing=pgtrigger.Referencing(
            old="old_values" if operation in (pgtrigger.Update, pgtrigger.Delete) else None,
            new="new_values" if operation in (pgtrigger.Update, pgtrigger.Insert) else None,
        ),
        func=func,
    )


class SplitSheetCheck(models.Model):
    """Works whose split sheet a statement touched, checked when the transaction commits.

    Statement-level triggers on works and shares queue one row per statement; a deferred
    constraint trigger checks all of that row's works at once (set-based: a 100,000-work
    import is a handful of checks, not 300,000) and removes the row. No write path can commit
    a work whose shares total anything but 10,000 basis points."""

    work_ids = ArrayField(models.BigIntegerField())

    class Meta:
        triggers = [
            pgtrigger.Trigger(
                name="split_sheets_total_10000",
                when=pgtrigger.After,
                operation=pgtrigger.Insert,
                timing=pgtrigger.Deferred,
                func="""
                    DECLARE
                        bad record;
                    BEGIN
                        SELECT w.id AS work_id, COALESCE(SUM(s.share_bp), 0) AS total
                        INTO bad
                        FROM catalog_work w
                        LEFT JOIN catalog_rightsshare s ON s.work_id = w.id
                        WHERE w.id = ANY(NEW.work_ids)
                        GROUP BY w.id
                        HAVING COALESCE(SUM(s.share_bp), 0) <> 10000
                        ORDER BY w.id
                        LIMIT 1;
                        -- A deleted work took its shares with it: it is simply not found.
                        IF FOUND THEN
                            RAISE EXCEPTION
                                'work %: rights shares total % basis points, not 10000',
                                bad.work_id, bad.total USING ERRCODE = 'check_violation';
                        END IF;
                        DELETE FROM catalog_splitsheetcheck WHERE id = NEW.id;
                        RETURN NULL;
                    END;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"split-sheet check of {len(self.work_ids)} work(s)"


class Catalogue(models.Model):
    """What one organisation lists and licenses: a creator's own works, or a publisher's,
    label's or estate's roster. The owner negotiates and signs licences for its works."""

    owner = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="catalogues")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("owner",)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="catalogue_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Work(models.Model):
    class Kind(models.TextChoices):
        BOOK = "book", "Text / book"
        ARTICLE = "article", "Article"
        IMAGE = "image", "Image"
        AUDIO_RECORDING = "audio_recording", "Audio recording"
        MUSICAL_COMPOSITION = "musical_composition", "Musical composition"
        VIDEO = "video", "Video"
        VOICE = "voice", "Voice"
        CODE = "code", "Code"
        DATASET = "dataset", "Dataset"

    catalogue = models.ForeignKey(Catalogue, on_delete=models.PROTECT, related_name="works")
    title = models.CharField(max_length=500)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    language = models.CharField(max_length=35, blank=True, help_text="BCP 47 tag, e.g. en-GB.")
    # Standard identifiers, stored normalised (no hyphens/spaces; DOI lower-cased).
    isbn13 = models.CharField(max_length=13, blank=True, default="")
    isrc = models.CharField(max_length=12, blank=True, default="")
    iswc = models.CharField(max_length=11, blank=True, default="")
    doi = models.CharField(max_length=255, blank=True, default="")
    url = models.URLField(max_length=1000, blank=True, default="")
    content_sha256 = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 of the content, lowercase hex."
    )
    content_file = models.FileField(upload_to="works/%Y/%m/", blank=True, default="")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)
    # Kept by PostgreSQL from title and metadata, whatever path wrote them (imports included).
    search_document = models.GeneratedField(
        expression=WorkSearchDocument(models.F("title"), models.F("metadata")),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = TenantQuerySet.as_manager()
    # The catalogue owner and every co-holder on the split sheet can see the work.
    tenant_lookups = ("catalogue__owner", "rights_shares__holder")

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["isrc"], name="work_isrc_idx", condition=~models.Q(isrc="")),
            models.Index(fields=["isbn13"], name="work_isbn_idx", condition=~models.Q(isbn13="")),
            models.Index(fields=["iswc"], name="work_iswc_idx", condition=~models.Q(iswc="")),
            models.Index(fields=["doi"], name="work_doi_idx", condition=~models.Q(doi="")),
            GinIndex(fields=["search_document"], name="work_search_document_gin"),
        ]
        constraints = [
            # Re-importing a row with the same identifier updates that work, never duplicates it.
            models.UniqueConstraint(
                fields=["catalogue", "isbn13"],
                condition=~models.Q(isbn13=""),
                name="work_isbn13_unique_in_catalogue",
            ),
            models.UniqueConstraint(
                fields=["catalogue", "isrc"],
                condition=~models.Q(isrc=""),
                name="work_isrc_unique_in_catalogue",
            ),
            models.UniqueConstraint(
                fields=["catalogue", "iswc"],
                condition=~models.Q(iswc=""),
                name="work_iswc_unique_in_catalogue",
            ),
            models.UniqueConstraint(
                fields=["catalogue", "doi"],
                condition=~models.Q(doi=""),
                name="work_doi_unique_in_catalogue",
            ),
            models.CheckConstraint(
                condition=models.Q(content_sha256="")
                | models.Q(content_sha256__regex=r"^[0-9a-f]{64}$"),
                name="work_sha256_is_lower_hex",
            ),
            models.CheckConstraint(
                condition=models.Q(size_bytes__isnull=True) | models.Q(size_bytes__gte=0),
                name="work_size_not_negative",
            ),
        ]
        triggers = [
            # A new work must arrive with its split sheet in the same transaction.
            _queue_split_sheet_check(
                "work_split_sheet_check_on_insert", pgtrigger.Insert, QUEUE_INSERTED_WORKS
            ),
        ]

    def __str__(self) -> str:
        return self.title


# Statement-level history: one INSERT … SELECT per statement, so a bulk import writes its events
# set-based instead of running a trigger per row.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    level=pghistory.Statement,
)
class RightsShare(models.Model):
    """One line of a work's split sheet: who is paid, in what role, what share.

    Shares are integer basis points; a work's lines total exactly 10,000 (checked at commit).
    A holder confirms its line; any change to the sheet asks every co-holder again."""

    class Role(models.TextChoices):
        AUTHOR = "author", "Author"
        COMPOSER = "composer", "Composer"
        LYRICIST = "lyricist", "Lyricist"
        PERFORMER = "performer", "Performer"
        PUBLISHER = "publisher", "Publisher"
        LABEL = "label", "Label"
        ESTATE = "estate", "Estate"
        OTHER = "other", "Other"

    # Lookups by work use the unique (work, holder, role) index; no second index to maintain.
    work = models.ForeignKey(
        Work, on_delete=models.CASCADE, related_name="rights_shares", db_index=False
    )
    holder = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=Role.choices)
    share_bp = models.PositiveIntegerField(help_text="Basis points; 10,000 = 100 %.")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("work__catalogue__owner", "holder")

    class Meta:
        ordering = ["work_id", "-share_bp", "id"]
        indexes = [
            # A holder's "awaiting confirmation" inbox.
            models.Index(
                fields=["holder"],
                condition=models.Q(confirmed_at__isnull=True),
                name="rights_share_awaiting_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["work", "holder", "role"], name="rights_share_unique_role"
            ),
            models.CheckConstraint(
                condition=models.Q(share_bp__gte=1) & models.Q(share_bp__lte=BASIS_POINTS_TOTAL),
                name="rights_share_between_1_and_10000",
            ),
        ]
        triggers = [
            _queue_split_sheet_check(
                "split_sheet_check_on_insert", pgtrigger.Insert, QUEUE_INSERTED_SHARES
            ),
            _queue_split_sheet_check(
                "split_sheet_check_on_update", pgtrigger.Update, QUEUE_UPDATED_SHARES
            ),
            _queue_split_sheet_check(
                "split_sheet_check_on_delete", pgtrigger.Delete, QUEUE_DELETED_SHARES
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder} {self.role} {self.share_bp} bp"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    level=pghistory.Statement,
)
class Consent(models.Model):
    """Opt-in consent for one AI use, on a work or as a catalogue's default.

    A work's effective consent for a use is its own row if it has one, else the catalogue's
    default, else not permitted."""

    # Lookups by catalogue or work use the partial unique indexes below (one per target).
    catalogue = models.ForeignKey(
        Catalogue,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="consents",
        db_index=False,
    )
    work = models.ForeignKey(
        Work,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="consents",
        db_index=False,
    )
    use = models.CharField(max_length=30, choices=AiUse.choices)
    granted = models.BooleanField(default=False)
    updated_at = ClockDateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("catalogue__owner", "work__catalogue__owner")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(catalogue__isnull=False) & models.Q(work__isnull=True))
                | (models.Q(catalogue__isnull=True) & models.Q(work__isnull=False)),
                name="consent_on_work_or_catalogue",
            ),
            models.UniqueConstraint(
                fields=["work", "use"],
                condition=models.Q(work__isnull=False),
                name="consent_unique_per_work_use",
            ),
            models.UniqueConstraint(
                fields=["catalogue", "use"],
                condition=models.Q(catalogue__isnull=False),
                name="consent_unique_per_catalogue_use",
            ),
        ]

    def __str__(self) -> str:
        target = f"work {self.work_id}" if self.work_id else f"catalogue {self.catalogue_id}"
        return f"{target} {self.use}: {'granted' if self.granted else 'not granted'}"


class PricingTerms(models.Model):
    """The pricing and scope of a licence: the price list, an offer version and an agreement
    all carry these same fields.

    Usage rates are exact Decimal amounts in minor units of `currency` per pricing unit
    (per 1,000 tokens; per example; per retrieval; per attributed output), so they may be
    fractions of a minor unit; they are rounded only after rating."""

    class FeeBasis(models.TextChoices):
        PER_WORK = "per_work", "Per work"
        PER_CATALOGUE = "per_catalogue", "Per catalogue"

    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217.")
    # Upfront fee, minor units of `currency`, ≥ 0; paid by the licensee at checkout.
    upfront_fee_minor = models.BigIntegerField(default=0)
    upfront_fee_basis = models.CharField(
        max_length=20, choices=FeeBasis.choices, default=FeeBasis.PER_CATALOGUE
    )
    # When true the upfront fee is an advance: usage royalties are first offset against it.
    advance_recoupable = models.BooleanField(default=False)
    # Minor units of `currency` per 1,000 tokens trained (exact; may be fractional).
    rate_tokens_trained_minor = models.DecimalField(
        max_digits=24, decimal_places=10, null=True, blank=True
    )
    # Minor units per training example.
    rate_training_examples_minor = models.DecimalField(
        max_digits=24, decimal_places=10, null=True, blank=True
    )
    # Minor units per retrieval.
    rate_retrievals_minor = models.DecimalField(
        max_digits=24, decimal_places=10, null=True, blank=True
    )
    # Minor units per attributed output.
    rate_outputs_attributed_minor = models.DecimalField(
        max_digits=24, decimal_places=10, null=True, blank=True
    )
    # Share of reported revenue, basis points (10,000 = 100 %).
    revenue_share_bp = models.PositiveIntegerField(null=True, blank=True)
    # Minimum the licensee pays over each contract year, minor units, ≥ 0 (shortfall charged).
    minimum_guarantee_minor = models.BigIntegerField(default=0)
    term_months = models.PositiveIntegerField(default=12)
    territories = ArrayField(
        models.CharField(max_length=5),
        default=list,
        blank=True,
        help_text="ISO 3166-1 alpha-2 codes; ['WORLD'] for worldwide.",
    )
    exclusive = models.BooleanField(default=False)
    attribution_required = models.BooleanField(default=False)
    permitted_uses = ArrayField(
        models.CharField(max_length=30, choices=AiUse.choices), default=list, blank=True
    )

    class Meta:
        abstract = True

    def rate_for(self, metric: str) -> object:
        """The Decimal rate for a metric (None when not priced); revenue is priced by share."""
        return getattr(self, f"rate_{metric}_minor", None)


class LicenceTerms(PricingTerms):
    """The listed terms: per catalogue, optionally overridden per work."""

    catalogue = models.ForeignKey(Catalogue, on_delete=models.CASCADE, related_name="terms")
    work = models.OneToOneField(
        Work, null=True, blank=True, on_delete=models.CASCADE, related_name="terms_override"
    )
    updated_at = ClockDateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("catalogue__owner",)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["catalogue"],
                condition=models.Q(work__isnull=True),
                name="licence_terms_one_default_per_catalogue",
            ),
            models.CheckConstraint(
                condition=models.Q(upfront_fee_minor__gte=0)
                & models.Q(minimum_guarantee_minor__gte=0),
                name="licence_terms_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(revenue_share_bp__isnull=True)
                | models.Q(revenue_share_bp__lte=BASIS_POINTS_TOTAL),
                name="licence_terms_revenue_share_at_most_100pct",
            ),
        ]

    def __str__(self) -> str:
        return f"terms of {self.work or self.catalogue}"


class WorkImport(models.Model):
    """One bulk import of works (CSV or JSON Lines) into a catalogue, run by a Celery task.

    The file is streamed from storage into staging tables, validated set-based and merged in
    one transaction: by default a single bad row means nothing is imported."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        VALIDATING = "validating", "Reading and checking rows"
        IMPORTING = "importing", "Writing works"
        SUCCEEDED = "succeeded", "Imported"
        REJECTED = "rejected", "Rejected: some rows are invalid"
        FAILED = "failed", "Failed"

    catalogue = models.ForeignKey(Catalogue, on_delete=models.CASCADE, related_name="imports")
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=10, choices=Format.choices)
    # False (the default): any bad row rejects the whole file. True: good rows are imported.
    import_valid_rows = models.BooleanField(default=False)
    status = FSMField(max_length=20, choices=Status.choices, default=Status.PENDING, protected=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    works_created = models.PositiveIntegerField(default=0)
    works_updated = models.PositiveIntegerField(default=0)
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("catalogue__owner",)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress_percent__lte=100), name="work_import_progress_pct"
            )
        ]

    def __str__(self) -> str:
        return f"import {self.pk} into {self.catalogue_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.REJECTED, self.Status.FAILED}

    # Transitions are called only from catalog.importers, under select_for_update.
    @transition(
        field=status,
        source=[Status.PENDING, Status.VALIDATING, Status.IMPORTING],
        target=Status.VALIDATING,
    )
    def start(self) -> None:
        pass

    @transition(field=status, source=Status.VALIDATING, target=Status.IMPORTING)
    def begin_writing(self) -> None:
        pass

    @transition(field=status, source=Status.IMPORTING, target=Status.SUCCEEDED)
    def succeed(self) -> None:
        pass

    @transition(field=status, source=Status.VALIDATING, target=Status.REJECTED)
    def reject(self) -> None:
        pass

    @transition(
        field=status,
        source=[Status.PENDING, Status.VALIDATING, Status.IMPORTING],
        target=Status.FAILED,
    )
    def fail(self) -> None:
        pass


class WorkImportProblem(models.Model):
    """A bad row of an import: where it is and what is wrong, for the creator to fix."""

    work_import = models.ForeignKey(WorkImport, on_delete=models.CASCADE, related_name="problems")
    row_number = models.PositiveIntegerField(
        help_text="CSV: the spreadsheet row (the header is row 1). JSON Lines: the line number."
    )
    column = models.CharField(max_length=100, blank=True)
    reason = models.TextField()

    objects = TenantQuerySet.as_manager()
    tenant_lookups = ("work_import__catalogue__owner",)

    class Meta:
        ordering = ["work_import_id", "row_number", "id"]
        indexes = [models.Index(fields=["work_import", "row_number"], name="import_problem_row")]

    def __str__(self) -> str:
        return f"row {self.row_number} {self.column}: {self.reason}"

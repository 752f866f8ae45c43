"""A catalogue's terms as an RSL 1.0 document (Really Simple Licensing, https://rslstandard.org/rsl).

The document says what consent and the price list say, in RSL's vocabulary:

- One `<content>` for the catalogue (its default consent and terms) and one per work a
  licensee may see (its effective consent and terms). Works without consent are not listed:
  they are invisible to licensees everywhere, and the catalogue's `<content>` prohibits what
  its default does not grant.
- Usage: our uses map onto RSL's `ai-train` (pre-training AND fine-tuning: it is permitted
  only when both are consented, as RSL cannot tell them apart), `ai-input` (retrieval) and
  `ai-index` (search indexing). Everything not permitted is in `<prohibits type="usage">`, and
  no term is ever both permitted and prohibited. `synthetic-likeness` has no RSL term: it is
  never published as permitted (licensees see it on the terms page and in the API).
- Payment: the upfront fee as `purchase` with its amount (on the catalogue's content when
  priced per catalogue, on each work's when priced per work; elsewhere a `purchase` with a
  `<custom>` link to the terms page), the rate per 1,000 tokens (or per training example) as
  `training`, the rate per retrieval (or per attributed output) as `use`, and `attribution`
  when credit is required. Amounts are decimal major units, as RSL expects (120,000 US cents
  → 1200.00; 0.3 ¢ → 0.003). Terms with nothing to pay are `free`; no terms at all, or a
  revenue share or minimum guarantee (which RSL cannot state), add a `purchase` with a
  `<custom>` link, so a price is never read as free. Exclusivity has no RSL element either;
  the terms page, which every `<content>` links in `<terms>`, has everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from catalog import selectors
from catalog.models import AiUse, Catalogue, LicenceTerms, PricingTerms, Work
from core.money import major_text

RSL_NAMESPACE = "https://rslstandard.org/rsl"
RSL_MEDIA_TYPE = "application/rsl+xml"
RSL_USAGE_FOR: dict[str, tuple[str, ...]] = {
    "ai-train": (AiUse.AI_TRAIN, AiUse.AI_FINETUNE),
    "ai-input": (AiUse.AI_INPUT,),
    "ai-index": (AiUse.AI_INDEX,),
}
WORKS_PER_CHUNK = 500


@dataclass(frozen=True)
class Usage:
    permits: list[str]
    prohibits: list[str]


def rsl_usage(consent: dict[str, bool]) -> Usage:
    """Our consent in RSL usage terms; a term is permitted only if every use it covers is."""
    permits = [term for term, uses in RSL_USAGE_FOR.items() if all(consent[u] for u in uses)]
    prohibits = [term for term in RSL_USAGE_FOR if term not in permits]
    return Usage(permits=permits, prohibits=prohibits)


def _payments(terms: LicenceTerms | None, *, include_fee: bool, terms_url: str) -> list[str]:
    """Payment elements for one `<content>`. Where a price exists that RSL cannot state here
    (a fee charged per catalogue, seen from a work; a revenue share; a minimum guarantee), a
    `purchase` payment links the terms page, so a price is never read as free."""
    custom = f'<payment type="purchase"><custom>{escape(terms_url)}</custom></payment>'
    if terms is None:
        return [custom]
    currency = terms.currency

    def amount(value: int | Decimal) -> str:
        return f"<amount currency={quoteattr(currency)}>{major_text(value, currency)}</amount>"

    payments = []
    if terms.upfront_fee_minor:
        payments.append(
            f'<payment type="purchase">{amount(terms.upfront_fee_minor)}</payment>'
            if include_fee
            else custom
        )
    training = terms.rate_tokens_trained_minor or terms.rate_training_examples_minor
    if training:
        payments.append(f'<payment type="training">{amount(training)}</payment>')
    use = terms.rate_retrievals_minor or terms.rate_outputs_attributed_minor
    if use:
        payments.append(f'<payment type="use">{amount(use)}</payment>')
    unstated = terms.revenue_share_bp or terms.minimum_guarantee_minor
    if unstated and custom not in payments:
        payments.append(custom)
    if terms.attribution_required:
        payments.append('<payment type="attribution"/>')
    return payments or ['<payment type="free"/>']


def _license(
    consent: dict[str, bool], terms: LicenceTerms | None, *, include_fee: bool, terms_url: str
) -> str:
    usage = rsl_usage(consent)
    parts = []
    if usage.permits:
        parts.append(f'<permits type="usage">{",".join(usage.permits)}</permits>')
    if usage.prohibits:
        parts.append(f'<prohibits type="usage">{",".join(usage.prohibits)}</prohibits>')
    territories = [t for t in (terms.territories if terms else []) if t != "WORLD"]
    if usage.permits and territories:
        parts.append(f'<permits type="geo">{escape(",".join(territories))}</permits>')
    if usage.permits:
        parts.extend(_payments(terms, include_fee=include_fee, terms_url=terms_url))
    return "<license>" + "".join(parts) + "</license>"


def _content(url: str, license_xml: str, owner: str, terms_url: str) -> str:
    return (
        f"  <content url={quoteattr(url)}>\n    {license_xml}\n"
        f'    <copyright type="organization">{escape(owner)}</copyright>\n'
        f"    <terms>{escape(terms_url)}</terms>\n  </content>\n"
    )


@dataclass(frozen=True)
class RslUrls:
    """Absolute URLs the document points to."""

    catalogue_content: str  # the catalogue's works, e.g. https://…/licensing/catalogues/7/*
    terms_page: str  # the human-readable terms of the catalogue
    work_page_prefix: str  # a work's page is this + "<id>/"


def _chunks(works: Iterable[Work]) -> Iterator[list[Work]]:
    chunk: list[Work] = []
    for work in works:
        chunk.append(work)
        if len(chunk) == WORKS_PER_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def catalogue_rsl(*, catalogue: Catalogue, urls: RslUrls) -> Iterator[str]:
    """The RSL document, streamed in pieces (a catalogue can list a great many works)."""
    default_terms = selectors.catalogue_default_terms(catalogue=catalogue)
    per_catalogue = (
        default_terms is not None
        and default_terms.upfront_fee_basis == PricingTerms.FeeBasis.PER_CATALOGUE
    )
    owner = catalogue.owner.name
    yield f'<?xml version="1.0" encoding="UTF-8"?>\n<rsl xmlns="{RSL_NAMESPACE}">\n'
    yield _content(
        urls.catalogue_content,
        _license(
            selectors.catalogue_default_consent(catalogue=catalogue),
            default_terms,
            include_fee=per_catalogue,
            terms_url=urls.terms_page,
        ),
        owner,
        urls.terms_page,
    )
    works = selectors.licensable_catalogue_works(catalogue=catalogue).iterator(
        chunk_size=WORKS_PER_CHUNK
    )
    for chunk in _chunks(works):
        consents = selectors.effective_consents_for(works=chunk)
        terms = selectors.effective_terms_for(works=chunk)
        for work in chunk:
            work_terms = terms[work.pk]
            own_fee = work_terms is not None and (
                work_terms.work_id is not None
                or work_terms.upfront_fee_basis == PricingTerms.FeeBasis.PER_WORK
            )
            terms_url = f"{urls.terms_page}#work-{work.pk}"
            yield _content(
                work.url or f"{urls.work_page_prefix}{work.pk}/",
                _license(consents[work.pk], work_terms, include_fee=own_fee, terms_url=terms_url),
                owner,
                terms_url,
            )
    yield "</rsl>\n"

"""The agreement as a PDF contract (fpdf2): parties, scope, pricing, the licensed works with
their fingerprints and split sheets, and the certificate reference."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from core.money import money_format
from marketplace.models import Agreement
from marketplace.selectors import (
    agreement_fee_total_minor,
    agreement_splits,
    agreement_work_count,
    agreement_works,
)
from marketplace.terms import terms_display_rows, terms_of

# A Unicode font when the system has one (titles and names are not all Latin-1).
_UNICODE_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
# Works listed in full; a larger agreement's PDF lists these and refers to the certificate.
WORKS_LISTED = 500


class _Contract(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.set_auto_page_break(auto=True, margin=15)
        self.unicode = False
        for path in _UNICODE_FONTS:
            if path.exists():
                self.add_font("Body", "", str(path))
                self.unicode = True
                break

    def text_safe(self, text: str) -> str:
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def use(self, size: float) -> None:
        self.set_font("Body" if self.unicode else "Helvetica", size=size)

    def line_of(self, text: str, size: float = 10, height: float = 5.5) -> None:
        self.use(size)
        self.multi_cell(0, height, self.text_safe(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.line_of(text, size=13, height=7)


def contract_pdf(*, agreement: Agreement) -> bytes:
    pdf = _Contract()
    pdf.set_title(f"TrainRight licence agreement {agreement.pk}")
    pdf.add_page()
    pdf.line_of(f"Licence agreement {agreement.pk}", size=18, height=10)
    pdf.line_of(f"Status: {agreement.get_status_display()}")
    pdf.line_of(f"Licensor: {agreement.licensor.name}")
    pdf.line_of(f"Licensee: {agreement.licensee.name}")
    pdf.line_of(f"Term: {agreement.starts_on:%d %B %Y} to {agreement.ends_on:%d %B %Y} (inclusive)")
    pdf.line_of(f"Accepted: {agreement.accepted_at:%d %B %Y %H:%M} UTC")
    if agreement.offer_id:
        version = agreement.accepted_version.number if agreement.accepted_version else "?"
        pdf.line_of(f"From offer {agreement.offer_id}, version {version}")

    pdf.heading("Scope and pricing")
    for label, value in terms_display_rows(terms_of(agreement)):
        pdf.line_of(f"{label}: {value}")
    pdf.line_of(
        "Upfront fee payable: "
        + money_format(agreement_fee_total_minor(agreement=agreement), agreement.currency)
    )
    pdf.line_of(f"Platform commission: {agreement.commission_bp / 100:.2f} % of every amount")

    count = agreement_work_count(agreement=agreement)
    pdf.heading(f"Licensed works ({count})")
    shares = defaultdict(list)
    for split in agreement_splits(agreement=agreement).filter(
        work_id__in=agreement_works(agreement=agreement).values("work_id")[:WORKS_LISTED]
    ):
        shares[split.work_id].append(f"{split.holder.name} {split.share_bp / 100:.2f} %")
    for work in agreement_works(agreement=agreement)[:WORKS_LISTED]:
        pdf.line_of(f"{work.title} (work {work.work_id})", size=10)
        pdf.line_of(f"SHA-256: {work.content_sha256 or 'not recorded'}", size=8, height=4.5)
        if shares[work.work_id]:
            pdf.line_of("Split: " + "; ".join(shares[work.work_id]), size=8, height=4.5)
    if count > WORKS_LISTED:
        pdf.line_of(
            f"… and {count - WORKS_LISTED} more works, listed with their fingerprints in the "
            "licence certificate.",
            size=9,
        )

    pdf.heading("Licence certificate")
    certificate = getattr(agreement, "certificate", None)
    if certificate is not None:
        pdf.line_of(
            f"Signed on {certificate.issued_at:%d %B %Y} with key {certificate.signing_key.key_id}."
            " Verify it at /verify/ or offline with the keys at "
            "/.well-known/trainright-keys.json."
        )
    else:
        pdf.line_of("Issued when the agreement becomes active.")
    return bytes(pdf.output())

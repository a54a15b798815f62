"""A record rendered as a password-protected PDF (AES-256).

Rendering and encryption are done by fpdf2 in one pass, so no unencrypted copy of the document
is ever serialized. Text is set in DejaVu Sans, bundled in ``fonts/`` (Latin, Greek, Cyrillic
and more: names with accents render on every machine, whatever fonts it has); long values wrap
and flow onto further pages.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import EncryptionMethod, XPos, YPos

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVuSans"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 127  # PDF 2.0 (AES-256) truncates longer passwords to 127 UTF-8 bytes
_PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
# C0 controls (but tab and newline) and DEL: a PDF string has no use for them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Entry:
    label: str
    value: str


@dataclass(frozen=True)
class Section:
    title: str
    entries: Sequence[Entry]


@dataclass(frozen=True)
class Document:
    title: str
    header: Sequence[str] = ()  # small lines under the title
    sections: Sequence[Section] = ()
    notice: str | None = None  # printed boxed at the end (e.g. a redisclosure notice)
    footer: str = "Confidential"


class WeakPassword(ValueError):
    pass


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must fit in {MAX_PASSWORD_LENGTH} bytes of UTF-8")


def generate_password() -> str:
    """20 letters and digits without look-alikes (about 116 bits) in groups of five, easy to
    read out over the phone."""
    chars = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(20))
    return "-".join(chars[i : i + 5] for i in range(0, 20, 5))


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.set_text_color(110)
        self.cell(0, 5, f"{_clean(self.footer_text)} · page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def block(self, text: str, size: float, *, bold: bool = False, gap: float = 0) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, _clean(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if gap:
            self.ln(gap)


def render_protected(document: Document, password: str) -> bytes:
    """The document as a PDF that opens only with ``password`` (AES-256, PDF 2.0 revision 6).

    The owner password is random and thrown away, so nobody can lift the protection without
    the password either. Document metadata is encrypted too.
    """
    check_password(password)
    pdf = _Pdf(document.footer)
    pdf.set_title(_clean(document.title))
    pdf.add_page()
    pdf.block(document.title, 16, bold=True, gap=1)
    pdf.set_text_color(90)
    for line in document.header:
        pdf.block(line, 9)
    pdf.set_text_color(0)
    pdf.ln(4)
    if not any(s.entries for s in document.sections):
        pdf.block("Nothing to show.", 10, gap=2)
    for section in document.sections:
        if not section.entries:
            continue
        pdf.block(section.title, 13, bold=True, gap=1)
        for entry in section.entries:
            pdf.block(entry.label, 9.5, bold=True)
            pdf.block(entry.value, 10.5, gap=2.5)
        pdf.ln(2)
    if document.notice:
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(
            0, 4.5, _clean(document.notice), border=1, padding=2, align="L", new_x=XPos.LMARGIN
        )
    pdf.set_encryption(
        owner_password=secrets.token_urlsafe(32),
        user_password=password,
        encryption_method=EncryptionMethod.AES_256,
        encrypt_metadata=True,
    )
    return bytes(pdf.output())

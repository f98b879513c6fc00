"""QR codes for the public feedback links (segno), and the printable A4 sheet as PDF."""

from __future__ import annotations

import io

import segno

#: Error correction "M" survives a scuffed table sticker and keeps the code small.
ERROR_CORRECTION = "m"


def _code(url: str) -> segno.QRCode:
    return segno.make_qr(url, error=ERROR_CORRECTION, boost_error=True)


def qr_png(url: str, *, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    _code(url).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(url: str, *, scale: int = 10, title: str | None = None) -> bytes:
    buffer = io.BytesIO()
    _code(url).save(
        buffer, kind="svg", scale=scale, border=4, xmldecl=True, svgns=True, title=title
    )
    return buffer.getvalue()


def qr_svg_inline(url: str, *, scale: int = 8) -> str:
    """An ``<svg>`` element to embed in HTML (no XML declaration)."""
    buffer = io.BytesIO()
    _code(url).save(buffer, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True)
    return buffer.getvalue().decode()


def html_to_pdf(html: str, base_url: str | None = None) -> bytes:
    """Render HTML (with print CSS) to PDF with WeasyPrint, imported only when needed."""
    from weasyprint import HTML  # lazy: heavy import, only for the PDF sheet

    return HTML(string=html, base_url=base_url).write_pdf()

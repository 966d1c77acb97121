"""Write ``examples/data/northwind_annual_report.pdf``: a small two-page text PDF for the examples.

pypdf reads PDFs but does not write text, so this writes the PDF by hand (Helvetica, one text stream per
page, a correct cross-reference table). Run it again after editing PAGES:

    .venv/bin/python examples/data/make_sample_pdf.py
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).with_name("northwind_annual_report.pdf")

PAGES = [
    [
        "Northwind Health Network - Annual Report 2025 (internal)",
        "",
        "1. Overview",
        "Northwind runs three clinics: Riverside, Hillcrest and Bayview.",
        "Across the network, 48,210 patient visits were recorded in 2025, up 9 percent on 2024.",
        "Total operating income was 63.4 million dollars; operating costs were 58.9 million dollars.",
        "",
        "2. Riverside clinic",
        "Riverside treated 21,760 patients in 2025, the most of any site.",
        "Its medical director is Dr. Amara Okafor, appointed in March 2023.",
        "Average waiting time for a first appointment fell from 19 to 12 days.",
        "A new cardiology wing opened in September with 14 beds.",
    ],
    [
        "3. Hillcrest clinic",
        "Hillcrest treated 15,300 patients. Its medical director is Dr. Jonas Lindqvist.",
        "The telehealth pilot at Hillcrest handled 3,900 remote consultations.",
        "",
        "4. Bayview clinic",
        "Bayview treated 11,150 patients and is led by Dr. Priya Raman.",
        "Bayview closed its night ward in June to fund two extra day surgeons.",
        "",
        "5. Risks for 2026",
        "Staff turnover among nurses reached 17 percent, against a target of 10 percent.",
        "The lease of the Bayview building ends in December 2026 and is being renegotiated.",
    ],
]


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: list[str]) -> bytes:
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    ops += [f"({_escape(line)}) '" for line in lines]
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def build_pdf(pages: list[list[str]]) -> bytes:
    n = len(pages)
    # Objects: 1 catalog, 2 pages, 3 font, then (page, content) pairs.
    page_ids = [4 + 2 * i for i in range(n)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        stream = _content(lines)
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    count = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % count
    for number in range(1, count):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref)
    return bytes(out)


if __name__ == "__main__":
    OUT.write_bytes(build_pdf(PAGES))
    print(f"wrote {OUT}")

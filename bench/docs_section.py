"""Replace one ``### `` subsection of the "Online store" section of docs/benchmarks.md (benchmarks only)."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Online store"


def replace_subsection(title: str, lines: list[str]) -> None:
    """Put ``title`` + ``lines`` in place of the subsection of that title (appended to the section if absent)."""
    text = DOCS.read_text()
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n"
        start = text.find(SECTION)
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end + 1
    section = text[start:end]
    block = "\n".join([title, "", *lines]).rstrip("\n") + "\n\n"
    at = section.find(title + "\n")
    if at >= 0:
        nxt = section.find("\n### ", at + 1)
        stop = len(section) if nxt < 0 else nxt + 1
        section = section[:at] + block + section[stop:]
    else:
        section = section.rstrip("\n") + "\n\n" + block
    DOCS.write_text(text[:start] + section + text[end:])
    print(f"wrote {DOCS} ({title})")

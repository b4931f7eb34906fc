"""Replace one ``### `` subsection of the "Online store" section of docs/benchmarks.md (benchmarks only)."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Online store"


def replace_subsection(title: str, lines: list[str], section: str = SECTION) -> None:
    """Put ``title`` + ``lines`` in place of the subsection of that title in ``section`` (default: "Online
    store"; appended to the section if absent, the section to the file)."""
    text = DOCS.read_text()
    start = text.find(section + "\n")
    if start < 0:
        text = text.rstrip("\n") + f"\n\n{section}\n"
        start = text.find(section + "\n")
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end + 1
    part = text[start:end]
    block = "\n".join([title, "", *lines]).rstrip("\n") + "\n\n"
    at = part.find(title + "\n")
    if at >= 0:
        nxt = part.find("\n### ", at + 1)
        stop = len(part) if nxt < 0 else nxt + 1
        part = part[:at] + block + part[stop:]
    else:
        part = part.rstrip("\n") + "\n\n" + block
    DOCS.write_text(text[:start] + part + text[end:])
    print(f"wrote {DOCS} ({title})")

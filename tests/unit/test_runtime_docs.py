"""docs/configuration.md lists every WEIR_* setting exactly as RuntimeConfig defines it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from weir.runtime import RuntimeConfig
from weir.runtime_docs import BEGIN, DOC, END, main, render, settings_table


def test_configuration_doc_is_current() -> None:
    doc = DOC.read_text()
    assert render(doc) == doc, "docs/configuration.md is out of date; run: python -m weir.runtime_docs"


def test_every_field_has_a_row_with_its_default_and_description() -> None:
    table = settings_table()
    for name, info in RuntimeConfig.model_fields.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `WEIR_{name.upper()}` | `{name}` |"))
        assert info.description and info.description.split("`")[0] in row
        if info.default_factory is None and info.default not in ("", False):
            assert f"`{info.default}`" in row
    for setting in ("WEIR_PROFILE", "WEIR_SPECS_DIR", "WEIR_KAFKA_CONTROLLER_PORT"):
        assert f"| `{setting}` |" in table


def test_a_stale_table_is_detected_and_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stale = f"intro\n{BEGIN}\n| `WEIR_GONE` | `gone` | `1` | removed | |\n{END}\nafter\n"
    doc = tmp_path / "configuration.md"
    doc.write_text(stale)
    assert main(["--check", "--doc", str(doc)]) == 1
    assert doc.read_text() == stale  # --check writes nothing
    assert main(["--doc", str(doc)]) == 0
    updated = doc.read_text()
    assert "WEIR_GONE" not in updated and "| `WEIR_SPECS_DIR` |" in updated
    assert updated.startswith("intro\n") and updated.endswith(f"{END}\nafter\n")
    assert main(["--check", "--doc", str(doc)]) == 0


def test_a_field_without_description_is_refused() -> None:
    class Undocumented(BaseModel):
        documented: int = Field(1, description="has one")
        bare: str = "x"

    with pytest.raises(ValueError, match=r"Undocumented\.bare has no description"):
        settings_table(Undocumented)


def test_doc_without_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="no settings markers"):
        render("no markers here")

"""docs/resources/ is the field reference rendered from the models: it must be current."""

from __future__ import annotations

from pathlib import Path

from rackroute.control.resources.kinds import KINDS
from rackroute.control.resources.reference import file_name, pages

DOCS = Path(__file__).resolve().parents[4] / "docs" / "resources"
REGENERATE = "regenerate: .venv/bin/python -m rackroute.control.resources.reference docs/resources"


def test_every_kind_has_a_current_page() -> None:
    for name, text in pages().items():
        path = DOCS / name
        assert path.exists(), f"{path} is missing; {REGENERATE}"
        assert path.read_text() == text, f"{path} is out of date; {REGENERATE}"


def test_pages_list_refused_fields_and_values_by_name() -> None:
    ippool = pages()["ippools.projectcalico.org.md"]
    assert "`spec.ipipMode`: refused: `Always`, `CrossSubnet`" in ippool
    assert "`spec.ipip`: not supported" in ippool
    peer = pages()["bgppeers.metallb.io.md"]
    assert "`spec.vrf`: not supported" in peer and "## metallb.io/v1beta1" in peer
    assert all(file_name(kind) in pages()["index.md"] for kind in KINDS)

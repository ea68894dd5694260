"""``audit(snapshot, progress=)`` reports its handle and block phases as it goes (``ipam check``
draws its bars from them), and the report is the same with or without it."""

from __future__ import annotations

import importlib
import ipaddress

import pytest
from test_ipam_audit import block, handle, snapshot

from rackroute.control.ipam.audit import audit

audit_module = importlib.import_module(
    "rackroute.control.ipam.audit"
)  # the package's ``audit`` is the function


def test_audit_reports_each_phase_from_zero_to_its_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "PROGRESS_EVERY", 2)
    handles = [handle(f"h{i}", i + 1) for i in range(5)]
    blocks = [block({i + 1: f"h{i}" for i in range(5)})]
    blocks += [block({}, cidr=ipaddress.ip_network(f"10.244.0.{64 * i}/26")) for i in (1, 2)]
    calls: list[tuple[str, int, int]] = []
    state = snapshot(handles, blocks)
    report = audit(state, lambda phase, done, total: calls.append((phase, done, total)))
    assert calls == [
        ("handles", 0, 5),
        ("handles", 2, 5),
        ("handles", 4, 5),
        ("handles", 5, 5),
        ("blocks", 0, 3),
        ("blocks", 2, 3),
        ("blocks", 3, 3),
    ]
    assert report == audit(state)

"""The kinds table: names resolve as kubectl's do, shared names are refused with both qualified names."""

from __future__ import annotations

import pytest

from rackroute.control.resources.kinds import KINDS, UnknownKind
from rackroute.control.store import KindKey


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("ippool", KindKey("projectcalico.org", "IPPool")),
        ("ippools", KindKey("projectcalico.org", "IPPool")),
        ("IPPool", KindKey("projectcalico.org", "IPPool")),
        ("pool", KindKey("projectcalico.org", "IPPool")),
        ("bgpconfig", KindKey("projectcalico.org", "BGPConfiguration")),
        ("bgppeers.projectcalico.org", KindKey("projectcalico.org", "BGPPeer")),
        ("bgppeer.p", KindKey("projectcalico.org", "BGPPeer")),  # Calico's documented abbreviation
        ("bgppeers.metallb.io", KindKey("metallb.io", "BGPPeer")),
        ("bgppeer.metallb", KindKey("metallb.io", "BGPPeer")),
        ("nodes", KindKey("", "Node")),
        ("no", KindKey("", "Node")),
        ("caliconodes", KindKey("projectcalico.org", "Node")),
        ("nodes.projectcalico.org", KindKey("projectcalico.org", "Node")),
        ("svc", KindKey("", "Service")),
        ("endpointslices", KindKey("discovery.k8s.io", "EndpointSlice")),
        ("ipaddresspool", KindKey("metallb.io", "IPAddressPool")),
        ("nodestatus", KindKey("rackroute.io", "NodeStatus")),
    ],
)
def test_kind_names_resolve(name: str, key: KindKey) -> None:
    assert KINDS.resolve(name).key == key


def test_bgppeer_unqualified_is_refused_naming_both_kinds() -> None:
    with pytest.raises(UnknownKind) as raised:
        KINDS.resolve("bgppeer")
    assert "bgppeers.projectcalico.org" in str(raised.value)
    assert "bgppeers.metallb.io" in str(raised.value)


def test_node_singular_is_ambiguous_between_kubernetes_and_calico() -> None:
    with pytest.raises(UnknownKind, match=r"caliconodes\.projectcalico\.org or nodes"):
        KINDS.resolve("node")


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownKind, match=r"ippools\.projectcalico\.org"):
        KINDS.resolve("ipool")


def test_unknown_api_version_lists_the_supported_versions() -> None:
    with pytest.raises(UnknownKind, match=r"v1beta2, metallb\.io/v1beta1"):
        KINDS.for_document("metallb.io/v1alpha1", "BGPPeer")


def test_every_kind_has_a_model_per_version_that_reads_its_own_kind() -> None:
    for row in KINDS:
        for version, model in row.models.items():
            assert model.model_fields["kind"].annotation.__args__ == (row.kind,)  # type: ignore[union-attr]
            assert model.model_fields["api_version"].annotation.__args__ == (version,)  # type: ignore[union-attr]
            assert version.rpartition("/")[0] == row.group

"""Names that point at nothing are found (apply warns about them; order of applying stays free)."""

from __future__ import annotations

import asyncio

from rackroute.control.resources.client import ResourceClient
from rackroute.control.resources.loader import load_text
from rackroute.datastore import open_store

PEER_WITH_FILTER = """\
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 10.0.0.1, asNumber: 65000, filters: [export-pods, typo-filter]}
---
apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: export-pods}
spec: {exportV4: [{action: Accept, matchOperator: In, cidr: 10.244.0.0/16}]}
"""

METALLB = """\
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 65001, peerASN: 65000, peerAddress: 10.0.0.1, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv, namespace: metallb-system}
spec:
  ipAddressPools: [public, missing-pool]
  peers: [tor]
  communities: ["65535:65282", vpn-only, no-such-alias]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: public, namespace: metallb-system}
spec: {addresses: [192.0.2.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec: {communities: [{name: vpn-only, value: "1234:1"}]}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations: {metallb.io/address-pool: public}
spec: {type: LoadBalancer, ports: [{port: 80}]}
"""


def dangling(text: str) -> list[str]:
    async def work() -> list[str]:
        store = await open_store("memory://")
        loaded = load_text(text, "t.yaml")
        client = ResourceClient(store)
        before = [str(r) for r in await client.dangling_references([item.resource for item in loaded])]
        await client.apply(loaded)
        after = [str(r) for r in await client.dangling_references([item.resource for item in loaded])]
        assert before == after  # the input counts, stored or not (dry run, first apply)
        return after

    return asyncio.run(work())


def test_a_calico_peer_naming_a_missing_filter() -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgpfilter ("its name must be added to filters")
    assert dangling(PEER_WITH_FILTER) == [
        "BGPPeer tor: spec.filters names BGPFilter 'typo-filter', which does not exist"
    ]


def test_metallb_names_of_pools_peers_profiles_and_community_aliases() -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/
    assert dangling(METALLB) == [
        "BGPPeer metallb-system/tor: spec.bfdProfile names BFDProfile 'fast', which does not exist in namespace metallb-system",
        "BGPAdvertisement metallb-system/adv: spec.ipAddressPools names IPAddressPool 'missing-pool', which does not "
        "exist in namespace metallb-system",
        "BGPAdvertisement metallb-system/adv: spec.communities names a Community alias 'no-such-alias', which does not "
        "exist in namespace metallb-system",
    ]

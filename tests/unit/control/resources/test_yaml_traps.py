"""The traps of users' real YAML, one test each: every one handled deliberately, either kept as
written or refused with a message that says how to write it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rackroute.control.resources import calico_bgp, metallb
from rackroute.control.resources.loader import LoadError, load_paths, load_text
from rackroute.control.resources.yaml_reader import read_documents


def problems(text: str, source: str = "t.yaml") -> list[str]:
    with pytest.raises(LoadError) as raised:
        load_text(text, source)
    return [problem.headline for problem in raised.value.problems]


COMMUNITY = """\
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec:
  communities:
  - name: vpn-only
    value: 1234:1
"""


def test_yaml11_sexagesimal_community_stays_as_written() -> None:
    # YAML 1.1 reads 1234:1 as 1234*60+1 = 74041; the reader resolves YAML 1.2 core types only.
    assert read_documents("value: 1234:1\n", "t.yaml")[0].content == {"value": "1234:1"}
    (loaded,) = load_text(COMMUNITY, "c.yaml")
    assert isinstance(loaded.resource, metallb.Community)
    assert loaded.resource.spec.communities[0].value == "1234:1"


def test_number_where_a_community_belongs_says_to_quote_it() -> None:
    # An explicit integer (say, from JSON) is no community: the message says how to write one.
    text = COMMUNITY.replace("value: 1234:1", "value: 74041")
    assert problems(text) == [
        "t.yaml:7: spec.communities[0].value: must be a community aa:nn or a large community large:aa:nn:mm (got 74041)"
    ]


def test_yes_and_no_are_strings_and_never_booleans() -> None:
    assert read_documents("a: yes\nb: no\nc: on\nd: true\ne: False\n", "t.yaml")[0].content == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": True,
        "e": False,
    }
    text = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: m}\nspec:\n  addresses: [10.0.0.0/24]\n  autoAssign: no\n"
    assert problems(text) == [
        't.yaml:6: spec.autoAssign: must be true or false (got "no"); YAML 1.1 reads yes/no/on/off as booleans '
        "and YAML 1.2 as strings: write true or false unquoted"
    ]
    labelled = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {edge: yes}\n"
    (loaded,) = load_text(labelled, "n.yaml")
    assert loaded.resource.labels == {"edge": "yes"}  # a label value stays the string written


def test_unquoted_selector_starting_with_bang_is_a_tag_and_refused_with_how_to_quote() -> None:
    # calicoctl once dropped `nodeSelector: !has(x)` silently (a YAML tag on an empty value) and the
    # peer became global; here it is an error that says how to quote it.
    text = """\
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-with-route-reflectors
spec:
  nodeSelector: !has(i-am-a-route-reflector)
  peerSelector: has(i-am-a-route-reflector)
"""
    assert problems(text, "peers.yaml") == [
        "peers.yaml:6: spec.nodeSelector: '!has(i-am-a-route-reflector)' is a YAML tag, not part of the value: a value "
        "starting with '!' must be quoted, e.g. nodeSelector: \"!has(i-am-a-route-reflector)\""
    ]
    quoted = text.replace("!has(i-am-a-route-reflector)\n", '"!has(i-am-a-route-reflector)"\n', 1)
    (loaded,) = load_text(quoted, "peers.yaml")
    assert isinstance(loaded.resource, calico_bgp.BGPPeer)
    assert loaded.resource.spec.node_selector == "!has(i-am-a-route-reflector)"


def test_unquoted_bang_selector_with_more_terms_is_a_syntax_error_with_the_same_hint() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n  nodeSelector: !has(rr) && rack == 'r1'\n"
    (problem,) = problems(text)
    assert problem.startswith("t.yaml:5: YAML syntax: ")
    assert problem.endswith("a value starting with '!' (a selector like !has(x)) must be quoted: \"!has(x)\"")


@pytest.mark.parametrize(
    ("peer_ip", "port"),
    [("10.192.0.1:166", 166), ("'[ac13::57]:50'", 50), ("10.192.0.1", None), ("ac13::57", None)],
)
def test_peer_ip_may_carry_a_port(peer_ip: str, port: int | None) -> None:
    # https://docs.tigera.io/calico/latest/reference/resources/bgppeer (IPv4:port or [IPv6]:port)
    from rackroute.control.resources.values import parse_peer_address

    text = f"apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: p}}\nspec:\n  peerIP: {peer_ip}\n  asNumber: 64567\n"
    (loaded,) = load_text(text, "t.yaml")
    assert isinstance(loaded.resource, calico_bgp.BGPPeer) and loaded.resource.spec.peer_ip is not None
    assert parse_peer_address(loaded.resource.spec.peer_ip).port == port


def test_bracketed_ipv6_peer_without_a_port_is_refused() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n  peerIP: '[ac13::57]'\n  asNumber: 1\n"
    (problem,) = problems(text)
    assert "a bracketed IPv6 address needs a port: [ac13::57]:50" in problem


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("9m0s", 540.0), ('"180s"', 180.0), ("1h30m", 5400.0), ("1.5s", 1.5), ('"0"', 0.0)],
)
def test_go_durations_are_kept_as_written_and_read_in_seconds(written: str, seconds: float) -> None:
    from rackroute.control.resources.values import duration_seconds

    text = f"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: default}}\nspec:\n  nodeMeshMaxRestartTime: {written}\n"
    (loaded,) = load_text(text, "t.yaml")
    assert isinstance(loaded.resource, calico_bgp.BGPConfiguration)
    value = loaded.resource.spec.node_mesh_max_restart_time
    assert value == written.strip('"') and duration_seconds(value) == seconds


def test_a_bare_number_is_no_go_duration() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec:\n  nodeMeshMaxRestartTime: 120\n"
    assert problems(text) == [
        't.yaml:5: spec.nodeMeshMaxRestartTime: must be a duration like "90s", "9m0s" or "1h30m" (got 120)'
    ]


@pytest.mark.parametrize(
    ("written", "number"),
    [("65001", 65001), ('"65001"', 65001), ("'1.10'", 65546), ("4294967295", 4294967295)],
)
def test_as_numbers_as_integers_strings_and_asdot(written: str, number: int) -> None:
    text = f"apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {{name: default}}\nspec:\n  asNumber: {written}\n"
    (loaded,) = load_text(text, "t.yaml")
    assert (
        isinstance(loaded.resource, calico_bgp.BGPConfiguration) and loaded.resource.spec.as_number == number
    )


def test_bad_as_number_message_is_the_operator_one() -> None:
    lines = ["apiVersion: projectcalico.org/v3", "kind: BGPPeer", "metadata:", "  name: rack1-tor"]
    lines += [
        "  labels:",
        *(f"    l{i}: v{i}" for i in range(7)),
        "spec:",
        "  peerIP: 10.1.0.1",
        '  asNumber: "65x"',
    ]
    assert problems("\n".join(lines) + "\n", "peers.yaml") == [
        'peers.yaml:15: spec.asNumber: must be an AS number (got "65x")'
    ]


def test_unquoted_dotted_as_number_is_a_fraction_and_refused_with_how_to_quote() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec:\n  asNumber: 1.10\n"
    (problem,) = problems(text)
    assert problem.startswith(
        "t.yaml:5: spec.asNumber: must be an AS number (got 1.1); quote a dotted AS number"
    )


def test_leading_zero_numbers_stay_text() -> None:
    # YAML 1.1 reads 010 as 8, YAML 1.2 as 10: neither is assumed.
    assert read_documents("a: 010\nb: 0o10\nc: 0x1F\nd: 1_000\n", "t.yaml")[0].content == {
        "a": "010",
        "b": 8,
        "c": 31,
        "d": "1_000",
    }


def test_metallb_annotations_under_both_prefixes() -> None:
    from rackroute.control.resources import kubernetes

    for prefix in ("metallb.universe.tf", "metallb.io"):
        text = (
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    {prefix}/address-pool: public\n"
            "spec: {type: LoadBalancer, ports: [{port: 80}]}\n"
        )
        (loaded,) = load_text(text, "s.yaml")
        assert isinstance(loaded.resource, kubernetes.Service)
        assert loaded.resource.metallb_annotation("address-pool") == "public"


@pytest.mark.parametrize("spec", ["", "spec: {}\n", "spec:\n"])
def test_empty_bgp_advertisement_spec_means_everything(spec: str) -> None:
    # https://metallb.universe.tf/configuration/_advanced_bgp_configuration/ (no selectors: all pools)
    text = (
        "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: example\n  namespace: metallb-system\n"
        + spec
    )
    (loaded,) = load_text(text, "t.yaml")
    advertisement = loaded.resource
    assert isinstance(advertisement, metallb.BGPAdvertisement)
    assert advertisement.spec.selects_every_pool and advertisement.spec.selects_every_node
    assert advertisement.spec.selects_every_peer


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n  node: n1\n"
            "  nodeSelector: all()\n  peerIP: 10.0.0.1\n  asNumber: 1\n",
            "node and nodeSelector",
        ),
        (
            "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: p}\nspec:\n  peerIP: 10.0.0.1\n"
            "  peerSelector: has(rr)\n  asNumber: 1\n",
            "peerIP and peerSelector",
        ),
        (
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p, namespace: m}\nspec:\n  myASN: 1\n"
            "  peerASN: 2\n  peerAddress: 10.0.0.1\n  password: x\n  passwordSecret: {name: s}\n",
            "password and passwordSecret",
        ),
    ],
)
def test_mutually_exclusive_fields_are_refused_together(text: str, fields: str) -> None:
    (problem,) = problems(text)
    assert f"{fields} are mutually exclusive" in problem


def test_duplicate_keys_are_refused() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 10.0.0.0/16\n  cidr: 10.1.0.0/16\n"
    assert problems(text) == [
        "t.yaml:6: spec.cidr: duplicate key (YAML keeps only one of them: remove the other)"
    ]


def test_merge_keys_are_refused() -> None:
    text = "base: &base {a: 1}\nother:\n  <<: *base\n  b: 2\n"
    with pytest.raises(LoadError, match=r"t.yaml:3: other: YAML merge keys \(<<\) are not supported"):
        read_documents(text, "t.yaml")


def test_unknown_kind_or_version_lists_the_supported_ones() -> None:
    (unknown,) = problems(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\n"
    )
    assert unknown.startswith(
        "t.yaml:2: kind: unknown kind projectcalico.org/v3 GlobalNetworkPolicy; supported: "
    )
    assert "metallb.io/v1beta2 BGPPeer" in unknown and "discovery.k8s.io/v1 EndpointSlice" in unknown
    (version,) = problems("apiVersion: metallb.io/v1alpha1\nkind: BGPPeer\nmetadata: {name: p}\n")
    assert version == (
        "t.yaml:1: apiVersion: apiVersion 'metallb.io/v1alpha1' of kind BGPPeer is not supported "
        "(supported: metallb.io/v1beta2, metallb.io/v1beta1)"
    )


def test_unknown_field_names_the_fields_that_exist() -> None:
    (problem,) = problems(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 10.0.0.0/16\n  blocksize: 26\n"
    )
    assert problem.startswith(
        "t.yaml:6: spec.blocksize: unknown field (did you mean blockSize? fields here: cidr, blockSize,"
    )


def test_multi_document_yaml_json_list_directory_and_stdin(tmp_path: Path) -> None:
    pool = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "IPPool",
        "metadata": {"name": "a"},
        "spec": {"cidr": "10.0.0.0/16"},
    }
    other = {**pool, "metadata": {"name": "b"}, "spec": {"cidr": "10.1.0.0/16"}}
    (tmp_path / "1.json").write_text(json.dumps(pool))
    (tmp_path / "2.yaml").write_text("---\n" + json.dumps(other) + "\n---\n")
    listing = {"apiVersion": "v1", "kind": "List", "items": [{**pool, "metadata": {"name": "c"}}]}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "3.json").write_text(json.dumps(listing, indent=2))
    assert [r.resource.name for r in load_paths([str(tmp_path)])] == ["a", "b"]
    assert [r.resource.name for r in load_paths([str(tmp_path)], recursive=True)] == ["a", "b", "c"]
    stdin = io.StringIO(
        "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: d}\nspec: {cidr: 10.9.0.0/16}\n"
    )
    assert [r.resource.name for r in load_paths(["-"], stdin=stdin)] == ["d"]


def test_json_errors_name_the_line_too() -> None:
    text = '{\n  "apiVersion": "projectcalico.org/v3",\n  "kind": "IPPool",\n  "metadata": {"name": "p"},\n  "spec": {\n    "cidr": "10.0.0.0/33"\n  }\n}\n'
    assert problems(text, "p.json") == [
        'p.json:6: spec.cidr: must be a CIDR like 10.0.0.0/16 or fd00::/64 (got "10.0.0.0/33")'
    ]


def test_the_same_resource_twice_in_one_input_is_refused() -> None:
    text = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16}\n"
    assert problems(text + "---\n" + text) == [
        "t.yaml:6: metadata.name: IPPool.projectcalico.org p is also defined at t.yaml:1"
    ]


def test_every_problem_of_every_document_is_reported_at_once() -> None:
    bad = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p%d}\nspec: {cidr: nope}\n"
    assert len(problems("---\n".join(bad % i for i in range(3)))) == 3


def test_namespaced_kind_without_namespace_gets_the_default_one() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
    assert load_text(text, "t.yaml")[0].key.namespace == "default"
    assert load_text(text, "t.yaml", namespace="shop")[0].key.namespace == "shop"


def test_a_number_where_a_label_value_belongs_says_to_quote_it() -> None:
    # Kubernetes label values are strings: `rack: 1` is refused, `rack: "1"` is the label.
    text = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    rack: 1\n"
    assert problems(text) == ["t.yaml:6: metadata.labels.rack: must be a string (got 1); quote it"]
    (loaded,) = load_text(text.replace("rack: 1", 'rack: "1"'), "t.yaml")
    assert loaded.resource.labels == {"rack": "1"}


def test_a_namespace_other_than_the_one_asked_for_is_refused() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n"
    )
    assert load_text(text, "t.yaml")[0].key.namespace == "shop"
    assert load_text(text, "t.yaml", namespace="shop")[0].key.namespace == "shop"
    with pytest.raises(
        LoadError, match=r"t.yaml:3: metadata.namespace: the document's namespace 'shop' is not"
    ):
        load_text(text, "t.yaml", namespace="blog")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: [1, 2]\n",
            "t.yaml:4: spec: must be a mapping of fields (got [1, 2])",
        ),
        (
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: m}\nspec: {addresses: []}\n",
            "t.yaml:4: spec.addresses: must not be empty",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: [1]}]}\n",
            "t.yaml:4: spec.ports[0].targetPort: must be an integer or a string (got [1])",
        ),
        ("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\n", "t.yaml:1: spec: required"),
        (
            "- a\n- b\n",
            "t.yaml:1: a resource document must be a mapping with apiVersion, kind, metadata and spec",
        ),
    ],
)
def test_shape_errors_are_said_in_the_operators_words(text: str, expected: str) -> None:
    assert problems(text) == [expected]

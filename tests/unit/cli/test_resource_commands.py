"""`rackroute apply | get | delete | datastore`, run as commands against a temporary SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rackroute.cli.main import app

RACK = """\
apiVersion: v1
kind: Node
metadata:
  name: node-1a
  labels: {rack: r1, kubernetes.io/hostname: node-1a}
status:
  addresses: [{type: InternalIP, address: 10.1.0.11}]
---
apiVersion: v1
kind: Node
metadata:
  name: node-2a
  labels: {rack: r2}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: rack1
spec:
  cidr: 10.244.0.0/20
  nodeSelector: rack == 'r1'
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rack1-tor
spec:
  nodeSelector: rack == 'r1'
  peerIP: 10.1.0.1
  asNumber: 65101
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: rack1-tor
  namespace: metallb-system
spec:
  myASN: 65201
  peerASN: 65101
  peerAddress: 10.1.0.1
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: everything
  namespace: metallb-system
"""


@pytest.fixture
def datastore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("RACKROUTE_DATASTORE", raising=False)
    return f"sqlite://{tmp_path}/rrt-cli.db"


@pytest.fixture
def rack_file(tmp_path: Path) -> Path:
    path = tmp_path / "rack.yaml"
    path.write_text(RACK)
    return path


def rackroute(*args: str, datastore: str | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    arguments = [*args, *(["--datastore", datastore] if datastore else [])]
    result = CliRunner().invoke(app, arguments, input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_apply_then_get_as_a_table(datastore: str, rack_file: Path) -> None:
    code, out, _ = rackroute("apply", "-f", str(rack_file), datastore=datastore)
    assert code == 0
    assert out.splitlines() == [
        "node/node-1a created",
        "node/node-2a created",
        "ippool.projectcalico.org/rack1 created",
        "bgppeer.projectcalico.org/rack1-tor created",
        "bgppeer.metallb.io/rack1-tor -n metallb-system created",
        "bgpadvertisement.metallb.io/everything -n metallb-system created",
    ]
    code, out, _ = rackroute("get", "ippools", datastore=datastore)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "CIDR", "SELECTOR", "AGE"]
    assert lines[1].split()[:3] == ["rack1", "10.244.0.0/20", "rack"]
    code, out, _ = rackroute("get", "nodes", "-l", "rack=r1", datastore=datastore)
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["NAME", "INTERNAL-IP", "RACK"],
        ["node-1a", "10.1.0.11", "r1"],
    ]
    code, out, _ = rackroute("get", "bgppeers.metallb.io", "-A", datastore=datastore)
    assert out.splitlines()[1].split()[:4] == ["metallb-system", "rack1-tor", "10.1.0.1", "65101"]


def test_reapplying_a_file_changes_nothing(datastore: str, rack_file: Path) -> None:
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    _, before, _ = rackroute("datastore", "check", datastore=datastore)
    code, out, _ = rackroute("apply", "-f", str(rack_file), datastore=datastore)
    assert code == 0 and all(line.endswith(" unchanged") for line in out.splitlines())
    _, after, _ = rackroute("datastore", "check", datastore=datastore)
    assert before == after  # same revision, same counts


def test_one_bad_document_writes_nothing_and_names_file_line_field(datastore: str, tmp_path: Path) -> None:
    peers = tmp_path / "peers.yaml"
    peers.write_text(RACK.replace("asNumber: 65101", 'asNumber: "65x"'))
    code, out, err = rackroute("apply", "-f", str(peers), datastore=datastore)
    assert code == 1 and out == ""
    assert f'{peers}:30: spec.asNumber: must be an AS number (got "65x")' in err
    assert "nothing was written" in err
    _, out, _ = rackroute("datastore", "check", datastore=datastore)
    assert "revision 0" in out


def test_unknown_kind_lists_the_supported_ones(datastore: str, tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(
        "apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/8}\n"
    )
    code, _, err = rackroute("apply", "-f", str(path), datastore=datastore)
    assert code == 1
    assert (
        "unknown kind crd.projectcalico.org/v1 IPPool; supported: projectcalico.org/v3 BGPConfiguration"
        in err
    )


def test_get_yaml_output_applies_back_unchanged(datastore: str, rack_file: Path, tmp_path: Path) -> None:
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    _, listed, _ = rackroute("get", "bgppeers.projectcalico.org", "-o", "yaml", datastore=datastore)
    assert yaml.safe_load(listed)["kind"] == "List"
    copy = tmp_path / "copy.yaml"
    copy.write_text(listed)
    code, out, _ = rackroute("apply", "-f", str(copy), datastore=datastore)
    assert (code, out.strip()) == (0, "bgppeer.projectcalico.org/rack1-tor unchanged")
    _, one, _ = rackroute("get", "ippool", "rack1", "-o", "json", datastore=datastore)
    assert json.loads(one)["spec"] == {"cidr": "10.244.0.0/20", "nodeSelector": "rack == 'r1'"}
    rackroute("delete", "bgppeers.p", "rack1-tor", datastore=datastore)  # the copy's uid and resourceVersion
    code, out, _ = rackroute(
        "apply", "-f", str(copy), datastore=datastore
    )  # are the store's, not the input's
    assert (code, out.strip()) == (0, "bgppeer.projectcalico.org/rack1-tor created")


def test_apply_from_stdin_and_a_directory(datastore: str, tmp_path: Path) -> None:
    code, out, _ = rackroute("apply", "-f", "-", datastore=datastore, stdin=RACK.split("---")[2])
    assert (code, out.strip()) == (0, "ippool.projectcalico.org/rack1 created")
    directory = tmp_path / "manifests"
    directory.mkdir()
    (directory / "a.yaml").write_text(RACK.split("---")[3])
    (directory / "b.json").write_text(json.dumps(yaml.safe_load(RACK.split("---")[5])))
    (directory / "notes.txt").write_text("not a manifest")
    code, out, _ = rackroute("apply", "-f", str(directory), datastore=datastore)
    assert code == 0 and out.splitlines() == [
        "bgppeer.projectcalico.org/rack1-tor created",
        "bgpadvertisement.metallb.io/everything -n metallb-system created",
    ]


def test_ambiguous_kind_name_is_refused(datastore: str) -> None:
    code, _, err = rackroute("get", "bgppeer", datastore=datastore)
    assert code == 1 and "say bgppeers.projectcalico.org or bgppeers.metallb.io" in err


def test_delete_by_name_and_by_file(datastore: str, rack_file: Path) -> None:
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    code, out, _ = rackroute("delete", "ippool", "rack1", datastore=datastore)
    assert (code, out.strip()) == (0, "ippool.projectcalico.org/rack1 deleted")
    code, out, err = rackroute("delete", "-f", str(rack_file), datastore=datastore)
    assert code == 1 and "ippool.projectcalico.org/rack1 not found" in err
    assert len(out.splitlines()) == 5  # the others are deleted
    code, out, _ = rackroute("get", "nodes", datastore=datastore)
    assert code == 0 and out == ""
    code, _, _ = rackroute("delete", "-f", str(rack_file), "--ignore-not-found", datastore=datastore)
    assert code == 0


def test_get_one_missing_resource_fails(datastore: str) -> None:
    code, _, err = rackroute("get", "svc", "web", "-n", "shop", datastore=datastore)
    assert code == 1 and "'web' not found in namespace shop" in err


def test_datastore_init_check_compact(datastore: str, rack_file: Path) -> None:
    code, out, _ = rackroute("datastore", "init", datastore=datastore)
    assert code == 0 and "ready at revision 0" in out
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    rackroute("delete", "ippool", "rack1", datastore=datastore)
    code, out, _ = rackroute("datastore", "check", datastore=datastore)
    assert code == 0 and "revision 2" in out and "nodes: 2" in out and "ippools" not in out
    code, out, _ = rackroute("datastore", "compact", "--keep", "0", datastore=datastore)
    assert (code, out.strip()) == (0, "compacted: revision 2, oldest kept 2")


def test_invalid_datastore_url_is_a_clear_error() -> None:
    code, _, err = rackroute("get", "ippools", datastore="sqlite://relative.db")
    assert code == 1 and "--datastore" in err and "absolute path" in err


def test_environment_variable_names_the_datastore(
    rack_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RACKROUTE_DATASTORE", f"sqlite://{tmp_path}/rrt-env.db")
    assert rackroute("apply", "-f", str(rack_file))[0] == 0
    assert (tmp_path / "rrt-env.db").exists()


def test_no_flags_use_the_embedded_default_file(
    rack_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rackroute.datastore.urls as urls

    monkeypatch.delenv("RACKROUTE_DATASTORE", raising=False)
    monkeypatch.setattr(urls, "ROOT_PATH", tmp_path / "var-lib" / "rrt-default.db")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert rackroute("apply", "-f", str(rack_file))[0] == 0
    code, out, _ = rackroute("get", "bgppeers.p")
    assert code == 0 and "rack1-tor" in out
    default = urls.default_path()
    assert default.exists() and str(tmp_path) in str(default)


def test_the_installed_command_runs(datastore: str, rack_file: Path) -> None:
    command = [sys.executable, "-m", "rackroute.cli.main"]
    done = subprocess.run(
        [*command, "apply", "-f", str(rack_file), "--datastore", datastore],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*command, "get", "ippools", "--datastore", datastore], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "rack1" in done.stdout


def test_apply_warns_about_names_that_point_at_nothing(datastore: str, tmp_path: Path) -> None:
    path = tmp_path / "peer.yaml"
    path.write_text(
        RACK.split("---")[3].replace("asNumber: 65101", "asNumber: 65101\n  filters: [no-such-filter]")
    )
    code, out, err = rackroute("apply", "-f", str(path), datastore=datastore)
    assert (code, out.strip()) == (0, "bgppeer.projectcalico.org/rack1-tor created")
    assert (
        "warning: BGPPeer rack1-tor: spec.filters names BGPFilter 'no-such-filter', which does not exist"
        in err
    )


def test_get_watch_prints_the_listing_then_every_change(
    datastore: str, rack_file: Path, tmp_path: Path
) -> None:
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    command = [sys.executable, "-m", "rackroute.cli.main", "get", "ippools", "-w", "--watch-for", "3"]
    watcher = subprocess.Popen([*command, "--datastore", datastore], stdout=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().split()[:2] == ["NAME", "CIDR"]
        assert watcher.stdout.readline().split()[0] == "rack1"
        changed = tmp_path / "changed.yaml"
        changed.write_text(RACK.replace("cidr: 10.244.0.0/20", "cidr: 10.245.0.0/20"))
        rackroute("apply", "-f", str(changed), datastore=datastore)
        rackroute("delete", "ippool", "rack1", datastore=datastore)
        rackroute("delete", "bgppeers.p", "rack1-tor", datastore=datastore)  # another kind: not shown
        rest, _ = watcher.communicate(timeout=20)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    events = [line.split()[:3] for line in rest.splitlines()]
    assert events == [["MODIFIED", "rack1", "10.245.0.0/20"], ["DELETED", "rack1", "10.245.0.0/20"]]
    assert watcher.returncode == 0


def test_delete_by_selector_and_all(datastore: str, rack_file: Path) -> None:
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    code, out, _ = rackroute("delete", "nodes", "-l", "rack=r2", datastore=datastore)
    assert (code, out.strip()) == (0, "node/node-2a deleted")
    code, out, _ = rackroute(
        "delete", "bgppeers.metallb.io", "--all", "-n", "metallb-system", datastore=datastore
    )
    assert (code, out.strip()) == (0, "bgppeer.metallb.io/rack1-tor deleted")
    code, _, err = rackroute("delete", "nodes", "node-1a", "--all", datastore=datastore)
    assert code == 1 and "KIND NAME..., KIND -l SELECTOR, KIND --all or -f FILE" in err
    _, out, _ = rackroute("get", "nodes", datastore=datastore)
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["node-1a"]


def test_get_several_kinds_at_once(datastore: str, rack_file: Path) -> None:
    rackroute("apply", "-f", str(rack_file), datastore=datastore)
    code, out, _ = rackroute("get", "ippools,bgppeers.p,svc", datastore=datastore)
    tables = out.split("\n\n")
    assert code == 0 and [t.split()[0:2] for t in tables] == [["NAME", "CIDR"], ["NAME", "PEERIP"]]
    _, listed, _ = rackroute("get", "ippools,bgpadvertisements", "-A", "-o", "yaml", datastore=datastore)
    assert [item["kind"] for item in yaml.safe_load(listed)["items"]] == ["IPPool", "BGPAdvertisement"]
    code, _, err = rackroute("get", "ippools,nodes", "rack1", datastore=datastore)
    assert code == 1 and "one kind" in err

# Copyright (c) portproof.validate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The user documentation (docs/*.md and README.md) stays true to the code.

- Every ``yaml``/``yml`` and ``json`` code block parses.
- Every YAML block that holds a contract (a mapping with ``portproof_services`` or
  ``portproof_services__*`` keys, at any depth: a host_vars file, an inventory, a play's vars,
  molecule's ``host_vars``) validates with the collection's own validation
  (``load_contract``, as ``test_contract.py`` calls it), against the groups and hosts of
  ``DOC_GROUPS``/``DOC_HOSTS`` plus those of every inventory shown in the docs.
- A ``text`` block that starts with ``invalid portproof contract for host H:`` is the documented
  error of the YAML block right before it: that contract must fail with exactly this text.
- A block right after ``<!-- message: KEY -->`` is a message the collection prints; the test
  produces it from the code (``MESSAGES``) over fixtures captured from real hosts and compares
  it line by line. A line ending in ``...`` documents the start of the message; a line that is
  a JSON object (an ``unavailable`` entry of the facts) is compared as JSON.
- Every YAML block that is a playbook (a list of plays) passes ``ansible-playbook
  --syntax-check``, written to a temporary directory with an inventory of the docs' groups and
  an empty role for each role that is not the collection's (``my_app`` stands for yours).
- The CI recipes (docs/ci.md) parse and run the exact post_deploy command and publish the
  report's exact paths.
- Every relative link (also to a heading: GitHub's anchors) resolves.

Convention: ``<!-- fragment -->`` on the line before a code block marks an intentional excerpt
that is not a complete document; such a block is not parsed nor validated.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from ansible_collections.portproof.validate.plugins.plugin_utils import _validate_steps as contract_steps
from ansible_collections.portproof.validate.plugins.plugin_utils._contract import ContractError, contract_variables, load_contract
from ansible_collections.portproof.validate.plugins.plugin_utils._firewall_checks import check_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_firewall import check_persist_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._persist_services import check_persist
from ansible_collections.portproof.validate.plugins.module_utils._container_boot import container_entries
from ansible_collections.portproof.validate.plugins.module_utils._mappings._containers import parse_inspect
from ansible_collections.portproof.validate.plugins.module_utils._firewall._iptables import parse_save
from ansible_collections.portproof.validate.plugins.module_utils._firewall._saved import gather_saved_firewall
from ansible_collections.portproof.validate.plugins.plugin_utils._live_checks import play_results
from ansible_collections.portproof.validate.plugins.plugin_utils._report_model import collect
from ansible_collections.portproof.validate.plugins.plugin_utils._static_checks import Facts, check_process

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = sorted(glob.glob(os.path.join(REPO, "docs", "*.md"))) + [os.path.join(REPO, "README.md")]
FIXTURES = os.path.join(REPO, "tests", "unit", "fixtures", "docs")
STATIC = os.path.join(REPO, "tests", "unit", "plugins", "plugin_utils", "fixtures", "static")
BIN = os.path.dirname(sys.executable)

# The inventory the examples assume: the groups and hosts they name (an example naming any
# other group is a typo, and fails as it would in a user's inventory).
DOC_GROUPS = {"all", "ungrouped", "app", "web", "db", "cache", "dns", "lb", "prometheus", "monitored", "k8s_nodes"}
DOC_HOSTS = {"web1", "app1", "app2", "db1", "cache1", "docker1", "node1"}

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*([\w-]+)(?::\s*([\w-]+))?\s*-->\s*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CONTRACT_ERROR = re.compile(r"^invalid portproof contract for host (\S+):")


class Block(object):
    def __init__(self, path, lang, text, line, marker, key):
        self.path, self.lang, self.text, self.line, self.marker, self.key = path, lang, text, line, marker, key

    @property
    def id(self):
        return "%s:%d" % (os.path.relpath(self.path, REPO), self.line)


def blocks(path):
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    found = []
    for match in FENCE.finditer(source):
        before = source[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        found.append(Block(path, match.group(1).lower(), match.group(2), source.count("\n", 0, match.start()) + 1,
                           marker.group(1) if marker else None, marker.group(2) if marker else None))
    return found


ALL_BLOCKS = [block for path in DOCS for block in blocks(path)]
YAML_BLOCKS = [b for b in ALL_BLOCKS if b.lang in ("yaml", "yml") and b.marker != "fragment"]
JSON_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "json" and b.marker != "fragment"]


def documented_errors():
    """(YAML block, host, error text) for every contract error the docs show after its contract."""
    pairs = []
    for path in DOCS:
        found = blocks(path)
        for index, block in enumerate(found):
            match = CONTRACT_ERROR.match(block.text)
            if match:
                assert index > 0 and found[index - 1].lang in ("yaml", "yml"), "%s: no YAML contract before the error" % block.id
                pairs.append((found[index - 1], match.group(1), block.text.rstrip("\n")))
    return pairs


ERROR_INPUTS = set(pair[0].id for pair in documented_errors())


def contract_holders(data):
    """Every mapping, at any depth, that holds contract variables."""
    if isinstance(data, dict):
        if any(str(key) == "portproof_services" or str(key).startswith("portproof_services__") for key in data):
            yield data
        for value in data.values():
            yield from contract_holders(value)
    elif isinstance(data, list):
        for item in data:
            yield from contract_holders(item)


def inventory_names(data, groups, hosts):
    """Groups and hosts of a YAML inventory ({all: {children: ..., hosts: ...}})."""
    for name, body in (data or {}).items():
        groups.add(name)
        body = body or {}
        hosts.update((body.get("hosts") or {}).keys())
        inventory_names(body.get("children") or {}, groups, hosts)


def doc_inventory():
    groups, hosts = set(DOC_GROUPS), set(DOC_HOSTS)
    for block in YAML_BLOCKS:
        data = yaml.safe_load(block.text)
        if isinstance(data, dict) and isinstance(data.get("all"), dict) and ("children" in data["all"] or "hosts" in data["all"]):
            inventory_names({"all": data["all"]}, groups, hosts)
    return groups, hosts


def load(holder, groups, hosts, host="db1"):
    return load_contract(host, contract_variables(holder), groups, hosts, strict=holder.get("portproof_strict", False),
                         ignore=holder.get("portproof_ignore"), address=holder.get("portproof_address"))


def is_playbook(data):
    return isinstance(data, list) and bool(data) and all(isinstance(p, dict) and ("hosts" in p or "import_playbook" in p) for p in data)


# -- every block parses -----------------------------------------------------------------------

def test_the_docs_have_code_blocks_to_check():
    names = set(os.path.basename(b.path) for b in YAML_BLOCKS)
    assert {"quickstart.md", "contract.md", "ci.md", "roles.md", "molecule.md"} <= names
    assert len([b for b in YAML_BLOCKS if "portproof_services" in b.text]) >= 15


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=lambda b: b.id)
def test_yaml_block_parses(block):
    assert yaml.safe_load(block.text) is not None, block.text


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=lambda b: b.id)
def test_json_block_parses(block):
    json.loads(block.text)


# -- every contract validates, every documented contract error is the code's -----------------------

CONTRACT_BLOCKS = [b for b in YAML_BLOCKS if "portproof_services" in b.text and b.id not in ERROR_INPUTS]


@pytest.mark.parametrize("block", CONTRACT_BLOCKS, ids=lambda b: b.id)
def test_contract_example_validates(block):
    groups, hosts = doc_inventory()
    holders = list(contract_holders(yaml.safe_load(block.text)))
    assert holders, "%s mentions portproof_services but holds no contract" % block.id
    for holder in holders:
        services = load(holder, groups, hosts)
        assert services and all(service["name"] for service in services)


def test_documented_contract_errors_are_what_the_code_says():
    pairs = documented_errors()
    assert pairs, "docs/contract.md shows a contract error"
    groups, hosts = doc_inventory()
    for block, host, text in pairs:
        holder = yaml.safe_load(block.text)
        with pytest.raises(ContractError) as caught:
            load(holder, groups, hosts, host=host)
        assert str(caught.value) == text, block.id


# -- messages the collection prints -------------------------------------------------------------

def _fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return json.load(handle)


def _static(name):
    with open(os.path.join(STATIC, name), encoding="utf-8") as handle:
        return json.load(handle)


LAB = _static("lab.json")
# The lab's addresses, as the docs' examples show them.
DOC_ADDRESSES = {LAB["addresses"]["db1"]: "10.1.0.14", LAB["addresses"]["app1"]: "10.1.0.11"}
NOT_ROOT = _fixture("port-facts-not-root.json")


def _as_docs(text):
    for real, shown in DOC_ADDRESSES.items():
        text = text.replace(real, shown)
    return text


def _db1_contract(**service):
    groups = {"app": ["app1"], "db": ["db1"]}
    spec = dict({"name": "postgres", "port": 5432}, **service)
    return load_contract("db1", [("portproof_services", [spec])], set(groups), {"app1", "db1"})[0], groups


def message_process_owner():
    """db1's real facts with the owner unknown, as port_facts gathers them without root."""
    facts = _static("facts-db1.json")
    for item in facts["listeners"]:
        if item["port"] == 5432:
            item.update(pid=None, process=None, user=None)
    service, _groups = _db1_contract(process="postgres")
    return [_as_docs(check_process("db1", service, Facts(facts))["message"])]


def message_firewall_incomplete():
    """db1's real facts with the firewall incomplete as port_facts reported it without root."""
    facts = _static("facts-db1.json")
    facts["firewall"]["incomplete"] = NOT_ROOT["firewall_incomplete"]
    service, groups = _db1_contract(allow_from=["app"])
    hostvars = {"app1": {"ansible_host": LAB["addresses"]["app1"]}}
    results = check_firewall("db1", service, facts, groups, hostvars, LAB["addresses"]["db1"], {})
    return [_as_docs(item["message"]) for item in results]


def message_owner_warning():
    return ["[WARNING]: %s" % warning for warning in NOT_ROOT["warnings"]]


def message_unavailable(subset, tools):
    return [json.dumps(entry) for tool in tools for entry in NOT_ROOT["unavailable"] if entry["subset"] == subset and entry["tool"] == tool]


def message_unreachable_host():
    report = collect({"db1": {"ansible_host": "10.1.0.14"}}, ["db1"], [])
    return [item["message"] for item in report["results"]]


def message_lost_source():
    entry = {"host": "db1", "service": "postgres", "source": "app2", "kind": "reach", "checks": [],
             "target": {"host": "10.1.0.14", "port": 5432, "proto": "tcp"}}
    plan = {"sources": {"app2": {"run": "lost", "delegate_to": None, "probes": [entry], "load": []}}, "errors": [], "delegated_load": []}
    return [item["message"] for item in play_results(plan, ["reach"], ["app1", "db1"])]


def message_persist_firewall():
    """The persist fixtures (plugin_utils/fixtures/persist, iptables-save of real rule sets) over web1's real facts."""
    persist = os.path.join(os.path.dirname(STATIC), "persist")
    with open(os.path.join(os.path.dirname(STATIC), "drift", "facts-before-web1.json"), encoding="utf-8") as handle:
        facts = json.load(handle)
    with open(os.path.join(persist, "running.v4"), encoding="utf-8") as handle:
        facts["firewall"]["tables"] = parse_save(handle.read(), "ip", "iptables-nft")[0]
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "etc", "iptables"))
        shutil.copy(os.path.join(persist, "rules.v4"), os.path.join(root, "etc", "iptables", "rules.v4"))
        facts["saved_firewall"] = gather_saved_firewall(root)[0]
    addresses = {"app1": "10.231.127.12", "app2": "10.231.127.14", "db1": "10.231.127.13"}
    groups = {"app": ["app1", "app2"], "db": ["db1"]}
    service = load_contract("web1", [("portproof_services", [{"name": "db", "port": 5432, "allow_from": ["app"], "deny_from": ["db"]}])],
                            set(groups), set(addresses) | {"web1"})[0]
    hostvars = {name: {"ansible_host": address} for name, address in addresses.items()}
    return [item["message"] for item in check_persist_firewall("web1", service, facts, groups, hostvars, "10.231.127.11", {})]


def message_persist_containers():
    """Real Podman 4.3.1 containers (module_utils/fixtures/starters/podman-inspect-restart.json, the lab of
    tests/labtest/test_persist_containers.py) against podman-restart.service enabled, then disabled, in the unit files."""
    starters_dir = os.path.join(REPO, "tests", "unit", "plugins", "module_utils", "fixtures", "starters")
    with open(os.path.join(starters_dir, "podman-inspect-restart.json"), encoding="utf-8") as handle:
        entries = container_entries(parse_inspect(handle.read(), "podman"))
    dyn = [e["id"] for e in entries if e["name"] == "shop-dyn"][0]
    mappings = [{"proto": "tcp", "host_port": 38163, "target_port": 80, "source": "podman", "container": "shop-dyn",
                 "containers": ["shop-dyn"], "container_id": dyn, "pod": None}]
    services = dict((s["name"], s) for s in load_contract("c1", [("portproof_services", [
        {"name": name, "port": port, "publish": {"container": "shop-" + name, "container_port": 80}}
        for name, port in (("plain", 8080), ("kept", 8081), ("once", 8082), ("dyn", "auto"))])], set(), {"c1"}))
    messages = []
    for state, wanted, names in (("enabled", ["default.target"], ["plain", "kept", "once", "dyn"]), ("disabled", [], ["kept"])):
        starters = {"init": "process_api", "processes": {}, "containers": entries, "engines_unread": [],
                    "boot": {"init": "/usr/lib/systemd/systemd", "default_target": "graphical.target",
                             "units": {"podman-restart.service": {"state": state, "wanted_by": wanted}}}}
        facts = Facts({"listeners": [], "mappings": mappings, "starters": starters, "unavailable": []})
        messages.extend(check_persist("c1", services[name], facts)["message"] for name in names)
    return messages


def message_netaddr(monkeypatch):
    monkeypatch.setattr(contract_steps, "HAS_NETADDR", False)
    with pytest.raises(Exception) as caught:
        contract_steps.host_contract({}, "db1", {"all": ["db1"]})
    return [str(caught.value)]


MESSAGES = {
    "process-owner": lambda mp: message_process_owner(),
    "firewall-incomplete": lambda mp: message_firewall_incomplete(),
    "owner-warning": lambda mp: message_owner_warning(),
    "firewall-not-root": lambda mp: message_unavailable("firewall", ["iptables-nft-save", "nft"]),
    "namespaces-not-root": lambda mp: message_unavailable("listeners", ["namespaces"]),
    "unreachable-host": lambda mp: message_unreachable_host(),
    "lost-source": lambda mp: message_lost_source(),
    "netaddr": message_netaddr,
    "persist-firewall": lambda mp: message_persist_firewall(),
    "persist-containers": lambda mp: message_persist_containers(),
}
MESSAGE_BLOCKS = [b for b in ALL_BLOCKS if b.marker == "message"]


def test_every_documented_message_has_a_producer():
    assert MESSAGE_BLOCKS
    assert sorted(set(b.key for b in MESSAGE_BLOCKS)) == sorted(MESSAGES)


@pytest.mark.parametrize("block", MESSAGE_BLOCKS, ids=lambda b: "%s %s" % (b.id, b.key))
def test_documented_message_is_what_the_code_produces(block, monkeypatch):
    produced = MESSAGES[block.key](monkeypatch)
    shown = block.text.rstrip("\n").split("\n")
    assert len(shown) == len(produced), (shown, produced)
    for doc_line, line in zip(shown, produced):
        if doc_line.endswith("..."):
            assert line.startswith(doc_line[:-3]), (doc_line, line)
        elif doc_line.startswith("{"):  # an entry of the facts, shown as JSON
            assert json.loads(doc_line) == json.loads(line)
        else:
            assert doc_line == line


def test_the_documented_engine_message_is_the_one_captured():
    """The Docker row of troubleshooting.md: what port_facts reported on a lab host with a docker CLI and no daemon."""
    reasons = [entry["reason"] for entry in _static("facts-db1.json")["unavailable"] if entry["tool"] == "docker"]
    with open(os.path.join(REPO, "docs", "troubleshooting.md"), encoding="utf-8") as handle:
        assert "| `%s` |" % reasons[0] in handle.read()


# -- playbooks pass ansible-playbook --syntax-check ------------------------------------------------

PLAYBOOK_BLOCKS = [b for b in YAML_BLOCKS if is_playbook(yaml.safe_load(b.text))]


def _roles(data):
    """Role names a play uses (roles: and include_role/import_role), at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "roles" and isinstance(value, list):
                for entry in value:
                    yield entry if isinstance(entry, str) else entry.get("role") or entry.get("name")
            elif key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
                yield value["name"]
            else:
                yield from _roles(value)
    elif isinstance(data, list):
        for item in data:
            yield from _roles(item)


def test_playbook_examples_pass_syntax_check(tmp_path):
    assert len(PLAYBOOK_BLOCKS) >= 8
    groups, hosts = doc_inventory()
    inventory = {"all": {"children": dict((group, {"hosts": dict((host, {}) for host in sorted(hosts))})
                                          for group in sorted(groups - {"all", "ungrouped"}))}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    paths = []
    for index, block in enumerate(PLAYBOOK_BLOCKS):
        data = yaml.safe_load(block.text)
        for role in _roles(data):
            if not role.startswith("portproof.validate."):
                stub = tmp_path / "roles" / role / "tasks"
                stub.mkdir(parents=True, exist_ok=True)
                (stub / "main.yml").write_text("---\n[]\n")
        path = tmp_path / ("%02d-%s.yml" % (index, re.sub(r"[^A-Za-z0-9]+", "-", block.id)))
        path.write_text(block.text)
        paths.append(str(path))
    # the collections root this test imports the collection from (``ansible_collections/portproof/validate`` in it)
    import ansible_collections.portproof.validate as collection  # pylint: disable=import-outside-toplevel
    root = os.path.dirname(os.path.dirname(os.path.dirname(list(collection.__path__)[0])))
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(tmp_path / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=root)
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i", str(tmp_path / "inventory.yml")] + paths,
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("playbook: ") == len(paths), proc.stdout


# -- the CI recipes ---------------------------------------------------------------------------

POST_DEPLOY = "ansible-playbook portproof.validate.post_deploy -i inventory"


def _ci_blocks():
    return [yaml.safe_load(b.text) for b in YAML_BLOCKS if os.path.basename(b.path) == "ci.md"]


def test_github_actions_recipe_runs_post_deploy_after_the_deploy_and_publishes_the_report():
    workflow = [data for data in _ci_blocks() if isinstance(data, dict) and "jobs" in data][0]
    assert {"deploy", "validate"} <= set(workflow["jobs"])
    validate = workflow["jobs"]["validate"]
    assert validate["needs"] == "deploy"
    steps = validate["steps"]
    runs = [step.get("run", "") for step in steps]
    assert any(run.startswith(POST_DEPLOY) for run in runs), runs
    summary = [step for step in steps if "$GITHUB_STEP_SUMMARY" in step.get("run", "")][0]
    assert summary["run"] == 'cat portproof-report/summary.md >> "$GITHUB_STEP_SUMMARY"'
    assert summary["if"].startswith("always()")
    junit = [step for step in steps if "report_paths" in (step.get("with") or {})][0]
    assert junit["with"]["report_paths"] == "portproof-report/junit.xml" and junit["if"].startswith("always()")
    upload = [step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact")][0]
    assert upload["with"]["path"] == "portproof-report/" and upload["if"] == "always()"
    # the validation comes after the deploy job and before the publishing steps
    order = [index for index, run in enumerate(runs) if run.startswith(POST_DEPLOY)][0]
    assert order < steps.index(summary) < steps.index(junit) < steps.index(upload)


def test_gitlab_ci_recipe_runs_post_deploy_after_the_deploy_and_publishes_the_junit_report():
    pipeline = [data for data in _ci_blocks() if isinstance(data, dict) and "stages" in data][0]
    assert pipeline["stages"] == ["deploy", "validate"]
    job = pipeline["validate"]
    assert job["stage"] == "validate" and job["needs"] == ["deploy"]
    assert any(line.startswith(POST_DEPLOY) for line in job["script"]), job["script"]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "portproof-report/junit.xml"
    assert "portproof-report/" in job["artifacts"]["paths"]
    assert any("portproof-report/summary.md" in line for line in job["after_script"])


# -- links ---------------------------------------------------------------------------------------

def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as handle:
        source = FENCE.sub("", handle.read())
    return set(slug(line.lstrip("#")) for line in source.splitlines() if re.match(r"#{1,6} ", line))


def links():
    found = []
    for path in DOCS:
        with open(path, encoding="utf-8") as handle:
            source = FENCE.sub("", handle.read())
        for target in LINK.findall(source):
            if not re.match(r"^[a-z]+:", target):
                found.append((path, target))
    return found


@pytest.mark.parametrize("path,target", links(), ids=lambda value: os.path.relpath(value, REPO) if os.path.isabs(value) else value)
def test_relative_link_resolves(path, target):
    file_part, _sep, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
    assert os.path.exists(resolved), "%s links to %s, which does not exist" % (os.path.relpath(path, REPO), target)
    if anchor and resolved.endswith(".md"):
        assert anchor in anchors(resolved), "%s links to %s: no such heading (%s)" % (
            os.path.relpath(path, REPO), target, sorted(anchors(resolved)))


def test_the_docs_index_links_every_page():
    with open(os.path.join(REPO, "docs", "README.md"), encoding="utf-8") as handle:
        index = handle.read()
    pages = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, "docs", "*.md")) if not path.endswith("README.md"))
    assert [page for page in pages if "(%s)" % page not in index] == []
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        assert "(docs/README.md)" in handle.read()

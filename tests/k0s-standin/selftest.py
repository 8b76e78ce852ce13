#!/usr/bin/python3
"""Self-test of the k0s stand-in (tests/k0s-standin/k0s).

Runs the stand-in as the provider would, each test in its own K0S_STANDIN_ROOT
temporary directory, and asserts what a user of k0s would see: exit codes,
error texts, files written and API answers. The daemon tests bind ports on
this host (free ones, chosen at run time) and need root for `unshare --uts`,
which gives a worker its own hostname.

Run: /usr/bin/python3 tests/k0s-standin/selftest.py
"""

import base64
import gzip
import io
import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "k0s")
IS_ROOT = os.geteuid() == 0


def load_module():
    loader = importlib.machinery.SourceFileLoader("k0s_standin", STANDIN)
    spec = importlib.util.spec_from_loader("k0s_standin", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


standin = load_module()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


class Host:
    """One emulated host: a root directory and a way to run k0s in it."""

    def __init__(self, hostname=None):
        self.root = tempfile.mkdtemp(prefix="k0s-standin-test-")
        self.hostname = hostname

    def path(self, logical):
        return os.path.join(self.root, logical.lstrip("/"))

    def write(self, logical, text):
        os.makedirs(os.path.dirname(self.path(logical)), exist_ok=True)
        with open(self.path(logical), "w") as handle:
            handle.write(text)

    def read(self, logical):
        with open(self.path(logical)) as handle:
            return handle.read()

    def k0s(self, *args, stdin=None, timeout=60, binary=False, cwd=None):
        """Runs the stand-in; binary=True keeps stdin/stdout as bytes (stderr is decoded either way)."""
        env = dict(os.environ, K0S_STANDIN_ROOT=self.root)
        command = [STANDIN] + list(args)
        if self.hostname:
            command = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname] + command
        result = subprocess.run(command, input=stdin, capture_output=True, text=not binary, env=env,
                                timeout=timeout, cwd=cwd)
        if binary:
            result.stderr = result.stderr.decode()
        return result

    def calls(self):
        with open(self.path("/var/log/k0s-standin/calls.jsonl")) as handle:
            return [json.loads(line) for line in handle]

    def cleanup(self):
        for role in ("controller", "worker"):
            try:
                state = json.loads(self.read("/run/k0s-standin/k0s%s.service.json" % role))
            except (OSError, ValueError):
                continue
            supervisor = (state.get("supervisor") or {}).get("pid")
            if supervisor and state.get("state") != "inactive" and \
                    standin.process_alive(supervisor, state["supervisor"].get("start")):
                os.kill(supervisor, signal.SIGTERM)
                wait_until(lambda: not standin.process_alive(supervisor, state["supervisor"].get("start")),
                           what="supervisor %d to stop" % supervisor)
        shutil.rmtree(self.root, ignore_errors=True)


def archive_names(data):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [member.name for member in tar.getmembers()]


def archive_file(data, name):
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.extractfile(name).read()


def build_archive(entries):
    """A .tar.gz from (name, bytes or None for a directory) pairs, names kept exactly as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o600
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class HostTestCase(unittest.TestCase):
    def host(self, hostname=None):
        host = Host(hostname)
        self.addCleanup(host.cleanup)
        return host

    def assertFails(self, result, stderr):
        self.assertEqual(result.returncode, 1, result)
        self.assertEqual(result.stderr, stderr)


class GoFormats(unittest.TestCase):
    def test_durations_parse_and_print_like_go(self):
        self.assertEqual(standin.format_go_duration(standin.parse_go_duration("10m")), "10m0s")
        self.assertEqual(standin.format_go_duration(standin.parse_go_duration("1.5h")), "1h30m0s")
        self.assertEqual(standin.format_go_duration(standin.parse_go_duration("300ms")), "300ms")
        self.assertEqual(standin.format_go_duration(0), "0s")
        for text, message in (("x", 'time: invalid duration "x"'), ("10", 'time: missing unit in duration "10"'),
                              ("1d", 'time: unknown unit "d" in duration "1d"')):
            with self.assertRaises(standin.DurationError) as caught:
                standin.parse_go_duration(text)
            self.assertEqual(str(caught.exception), message)

    def test_calico_block_changes_the_default_mtu(self):
        ctx = standin.NodeConfigContext()
        absent = standin.decode_cluster_config("spec:\n  network:\n    provider: calico\n", ctx)
        present = standin.decode_cluster_config("spec:\n  network:\n    provider: calico\n    calico: {}\n", ctx)
        self.assertEqual(absent["spec"]["network"]["calico"]["mtu"], 0)
        self.assertIsNone(absent["spec"]["network"]["kuberouter"])
        self.assertEqual(present["spec"]["network"]["calico"]["mtu"], 1450)

    def test_rendered_config_keeps_go_field_order(self):
        config = standin.default_cluster_config(standin.NodeConfigContext())
        rendered = standin.render_cluster_config(config)
        self.assertEqual(list(rendered), ["metadata", "kind", "apiVersion", "spec"])
        self.assertEqual(list(rendered["spec"])[:5], ["api", "controllerManager", "scheduler", "storage", "network"])
        self.assertEqual(rendered["metadata"], {"name": "k0s", "creationTimestamp": None})


class Cli(HostTestCase):
    def test_version_outputs(self):
        host = self.host()
        self.assertEqual(host.k0s("version").stdout, "v1.29.3+k0s.0\n")
        self.assertEqual(host.k0s("version", "-a", "-j").stdout.splitlines()[0], "k0s : v1.29.3+k0s.0")
        as_json = host.k0s("version", "--json").stdout
        self.assertTrue(as_json.startswith('{\n   "k0s": "v1.29.3+k0s.0",\n   "runc": "1.1.12",'), as_json)

    def test_flags_and_commands_are_rejected_like_cobra(self):
        host = self.host()
        self.assertFails(host.k0s("install", "controller", "--bogus"), "Error: unknown flag: --bogus\n")
        self.assertFails(host.k0s("install", "worker", "-z"), "Error: unknown shorthand flag: 'z' in -z\n")
        self.assertFails(host.k0s("install", "worker", "--config=/x"), "Error: unknown flag: --config\n")
        self.assertFails(host.k0s("start", "--force"), "Error: unknown flag: --force\n")
        self.assertFails(host.k0s("instal"), 'Error: unknown command "instal" for "k0s"\n\nDid you mean this?\n'
                                             "\tinstall\n\nRun 'k0s --help' for usage.\n")
        self.assertFails(host.k0s("etcd", "member-list", "x"), 'Error: unknown command "x" for "k0s etcd member-list"\n')
        self.assertFails(host.k0s("install", "controller", "--k0s-cloud-provider-port", "abc"),
                         'Error: invalid argument "abc" for "--k0s-cloud-provider-port" flag: strconv.ParseInt: '
                         'parsing "abc": invalid syntax\n')
        shown = host.k0s("token", "crate")
        self.assertEqual((shown.returncode, shown.stdout.startswith("Manage join tokens")), (0, True))

    def test_every_invocation_is_logged_without_stdin_content(self):
        host = self.host()
        host.k0s("version")
        host.k0s("config", "validate", "--config", "-", stdin="spec: {}\n")
        calls = host.calls()
        self.assertEqual([c["argv"][1:] for c in calls], [["version"], ["config", "validate", "--config", "-"]])
        self.assertEqual([c["stdin_bytes"] for c in calls], [0, 9])
        self.assertNotIn("spec", json.dumps(calls))

    def test_config_validation_texts(self):
        host = self.host()
        cases = {
            "spec:\n  network:\n    bogus: 1\n": 'Error: failed to read config: error unmarshaling JSON: while decoding '
                                                 'JSON: json: unknown field "bogus"\n',
            "spec:\n  network:\n    podCIDR: 10.0.0.0\n": 'Error: spec: network: podCIDR: Invalid value: "10.0.0.0": '
                                                          "invalid CIDR address\n",
            "spec:\n  network:\n    provider: flannel\n": 'Error: spec: network: provider: Unsupported value: '
                                                          '"flannel": supported values: "kuberouter", "calico", '
                                                          '"custom"\n',
            "spec:\n  network:\n    kubeProxy:\n      mode: nft\n": "Error: spec: network: unsupported mode nft for "
                                                                    "kubeProxy config\n",
            "spec:\n  network:\n    provider: calico\n    calico:\n      mode: geneve\n":
                'Error: spec: network: calico: mode: Unsupported value: "geneve": supported values: "vxlan", '
                '"ipip", "bird"\n',
            "spec:\n  api:\n    port: six\n": "Error: failed to read config: error unmarshaling JSON: while decoding "
                                              "JSON: json: cannot unmarshal string into Go struct field APISpec.spec."
                                              "api.port of type int\n",
        }
        for text, expected in cases.items():
            self.assertFails(host.k0s("config", "validate", "--config", "-", stdin=text), expected)
        valid = host.k0s("config", "validate", "-c", "-", stdin="spec:\n  network:\n    provider: calico\n")
        self.assertEqual((valid.returncode, valid.stdout, valid.stderr), (0, "", ""))
        self.assertFails(host.k0s("config", "validate"), 'Error: required flag(s) "config" not set\n')
        self.assertFails(host.k0s("config", "validate", "--config="), "Error: --config can't be empty\n")

    @unittest.skipUnless(IS_ROOT, "install needs root")
    def test_install_writes_the_unit_like_k0s(self):
        host = self.host()
        host.write("/etc/k0s/token", "x")
        result = host.k0s("install", "controller", "-c", "/etc/k0s/k0s.yaml", "--enable-worker", "--no-taints",
                          "--token-file", "/etc/k0s/token", "--labels", "a=b", "--labels", "c=d",
                          "--kubelet-extra-args", "--node-ip=10.0.0.5 --v=2", "-e", "HTTP_PROXY=x")
        self.assertEqual((result.returncode, result.stdout, result.stderr), (0, "", ""))
        binary = os.path.realpath(STANDIN)
        self.assertEqual(host.read("/etc/systemd/system/k0scontroller.service"), "\n".join([
            "[Unit]", "Description=k0s - Zero Friction Kubernetes", "Documentation=https://docs.k0sproject.io",
            "ConditionFileIsExecutable=" + binary, "", "After=network-online.target ", "Wants=network-online.target ",
            "", "[Service]", "StartLimitInterval=5", "StartLimitBurst=10",
            "ExecStart=%s controller --config=/etc/k0s/k0s.yaml --enable-worker=true "
            "--kubelet-extra-args=--node-ip=10.0.0.5\\x20--v=2 --labels=a=b,c=d --no-taints=true "
            "--token-file=/etc/k0s/token" % binary,
            'Environment="HTTP_PROXY=x"', "", "RestartSec=120", "Delegate=yes", "KillMode=process",
            "LimitCORE=infinity", "TasksMax=infinity", "TimeoutStartSec=0", "LimitNOFILE=999999", "Restart=always",
            "", "[Install]", "WantedBy=multi-user.target", ""]))
        self.assertFails(host.k0s("install", "controller"), "Error: failed to install k0s service: failed to install "
                                                            "service: Init already exists: /etc/systemd/system/"
                                                            "k0scontroller.service\n")
        self.assertEqual(host.k0s("install", "controller", "--force").returncode, 0)
        self.assertIn("ExecStart=%s controller\n" % binary, host.read("/etc/systemd/system/k0scontroller.service"))

    @unittest.skipUnless(IS_ROOT, "install needs root")
    def test_install_checks_run_in_k0s_order(self):
        host = self.host()
        host.write("/etc/k0s/k0s.yaml", "spec:\n  network:\n    podCIDR: nope\n")
        self.assertFails(host.k0s("install", "controller", "--token-file", "/missing"),
                         'Error: invalid node config: spec: network: podCIDR: Invalid value: "nope": invalid CIDR '
                         "address\n")
        self.assertFails(host.k0s("install", "controller", "-c", "/other.yaml"),
                         "Error: failed to load node config: open /other.yaml: no such file or directory\n")
        self.assertFails(host.k0s("install", "worker", "--token-file", "/missing"), "Error: /missing does not exist\n")

    @unittest.skipUnless(IS_ROOT, "start and stop need root")
    def test_service_commands_without_a_unit(self):
        host = self.host()
        for command in ("start", "stop"):
            self.assertFails(host.k0s(command), "Error: k0s has not been installed as a service\n")
        self.assertFails(host.k0s("status"), 'Error: status: can\'t get "status" via "/run/k0s/status.sock": Get '
                                             '"http://localhost/status": dial unix /run/k0s/status.sock: connect: no '
                                             "such file or directory\n")
        self.assertFails(host.k0s("token", "create", "--role=admin"),
                         'Error: unsupported role "admin"; supported roles are "controller" and "worker"\n')
        self.assertFails(host.k0s("token", "create", "--expiry=10x"),
                         'Error: time: unknown unit "x" in duration "10x"\n')
        self.assertTrue(host.k0s("token", "create").stderr.startswith('Error: failed to get k0s status: status: '))
        self.assertFails(host.k0s("kubectl", "get", "nodes"),
                         "Error: cannot stat k0s kubeconfig, is the server running?: stat /var/lib/k0s/pki/admin.conf: "
                         "no such file or directory\n")


@unittest.skipUnless(IS_ROOT, "backup and restore need root")
class BackupRestoreChecks(HostTestCase):
    def test_backup_checks_run_in_k0s_order(self):
        host = self.host()
        host.write("/etc/k0s/k0s.yaml", "spec:\n  storage:\n    etcd:\n      externalCluster:\n        endpoints: "
                                        "[\"http://10.0.0.1:2379\"]\n        etcdPrefix: k0s\n")
        self.assertFails(host.k0s("backup", "--save-path", "/"),
                         "Error: command 'k0s backup' does not support external etcd cluster\n")
        os.unlink(host.path("/etc/k0s/k0s.yaml"))
        self.assertFails(host.k0s("backup"), "Error: the save-path directory () does not exist\n")
        self.assertFails(host.k0s("backup", "--save-path", "/backups"),
                         "Error: the save-path directory (/backups) does not exist\n")
        self.assertFails(host.k0s("backup", "--save-path", "/"),
                         "Error: cannot find data-dir (/var/lib/k0s). check your environment and/or command input "
                         "and try again\n")
        os.makedirs(host.path("/var/lib/k0s"))
        self.assertFails(host.k0s("backup", "--save-path", "-"),
                         'Error: unable to detect cluster status status: can\'t get "status" via '
                         '"/run/k0s/status.sock": Get "http://localhost/status": dial unix /run/k0s/status.sock: '
                         "connect: no such file or directory\n")

    def test_restore_arguments_and_archive_errors(self):
        host = self.host()
        self.assertFails(host.k0s("restore"), "Error: accepts 1 arg(s), received 0\n")
        self.assertFails(host.k0s("restore", "a", "b"), "Error: accepts 1 arg(s), received 2\n")
        self.assertFails(host.k0s("restore", "/missing.tar.gz"), "Error: given file /missing.tar.gz does not exist\n")
        os.makedirs(host.path("/backups"))
        self.assertFails(host.k0s("restore", "/backups"), "Error: given file /backups does not exist\n")
        host.write("/backups/plain.tar.gz", "not gzip")
        self.assertFails(host.k0s("restore", "/backups/plain.tar.gz"),
                         "Error: failed to unpack backup archive `/backups/plain.tar.gz`: gzip: invalid header\n")
        host.write("/backups/empty.tar.gz", "")
        self.assertFails(host.k0s("restore", "/backups/empty.tar.gz"),
                         "Error: failed to unpack backup archive `/backups/empty.tar.gz`: EOF\n")
        dotted = build_archive([("./", None), ("./k0s.yaml", b"spec: {}\n")])
        self.assertFails(host.k0s("restore", "-", stdin=dotted, binary=True),
                         "Error: failed to unpack backup archive `-`: ./: illegal file path\n")
        escaping = build_archive([("../evil", b"x")])
        self.assertFails(host.k0s("restore", "-", stdin=escaping, binary=True),
                         "Error: failed to unpack backup archive `-`: ../evil: illegal file path\n")
        self.assertFalse(os.path.exists(host.path("/evil")))
        self.assertEqual(os.listdir(host.path("/tmp")), [], "the unpack directory is removed")

    def test_restore_steps_and_their_errors(self):
        host = self.host()
        host.write("/etc/k0s/k0s.yaml", "spec:\n  storage:\n    etcd:\n      peerAddress: 10.0.0.5\n")
        no_snapshot = build_archive([("pki", None), ("pki/ca.crt", b"CA"), ("k0s.yaml", b"spec: {}\n")])
        refused = host.k0s("restore", "-", stdin=no_snapshot, binary=True)
        self.assertEqual(refused.returncode, 1)
        self.assertRegex(refused.stderr, r"^Error: failed to restore on step `etcd`: etcd snapshot not found at "
                                         r"/tmp/k0s-backup[^/]+/etcd-snapshot\.db\n$")
        snapshot = json.dumps({"entries": {
            "namespaces//kube-system": {"value": {"kind": "Namespace", "metadata": {"name": "kube-system",
                                                                                    "uid": "u-1"}},
                                        "mod": [1, "old"]},
            "members//old": {"value": {"name": "old", "peerURL": "https://10.9.9.9:2380"}, "mod": [1, "old"]}}})
        archive = build_archive([("etcd-snapshot.db", snapshot.encode()), ("pki", None),
                                 ("pki/ca.crt", b"CA"), ("k0s.yaml", b"spec: {}\n")])
        host.write("/backups/k0s_backup_2024-04-09T10_15_30_000Z.tar.gz", "")
        with open(host.path("/backups/k0s_backup_2024-04-09T10_15_30_000Z.tar.gz"), "wb") as handle:
            handle.write(archive)
        missing_dir = host.k0s("restore", "/backups/k0s_backup_2024-04-09T10_15_30_000Z.tar.gz",
                               "--config-out", "/nowhere/k0s.yaml")
        self.assertEqual(missing_dir.returncode, 1)
        self.assertRegex(missing_dir.stderr, r"^Error: failed to restore on step `k0s-config`: open "
                                             r"/nowhere/\.k0s\.yaml\.\d+\.tmp: no such file or directory\n$")
        store = json.loads(host.read("/var/lib/k0s/etcd/standin-store.json"))["entries"]
        self.assertEqual(store["namespaces//kube-system"]["value"]["metadata"]["uid"], "u-1")
        self.assertEqual([k for k in store if k.startswith("members//")], ["members//" + standin.node_name()])
        self.assertEqual(store["members//" + standin.node_name()]["value"]["peerURL"], "https://10.0.0.5:2380")
        self.assertEqual(host.read("/var/lib/k0s/pki/ca.crt"), "CA")
        again = host.k0s("restore", "/backups/k0s_backup_2024-04-09T10_15_30_000Z.tar.gz", "--config-out", "-")
        self.assertFails(again, 'Error: failed to restore on step `etcd`: data-dir "/var/lib/k0s/etcd" not empty or '
                                "could not be read\n")
        shutil.rmtree(host.path("/var/lib/k0s/etcd"))
        to_stdout = host.k0s("restore", "-", stdin=archive, binary=True)
        self.assertEqual((to_stdout.returncode, to_stdout.stdout, to_stdout.stderr), (0, b"spec: {}\n", ""))
        shutil.rmtree(host.path("/var/lib/k0s/etcd"))
        by_default = host.k0s("restore", "/backups/k0s_backup_2024-04-09T10_15_30_000Z.tar.gz", cwd="/")
        self.assertEqual((by_default.returncode, by_default.stdout, by_default.stderr), (0, "", ""))
        self.assertEqual(host.read("/k0s_2024-04-09T10_15_30_000Z.yaml"), "spec: {}\n")

    def test_a_kine_host_restores_the_sqlite_file(self):
        host = self.host()
        host.write("/etc/k0s/k0s.yaml", "spec:\n  storage:\n    type: kine\n")
        etcd_archive = build_archive([("etcd-snapshot.db", b"{}"), ("k0s.yaml", b"spec: {}\n")])
        refused = host.k0s("restore", "-", stdin=etcd_archive, binary=True)
        self.assertRegex(refused.stderr, r"^Error: failed to restore on step `sqlite db path /var/lib/k0s/db/state\.db`:"
                                         r" sqlite snapshot not found at /tmp/k0s-backup[^/]+/kine-state-backup\.db\n$")
        kine_archive = build_archive([("kine-state-backup.db", b'{"entries": {}}'), ("k0s.yaml", b"spec: {}\n")])
        restored = host.k0s("restore", "-", "--config-out", "/etc/k0s/restored.yaml", stdin=kine_archive, binary=True)
        self.assertEqual((restored.returncode, restored.stderr), (0, ""))
        self.assertEqual(host.read("/var/lib/k0s/db/state.db"), '{"entries": {}}')
        self.assertEqual(oct(os.stat(host.path("/var/lib/k0s/db")).st_mode & 0o777), "0o750")


@unittest.skipUnless(IS_ROOT, "the daemon tests need root (unshare --uts)")
class RunningCluster(HostTestCase):
    """A controller (with workloads) and a worker on this host, each under its own root and hostname."""

    def start_controller(self, extra=()):
        host = self.host("standin-cp1")
        self.api_port, self.k0s_api_port = free_port(), free_port()
        host.write("/etc/k0s/k0s.yaml", "spec:\n  api:\n    address: 127.0.0.1\n    port: %d\n    k0sApiPort: %d\n"
                                        "  storage:\n    etcd:\n      peerAddress: 127.0.0.1\n"
                                        "  network:\n    provider: calico\n    calico:\n      mtu: 0\n"
                   % (self.api_port, self.k0s_api_port))
        self.assertEqual(host.k0s("install", "controller", "-c", "/etc/k0s/k0s.yaml", *extra).returncode, 0)
        self.assertEqual(host.k0s("start").returncode, 0)
        wait_until(lambda: host.k0s("status").returncode == 0, what="controller status")
        return host

    def kubectl_json(self, host, *args):
        result = host.k0s("kubectl", *args, "-o", "json")
        self.assertEqual(result.returncode, 0, result)
        return json.loads(result.stdout)

    def test_controller_lifecycle(self):
        cp = self.start_controller(["--enable-worker", "--no-taints"])
        status = cp.k0s("status", "-o", "json").stdout
        self.assertTrue(status.startswith('{\n   "Version": "v1.29.3+k0s.0",\n   "Pid": '), status)
        info = json.loads(status)
        self.assertEqual(list(info)[:10], ["Version", "Pid", "PPid", "Role", "SysInit", "StubFile", "Output",
                                           "Workloads", "SingleNode", "Args"])
        self.assertEqual((info["Role"], info["Workloads"], info["Args"][1:]),
                         ("controller", True, ["controller", "--config=/etc/k0s/k0s.yaml", "--enable-worker=true",
                                               "--no-taints=true"]))
        self.assertEqual(cp.k0s("start").stderr, "Error: already running\n")
        self.assertEqual(cp.k0s("kubectl", "get", "--raw=/readyz").stdout, "ok")
        uid = cp.k0s("kubectl", "get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}").stdout
        self.assertRegex(uid, r"^[0-9a-f-]{36}$")
        node = self.kubectl_json(cp, "get", "node", "standin-cp1")
        self.assertEqual(node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"], "true")
        self.assertNotIn("taints", node["spec"])
        self.assertEqual(cp.k0s("etcd", "member-list").stdout,
                         '{"members":{"standin-cp1":"https://127.0.0.1:2380"}}\n')
        self.assertFails(cp.k0s("etcd", "leave", "--peer-address", "https://10.0.0.9:2380"),
                         'Error: invalid argument "https://10.0.0.9:2380" for "--peer-address" flag: neither an IP '
                         'address nor a DNS name\n')
        self.assertTrue(cp.k0s("etcd", "leave", "--peer-address", "10.0.0.9").stderr.endswith(
            "Error: peer not found: https://10.0.0.9:2380\n"))
        admin = cp.k0s("kubeconfig", "admin").stdout
        # The API port is not 6443 here, so k0s leaves the localhost server alone
        self.assertIn("server: https://localhost:%d\n" % self.api_port, admin)
        self.assertIn("client-certificate-data: ", admin)

        token = cp.k0s("token", "create", "--role=worker", "--expiry=10m0s").stdout.strip()
        kubeconfig = gzip.decompress(base64.b64decode(token)).decode()
        self.assertIn("server: https://127.0.0.1:%d\n" % self.api_port, kubeconfig)
        self.assertIn("- name: kubelet-bootstrap\n", kubeconfig)
        self.assertRegex(kubeconfig, r"token: [a-z0-9]{6}\.[a-z0-9]{16}\n")
        token_id = kubeconfig.split("token: ")[1][:6]
        listed = cp.k0s("token", "list", "--role=worker").stdout.splitlines()
        self.assertEqual(listed[0].split("\t")[:3], ["ID    ", "ROLE  ", "EXPIRES AT          "])
        self.assertTrue(listed[1].startswith(token_id + "\tworker\t"))
        self.assertEqual(cp.k0s("token", "invalidate", token_id).stdout, "token %s deleted successfully\n" % token_id)
        self.assertEqual(cp.k0s("token", "list", "--role=worker").stdout, "No k0s join tokens found\n")

        refused = cp.k0s("reset")
        self.assertEqual(refused.returncode, 1)
        self.assertRegex(refused.stderr, r'^time="[^"]+" level=fatal msg="k0s seems to be running! please stop k0s '
                                         r'before reset."\n$')
        self.assertEqual(cp.k0s("stop").returncode, 0)
        self.assertEqual(cp.k0s("stop").stderr, "Error: already stopped\n")
        refused = cp.k0s("kubectl", "get", "nodes")
        self.assertEqual(refused.stderr, "The connection to the server localhost:%d was refused - did you specify the "
                                         "right host or port?\n" % self.api_port)
        reset = cp.k0s("reset")
        self.assertEqual(reset.returncode, 0, reset)
        self.assertTrue(reset.stderr.endswith('level=warning msg="To ensure a full reset, a node reboot is '
                                              'recommended."\n'))
        self.assertFalse(os.path.exists(cp.path("/var/lib/k0s")))
        self.assertTrue(os.path.exists(cp.path("/etc/k0s/k0s.yaml")))
        self.assertEqual(cp.k0s("start").stderr, "Error: k0s has not been installed as a service\n")

    def test_certificates_have_k0s_validity_and_the_knob_shortens_one(self):
        def days_left(host, name):
            end = standin.openssl("x509", "-in", host.path("/var/lib/k0s/pki/%s.crt" % name), "-noout",
                                  "-enddate").decode().strip()
            self.assertTrue(end.startswith("notAfter="), end)
            return (ssl.cert_time_to_seconds(end[len("notAfter="):]) - time.time()) / 86400

        cp = self.host("standin-cp1")
        cp.write(standin.SHORT_LIVED_CERTIFICATES, "k0s-api 5\nnonsense\n")
        self.api_port, self.k0s_api_port = free_port(), free_port()
        cp.write("/etc/k0s/k0s.yaml", "spec:\n  api:\n    address: 127.0.0.1\n    port: %d\n    k0sApiPort: %d\n"
                                      "  storage:\n    etcd:\n      peerAddress: 127.0.0.1\n"
                                      "  network:\n    provider: calico\n    calico:\n      mtu: 0\n"
                 % (self.api_port, self.k0s_api_port))
        self.assertEqual(cp.k0s("install", "controller", "-c", "/etc/k0s/k0s.yaml").returncode, 0)
        self.assertEqual(cp.k0s("start").returncode, 0)
        wait_until(lambda: cp.k0s("status").returncode == 0, what="controller status")
        self.assertAlmostEqual(days_left(cp, "ca"), 3650, delta=1)
        self.assertAlmostEqual(days_left(cp, "admin"), 365, delta=1)
        self.assertAlmostEqual(days_left(cp, "standin-apiserver"), 365, delta=1)
        self.assertAlmostEqual(days_left(cp, "k0s-api"), 5, delta=0.1)
        # Without the knob, the next start issues it for a year again
        os.unlink(cp.path(standin.SHORT_LIVED_CERTIFICATES))
        self.assertEqual(cp.k0s("stop").returncode, 0)
        self.assertEqual(cp.k0s("start").returncode, 0)
        wait_until(lambda: cp.k0s("status").returncode == 0, what="controller status after restart")
        self.assertAlmostEqual(days_left(cp, "k0s-api"), 365, delta=1)

    def test_a_killed_daemon_waits_for_its_restart(self):
        cp = self.start_controller()
        pid = json.loads(cp.k0s("status", "-o", "json").stdout)["Pid"]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not standin.process_alive(pid), what="daemon to die")
        self.assertTrue(cp.k0s("status").stderr.endswith("connect: connection refused\n"))
        self.assertEqual(cp.k0s("start").stderr, "Error: already running\n")
        self.assertEqual(cp.k0s("stop").returncode, 0)
        self.assertEqual(cp.k0s("start").returncode, 0)
        wait_until(lambda: cp.k0s("status").returncode == 0, what="restarted controller")

    def test_worker_joins_and_tokens_are_checked(self):
        cp = self.start_controller()
        worker = self.host("standin-w1")
        token = cp.k0s("token", "create", "--role=worker", "--expiry=10m").stdout
        worker.write("/etc/k0s/token", token)
        self.assertEqual(worker.k0s("install", "worker", "--token-file", "/etc/k0s/token", "--labels", "tier=web",
                                    "--taints", "dedicated=web:NoSchedule",
                                    "--kubelet-extra-args=--node-ip=10.1.2.3").returncode, 0)
        self.assertEqual(worker.k0s("start").returncode, 0)
        wait_until(lambda: worker.k0s("status").returncode == 0, what="worker status")
        self.assertEqual(json.loads(worker.k0s("status", "-o", "json").stdout)["ClusterConfig"], None)
        node = self.kubectl_json(cp, "get", "node", "standin-w1")
        self.assertEqual(node["metadata"]["labels"]["tier"], "web")
        self.assertEqual(node["spec"]["taints"], [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}])
        self.assertEqual(node["status"]["addresses"][0], {"type": "InternalIP", "address": "10.1.2.3"})
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        self.assertEqual(ready["Ready"], "True")

        deleted = cp.k0s("kubectl", "delete", "node", "standin-w1")
        self.assertEqual(deleted.stdout, 'node "standin-w1" deleted\n')
        gone = cp.k0s("kubectl", "get", "node", "standin-w1", "-o", "json")
        self.assertEqual(gone.stderr, 'Error from server (NotFound): nodes "standin-w1" not found\n')
        self.assertEqual(worker.k0s("stop").returncode, 0)
        self.assertEqual(worker.k0s("start").returncode, 0)
        wait_until(lambda: cp.k0s("kubectl", "get", "node", "standin-w1").returncode == 0, what="re-registration")
        self.assertEqual(worker.k0s("stop").returncode, 0)
        os.unlink(worker.path("/etc/k0s/token"))
        self.assertEqual(worker.k0s("start").returncode, 0)
        wait_until(lambda: "Error: open /etc/k0s/token: no such file or directory" in
                   worker.read("/var/log/k0s-standin/k0sworker.log"), what="worker to fail on its token file")
        self.assertEqual(worker.k0s("start").stderr, "Error: already running\n")
        self.assertEqual(worker.k0s("stop").returncode, 0)
        wait_until(lambda: {c["type"]: c["status"] for c in self.kubectl_json(
            cp, "get", "node", "standin-w1")["status"]["conditions"]}["Ready"] == "Unknown", timeout=25,
            what="node to go stale")

    def test_service_account_tokens_follow_their_secret(self):
        cp = self.start_controller()
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "mke", "namespace": "kube-system"}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "mke"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
             "subjects": [{"kind": "ServiceAccount", "name": "mke", "namespace": "kube-system"}]},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mke-1", "namespace": "kube-system",
                                                                "labels": {"owner": "tf"}}}]})
        applied = cp.k0s("kubectl", "apply", "-f", "-", stdin=manifest)
        self.assertEqual(applied.stdout, "serviceaccount/mke created\nclusterrolebinding.rbac.authorization.k8s.io/"
                                         "mke created\nsecret/mke-1 created\n")
        again = cp.k0s("kubectl", "apply", "-f", "-", stdin=manifest)
        self.assertEqual(again.stdout.count("unchanged"), 3, again)
        token = cp.k0s("kubectl", "create", "token", "mke", "-n", "kube-system", "--bound-object-kind=Secret",
                       "--bound-object-name=mke-1", "--duration=1h").stdout.strip()
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))
        self.assertEqual(claims["sub"], "system:serviceaccount:kube-system:mke")
        self.assertAlmostEqual(claims["exp"] - claims["iat"], 3600, delta=1)
        ca = cp.read("/var/lib/k0s/pki/ca.crt")

        def namespace_status():
            return standin.https_call("https://127.0.0.1:%d" % self.api_port, "GET",
                                      "/api/v1/namespaces/kube-system", ca_pem=ca, token=token)[0]
        self.assertEqual(namespace_status(), 200)
        self.assertEqual(cp.k0s("kubectl", "delete", "secret", "mke-1", "-n", "kube-system").stdout,
                         'secret "mke-1" deleted\n')
        self.assertEqual(namespace_status(), 401)
        short = cp.k0s("kubectl", "create", "token", "mke", "-n", "kube-system", "--duration=5m")
        self.assertIn("may not specify a duration less than 10 minutes", short.stderr)

    def test_backup_then_restore_on_a_fresh_host_brings_the_cluster_back(self):
        cp = self.start_controller(["--enable-worker", "--no-taints"])
        config = cp.read("/etc/k0s/k0s.yaml")
        worker = self.host("standin-w1")
        worker.write("/etc/k0s/token", cp.k0s("token", "create", "--role=worker").stdout)
        self.assertEqual(worker.k0s("install", "worker", "--token-file", "/etc/k0s/token").returncode, 0)
        self.assertEqual(worker.k0s("start").returncode, 0)
        wait_until(lambda: cp.k0s("kubectl", "get", "node", "standin-w1").returncode == 0, what="worker node")
        self.assertEqual(worker.k0s("stop").returncode, 0)
        secret = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kept",
                                                                             "namespace": "default"}})
        self.assertEqual(cp.k0s("kubectl", "apply", "-f", "-", stdin=secret).returncode, 0)
        token_id = gzip.decompress(base64.b64decode(cp.k0s("token", "create", "--role=controller").stdout)) \
            .decode().split("token: ")[1][:6]
        uid = cp.k0s("kubectl", "get", "namespace", "kube-system", "-o", "jsonpath={.metadata.uid}").stdout

        os.makedirs(cp.path("/root/backups"))
        saved = cp.k0s("backup", "--save-path", "/root/backups")
        self.assertEqual((saved.returncode, saved.stdout, saved.stderr), (0, "", ""))
        [name] = os.listdir(cp.path("/root/backups"))
        self.assertRegex(name, r"^k0s_backup_\d{4}-\d\d-\d\dT\d\d_\d\d_\d\d_000Z\.tar\.gz$")
        with open(cp.path("/root/backups/" + name), "rb") as handle:
            names = archive_names(handle.read())
        self.assertEqual(names[:2], ["etcd-snapshot.db", "pki"])
        self.assertIn("pki/ca.key", names)
        self.assertEqual(names[-1], "k0s.yaml")
        self.assertFalse([n for n in names if n.startswith("./") or n.startswith("etcd/")], names)
        streamed = cp.k0s("backup", "--save-path", "-", binary=True)
        self.assertEqual((streamed.returncode, streamed.stderr), (0, ""))
        self.assertEqual(archive_file(streamed.stdout, "k0s.yaml").decode(), config)

        os.rename(cp.path("/etc/k0s/k0s.yaml"), cp.path("/etc/k0s/away.yaml"))
        fatal = cp.k0s("backup", "--save-path", "/root/backups")
        self.assertRegex(fatal.stderr, r'^time="[^"]+" level=fatal msg="error creating archive: failed to add file to '
                                       r'backup archive: failed to open file: open /etc/k0s/k0s\.yaml: no such file '
                                       r'or directory"\n$')
        self.assertEqual(os.listdir(cp.path("/root/backups")), [name])
        partial = cp.k0s("backup", "--save-path", "-", binary=True)
        self.assertEqual(partial.stderr, "Error: error creating archive: failed to add file to backup archive: failed "
                                         "to open file: open /etc/k0s/k0s.yaml: no such file or directory\n")
        self.assertNotIn("k0s.yaml", archive_names(partial.stdout))
        os.rename(cp.path("/etc/k0s/away.yaml"), cp.path("/etc/k0s/k0s.yaml"))

        running = cp.k0s("restore", "-", stdin=streamed.stdout, binary=True)
        self.assertRegex(running.stderr, r'^time="[^"]+" level=fatal msg="k0s seems to be running! k0s must be down '
                                         r'during the restore operation\."\n$')
        self.assertEqual(cp.k0s("stop").returncode, 0)

        fresh = self.host("standin-cp9")
        fresh.write("/etc/k0s/k0s.yaml", config)
        restored = fresh.k0s("restore", "-", "--config-out", "/etc/k0s/k0s.yaml", stdin=streamed.stdout, binary=True)
        self.assertEqual((restored.returncode, restored.stdout, restored.stderr), (0, b"", ""))
        self.assertEqual(fresh.k0s("install", "controller", "--config=/etc/k0s/k0s.yaml", "--enable-worker",
                                   "--no-taints").returncode, 0)
        self.assertEqual(fresh.k0s("start").returncode, 0)
        wait_until(lambda: fresh.k0s("status").returncode == 0, what="restored controller status")
        self.assertEqual(fresh.k0s("kubectl", "get", "namespace", "kube-system", "-o",
                                   "jsonpath={.metadata.uid}").stdout, uid)
        self.assertEqual(fresh.k0s("etcd", "member-list").stdout,
                         '{"members":{"standin-cp9":"https://127.0.0.1:2380"}}\n')
        self.assertEqual(fresh.k0s("kubectl", "get", "secret", "kept", "-n", "default").returncode, 0)
        listed = fresh.k0s("token", "list", "--role=controller")
        self.assertIn(token_id, listed.stdout, listed)
        # The worker stays stopped: its Node is back, and goes NotReady once its last heartbeat ages out
        wait_until(lambda: {c["type"]: c["status"] for c in self.kubectl_json(
            fresh, "get", "node", "standin-w1")["status"]["conditions"]}["Ready"] == "Unknown", timeout=25,
            what="the restored worker Node to go stale")
        wait_until(lambda: fresh.k0s("kubectl", "get", "node", "standin-cp9").returncode == 0, what="own node")


if __name__ == "__main__":
    unittest.main(verbosity=2)

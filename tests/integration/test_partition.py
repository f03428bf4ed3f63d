"""A network partition, for real: a coordinator and two agents, each in its
own network namespace, joined by a bridge in a fourth (nothing on the host
changes). One agent's link is cut while it runs a step: gossip on both
sides declares the other dead, the step runs again on the other agent and
the workflow succeeds; the link is restored and the agent comes back as
alive and Ready. Needs root and iproute2; skipped otherwise."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Daemon, write_key

WORK = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: part-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: work
        withSequence: {count: "4"}
  - name: work
    container:
      image: alpine
      command: [sh, -c, "echo on $COULER_HOST; sleep 4; echo done"]
"""


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True,
                          check=check)


class Net:
    """Namespaces node-<i> on 10.77.0.0/24, bridged in a switch namespace."""

    def __init__(self, n):
        tag = "%04d" % (os.getpid() % 10000)
        self.sw = "cpl-sw-" + tag
        self.ns = ["cpl-n%d-%s" % (i, tag) for i in range(n)]
        self.ports = ["cp%s%d" % (tag, i) for i in range(n)]
        self.made = []
        ip("netns", "add", self.sw)
        self.made.append(self.sw)
        ip("-n", self.sw, "link", "add", "br0", "type", "bridge")
        ip("-n", self.sw, "link", "set", "br0", "up")
        for i, ns in enumerate(self.ns):
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer",
               "name", self.ports[i], "netns", self.sw)
            ip("-n", ns, "addr", "add", "10.77.0.%d/24" % (i + 1), "dev",
               "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", self.sw, "link", "set", self.ports[i], "master", "br0")
            ip("-n", self.sw, "link", "set", self.ports[i], "up")

    def addr(self, i):
        return "10.77.0.%d" % (i + 1)

    def cut(self, i):
        ip("-n", self.sw, "link", "set", self.ports[i], "down")

    def heal(self, i):
        ip("-n", self.sw, "link", "set", self.ports[i], "up")

    def close(self):
        for ns in reversed(self.made):
            ip("netns", "del", ns, check=False)


class TestPartition(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or shutil.which("ip") is None:
            raise unittest.SkipTest("needs root and iproute2")
        try:
            cls.net = Net(3)
        except subprocess.CalledProcessError as e:
            raise unittest.SkipTest("network namespaces unavailable: %s" %
                                    e.stderr.strip())
        cls.dir = tempfile.mkdtemp(prefix="couler-part-")
        cls.shared = tempfile.mkdtemp(prefix="couler-part-shared-",
                                      dir="/var/tmp")
        key = write_key(os.path.join(cls.dir, "cluster.key"),
                        os.urandom(32).hex())
        c = cls.net.addr(0)
        cls.client = "tcp://%s:7700" % c
        cls.daemons = []
        cls.coord = cls.start(0, "coord", [
            harness.COORD, "serve", "--data-dir",
            os.path.join(cls.dir, "coord"), "--listen", cls.client,
            "--agent-listen", "tcp://%s:7701" % c, "--gossip",
            "%s:7946" % c, "--cluster-key", key, "--heartbeat-ms", "300",
            "--agent-timeout-ms", "60000"])
        cls.agents = []
        for i in (1, 2):
            cls.agents.append(cls.start(i, "agent-%d" % i, [
                harness.AGENT, "--name", "agent-%d" % i, "--data-dir",
                os.path.join(cls.dir, "agent-%d" % i), "--gossip",
                "%s:7946" % cls.net.addr(i), "--join", "%s:7946" % c,
                "--cluster-key", key, "--heartbeat-ms", "300", "--bind",
                cls.shared]))
        cls.wait_ready(2, 30)

    @classmethod
    def start(cls, i, name, argv):
        d = Daemon(name, ["ip", "netns", "exec", cls.net.ns[i]] + argv,
                   cls.dir)
        cls.daemons.append(d)
        return d

    @classmethod
    def cli(cls, *args, check=True):
        p = subprocess.run(["ip", "netns", "exec", cls.net.ns[0],
                            harness.COORD] + list(args), capture_output=True,
                           text=True, errors="replace", timeout=60,
                           env=dict(os.environ, COULER_COORD=cls.client))
        if check and p.returncode != 0:
            raise AssertionError("%s: %s" % (" ".join(args), p.stderr))
        return p

    @classmethod
    def nodes(cls):
        return {n["name"]: n for n in
                json.loads(cls.cli("nodes", "-o", "json").stdout)}

    @classmethod
    def wait_ready(cls, n, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if sum(1 for x in cls.nodes().values()
                       if x["state"] == "Ready") >= n:
                    return
            except (AssertionError, ValueError):
                pass
            time.sleep(0.3)
        raise AssertionError("agents not ready: %s" %
                             [d.log()[-2000:] for d in cls.daemons])

    @classmethod
    def tearDownClass(cls):
        for d in getattr(cls, "daemons", []):
            d.stop()
        reports = []
        for d in getattr(cls, "daemons", []):
            for mark in harness.SANITIZER_MARKS:
                if mark in d.log():
                    reports.append("%s: %s" % (d.name, d.log()[-3000:]))
                    break
        if hasattr(cls, "net"):
            cls.net.close()
        if hasattr(cls, "dir"):
            shutil.rmtree(cls.dir, ignore_errors=True)
            shutil.rmtree(cls.shared, ignore_errors=True)
        if reports:
            raise AssertionError("\n".join(reports))

    def test_partition_and_heal(self):
        path = os.path.join(self.dir, "work.yaml")
        with open(path, "w") as f:
            f.write(WORK)
        name = self.cli("submit", path, "-o", "name").stdout.strip()
        victim = None
        deadline = time.time() + 20
        while victim is None and time.time() < deadline:
            st = json.loads(self.cli("get", name, "-o", "json").stdout)
            for n in st["status"]["nodes"].values():
                if n.get("type") == "Pod" and n["phase"] == "Running" and \
                        n.get("hostNodeName"):
                    victim = n["hostNodeName"]
                    break
            time.sleep(0.2)
        self.assertIsNotNone(victim)
        idx = int(victim.split("-")[1])
        cut = time.time()
        self.net.cut(idx)
        while time.time() - cut < 20:
            if self.nodes()[victim]["state"] == "Lost":
                break
            time.sleep(0.3)
        self.assertEqual(self.nodes()[victim]["state"], "Lost")
        self.assertIn("declared dead by gossip", self.coord.log())
        # The other side of the partition sees the coordinator go too.
        deadline = time.time() + 20
        agent = self.agents[idx - 1]
        while "is dead" not in agent.log() and time.time() < deadline:
            time.sleep(0.3)
        deadline = time.time() + 90
        phase = None
        while time.time() < deadline:
            st = json.loads(self.cli("get", name, "-o", "json").stdout)
            phase = st["status"]["phase"]
            if phase in ("Succeeded", "Failed", "Error"):
                break
            time.sleep(0.5)
        self.assertEqual(phase, "Succeeded")
        moved = [n for n in st["status"]["nodes"].values()
                 if n.get("type") == "Pod" and
                 "lost" in (n.get("message") or "")]
        self.assertTrue(moved)
        for n in moved:
            self.assertNotEqual(n["hostNodeName"], victim)
        # Heal: the agent is alive and Ready again, without a restart.
        self.net.heal(idx)
        deadline = time.time() + 30
        while time.time() < deadline:
            v = self.nodes()[victim]
            if v["state"] == "Ready" and v["gossip"] == "alive":
                break
            time.sleep(0.3)
        v = self.nodes()[victim]
        self.assertEqual((v["state"], v["gossip"]), ("Ready", "alive"))
        self.assertTrue(all(d.alive() for d in self.daemons))


if __name__ == "__main__":
    harness.main()

"""Membership by gossip on real daemons: a coordinator and four agents that
find it through gossip alone (--join, no --coord). An agent killed while it
runs a step is declared dead by gossip, long before the heartbeat timeout
(set to a minute here), and its step runs again elsewhere."""
import os
import signal
import time
import unittest

import harness
from harness import Cluster, pods, write_key

WIDE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: wide-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: work
        withSequence: {count: "8"}
  - name: work
    retryStrategy: {limit: 0}
    container:
      image: alpine
      command: [sh, -c, "echo started $(hostname); sleep 6; echo finished"]
"""


class TestGossip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(agents=4, gossip=True, agent_timeout_ms=60000)
        cls.failed = False

    @classmethod
    def tearDownClass(cls):
        reports = cls.c.close(failed=cls.failed)
        if reports:
            raise AssertionError("\n".join(reports))

    def run(self, result=None):
        res = super().run(result)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True
        return res

    def all_alive(self, timeout=20):
        """Wait until every Ready node is held alive by gossip (a member
        can be suspected for a moment on a loaded machine); return the
        nodes as last seen."""
        deadline = time.time() + timeout
        while True:
            nodes = self.c.nodes()
            live = [n for n in nodes if n["state"] == "Ready"]
            if all(n["gossip"] == "alive" for n in live) or \
                    time.time() > deadline:
                return nodes
            time.sleep(0.2)

    def test_1_agents_find_the_coordinator_by_gossip(self):
        nodes = {n["name"]: n for n in self.all_alive()}
        self.assertEqual(len(nodes), 4)
        for n in nodes.values():
            self.assertEqual(n["state"], "Ready", n)
            self.assertEqual(n["gossip"], "alive", n)
        for a in self.c.agents:
            self.assertIn("coordinator found at", a.log())

    def test_2_killed_agent_is_declared_dead_and_its_step_moves(self):
        path = os.path.join(self.c.dir, "wide.yaml")
        with open(path, "w") as f:
            f.write(WIDE)
        name = self.c.submit(path)
        victim = None
        deadline = time.time() + 30
        while victim is None and time.time() < deadline:
            for n in pods(self.c.get(name)).values():
                if n["phase"] == "Running" and n.get("hostNodeName"):
                    victim = n["hostNodeName"]
                    break
            time.sleep(0.1)
        self.assertIsNotNone(victim)
        agent = [a for a in self.c.agents if a.name == victim][0]
        killed = time.time()
        agent.kill9()
        # The coordinator holds it dead by gossip, before the one-minute
        # heartbeat timeout would.
        state = None
        while time.time() - killed < 50:
            state = {n["name"]: n for n in self.c.nodes()}[victim]
            if state["state"] == "Lost":
                break
            time.sleep(0.2)
        took = time.time() - killed
        self.assertEqual(state["state"], "Lost", state)
        self.assertIn(state["gossip"], ("dead", "suspect"))
        print("\n  killed agent declared dead after %.1f s" % took)
        self.assertIn("declared dead by gossip", self.c.coord.log())
        st = self.c.wait(name, 90)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         self.c.logs(name))
        moved = [n for n in pods(st).values()
                 if "lost" in (n.get("message") or "")]
        self.assertTrue(moved, "a rescheduled step says why")
        for n in moved:
            self.assertNotEqual(n["hostNodeName"], victim)
            self.assertIn("rescheduled", n["message"])

    def test_3_a_wrong_key_cannot_join(self):
        bad = write_key(os.path.join(self.c.dir, "wrong.key"),
                        os.urandom(32).hex())
        stranger = self.c.add_agent("stranger", key=bad)
        time.sleep(3)
        names = {n["name"] for n in self.c.nodes()}
        self.assertNotIn("stranger", names)
        self.assertNotIn("coordinator found", stranger.log())
        stranger.stop()

    def test_4_key_rotation_without_restart(self):
        """A new key becomes accepted everywhere (SIGHUP), then primary:
        members keep talking and a node holding only the new key joins."""
        with open(self.c.key) as f:
            old = f.read().split()[-1]
        new = os.urandom(32).hex()
        # Step 1: everyone accepts the new key.
        write_key(self.c.key, old, new)
        for d in [self.c.coord] + [a for a in self.c.agents if a.alive()]:
            os.kill(d.pid, signal.SIGHUP)
        time.sleep(0.5)
        # Step 2: the new key is primary everywhere.
        write_key(self.c.key, new, old)
        for d in [self.c.coord] + [a for a in self.c.agents if a.alive()]:
            os.kill(d.pid, signal.SIGHUP)
        only_new = write_key(os.path.join(self.c.dir, "new.key"), new)
        late = self.c.add_agent("late", key=only_new)
        deadline = time.time() + 30
        while time.time() < deadline:
            if "late" in {n["name"] for n in self.c.nodes()
                          if n["state"] == "Ready"}:
                break
            time.sleep(0.2)
        self.assertIn("late", {n["name"] for n in self.c.nodes()})
        self.assertIn("cluster keys reloaded", self.c.coord.log())
        # Members that reloaded a moment apart may have suspected each
        # other meanwhile; they settle back to alive.
        live = [n for n in self.all_alive() if n["state"] == "Ready"]
        for n in live:
            self.assertEqual(n["gossip"], "alive", n)


if __name__ == "__main__":
    harness.main()

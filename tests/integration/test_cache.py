"""The step-output cache on real daemons (couler-coord serve --cache-policy
auto and agents): nothing computed twice, and nothing wrong reused."""
import glob
import os
import subprocess
import threading
import time
import unittest

import harness
from harness import Cluster, ClusterTest, pods

WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: cache-
spec:
  entrypoint: main
  arguments:
    parameters:
    - {name: x, value: "1"}
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: echo, arguments: {parameters: [{name: msg, value: "a={{workflow.parameters.x}}"}]}}
      - {name: b, template: echo, arguments: {parameters: [{name: msg, value: "b=TOKEN"}]}}
      - {name: c, template: echo, dependencies: [a], arguments: {parameters: [{name: msg, value: "c sees {{tasks.a.outputs.result}}"}]}}
      - {name: d, template: echo, dependencies: [b], arguments: {parameters: [{name: msg, value: "d sees {{tasks.b.outputs.result}}"}]}}
      - {name: s, template: script}
      - {name: t, template: echo, dependencies: [s], arguments: {parameters: [{name: msg, value: "t sees {{tasks.s.outputs.result}}"}]}}
  - name: echo
    inputs: {parameters: [{name: msg}]}
    container:
      image: alpine
      command: [echo, "{{inputs.parameters.msg}}"]
  - name: script
    script:
      image: python:3
      command: [sh]
      source: |
        echo "script VERSION TOKEN"
"""

ARTIFACTS = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: art-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: produce
        template: produce
    - - name: consume
        template: consume
        arguments:
          artifacts:
          - {name: data, from: "{{steps.produce.outputs.artifacts.data}}"}
  - name: produce
    container:
      image: alpine
      command: [sh, -c, "head -c 6000000 /dev/urandom > /tmp/data; printf '\\nTOKEN\\n' >> /tmp/data; md5sum /tmp/data | cut -c1-32"]
    outputs:
      artifacts:
      - {name: data, path: /tmp/data}
  - name: consume
    inputs:
      artifacts:
      - {name: data, path: /in/data}
    container:
      image: alpine
      command: [sh, -c, "tail -n 1 /in/data; md5sum /in/data | cut -c1-32"]
"""

SLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: slow-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "echo computing >> MARKS; sleep 3; echo TOKEN"]
"""


def hits(st):
    return {name: bool((n.get("memoizationStatus") or {}).get("hit"))
            for name, n in pods(st).items()}


class TestCache(ClusterTest):
    agents = 2
    coord_args = ("--cache-policy", "auto")

    def run_wf(self, text, *extra, name="wf.yaml"):
        path = self.write(name, text)
        n = self.c.submit(path, *extra)
        st = self.c.wait(n, 120)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         self.c.logs(n))
        return n, st

    def test_identical_resubmit_spawns_nothing(self):
        wf = WF.replace("TOKEN", "same").replace("VERSION", "v1")
        _, first = self.run_wf(wf)
        self.assertFalse(any(hits(first).values()), hits(first))
        before = self.c.stats()["steps_assigned"]
        _, second = self.run_wf(wf)
        self.assertEqual(hits(second), {k: True for k in "abcdst"})
        self.assertEqual(self.c.stats()["steps_assigned"], before,
                         "a cached step was started anyway")
        for name, n in pods(second).items():
            ms = n["memoizationStatus"]
            self.assertEqual(len(ms["key"]), 64)
            self.assertIn(ms["from"], ("agent-1", "agent-2"))
            self.assertEqual(n["outputs"]["result"],
                             pods(first)[name]["outputs"]["result"])
        tree = self.c.cli("get", pods(second)["a"]["id"].rsplit("-", 1)[0])
        self.assertIn("(cached)", tree.stdout)
        # The entries are listed and explained.
        ls = self.c.cli("cache", "ls").stdout
        self.assertIn("agent-", ls)
        key = pods(second)["a"]["memoizationStatus"]["key"]
        self.assertIn(key[:16], ls)
        show = self.c.cli("cache", "show", key).stdout
        self.assertIn("score I =", show)
        self.assertIn("result a=1", show)

    def test_parameter_change_reruns_what_it_reaches(self):
        wf = WF.replace("TOKEN", "param").replace("VERSION", "v1")
        self.run_wf(wf)
        _, st = self.run_wf(wf, "-p", "x=2")
        self.assertEqual(hits(st), {"a": False, "c": False, "b": True,
                                    "d": True, "s": True, "t": True})
        self.assertEqual(pods(st)["c"]["outputs"]["result"], "c sees a=2")

    def test_script_edit_reruns_it_and_its_dependents(self):
        self.run_wf(WF.replace("TOKEN", "edit").replace("VERSION", "v1"))
        _, st = self.run_wf(WF.replace("TOKEN", "edit").replace("VERSION",
                                                                "v2"))
        self.assertEqual(hits(st), {"a": True, "b": True, "c": True,
                                    "d": True, "s": False, "t": False})
        self.assertEqual(pods(st)["t"]["outputs"]["result"],
                         "t sees script v2 edit")

    def test_z_prune_removes_what_went_unused(self):
        """Last: `cache prune` empties the caches of entries unused for
        the given time, on every agent, and the agents keep serving."""
        wf = WF.replace("TOKEN", "prune").replace("VERSION", "v1")
        self.run_wf(wf)
        self.assertIn("agent-", self.c.cli("cache", "ls").stdout)
        p = self.c.cli("cache", "prune", "--older-than", "1h")
        kept = self.c.cli("cache", "ls").stdout
        self.assertIn("agent-", kept, "entries used just now were pruned")
        time.sleep(1.1)
        p = self.c.cli("cache", "prune", "--older-than", "1s")
        self.assertRegex(p.stdout, r"[1-9]\d* entr")
        ls = self.c.cli("cache", "ls").stdout
        self.assertNotIn("agent-", ls, ls)
        # Pruned: the same workflow computes its steps again.
        _, again = self.run_wf(wf)
        self.assertFalse(any(hits(again).values()), hits(again))
        for a in self.c.agents:
            self.assertTrue(a.alive())

    def test_same_step_at_once_is_computed_once(self):
        marks = os.path.join(self.c.shared, "marks-once")
        path = self.write("slow.yaml", SLOW.replace("MARKS", marks)
                          .replace("TOKEN", "once"))
        names = [self.c.submit(path) for _ in range(2)]
        sts = [self.c.wait(n, 60) for n in names]
        for st in sts:
            self.assertEqual(st["status"]["phase"], "Succeeded")
            self.assertEqual(list(pods(st).values())[0]["outputs"]["result"],
                             "once")
        with open(marks) as f:
            self.assertEqual(f.read().count("computing"), 1)
        self.assertEqual(sorted(any(hits(st).values()) for st in sts),
                         [False, True])

    def test_corrupt_chunk_is_a_miss_and_repaired(self):
        wf = ARTIFACTS.replace("TOKEN", "corrupt")
        _, first = self.run_wf(wf, name="art1.yaml")
        producer = pods(first)["produce"]["hostNodeName"]
        blobs = glob.glob(os.path.join(self.c.dir, producer, "cache", "db",
                                       "*.blob"))
        self.assertTrue(blobs, "the artifact's chunks are on disk")
        flipped = 0
        for b in blobs:
            size = os.path.getsize(b)
            if size < 2 << 20:
                continue
            with open(b, "r+b") as f:
                for off in (size // 3, size // 2):
                    f.seek(off)
                    byte = f.read(1)
                    f.seek(off)
                    f.write(bytes([byte[0] ^ 0xFF]))
                    flipped += 1
        self.assertGreater(flipped, 0)
        _, second = self.run_wf(wf, name="art2.yaml")
        h = hits(second)
        self.assertFalse(h["produce"], "a corrupt artifact must not be used")
        self.assertEqual(pods(second)["consume"]["outputs"]["result"]
                         .splitlines()[-1],
                         pods(second)["produce"]["outputs"]["result"])
        # Recomputing stored the content again: now it is a clean hit.
        _, third = self.run_wf(wf, name="art3.yaml")
        self.assertTrue(hits(third)["produce"])


class TestCacheNodeLoss(unittest.TestCase):
    """The node that holds a needed artifact dies: the hit becomes a miss,
    the producer reruns elsewhere and the workflow still succeeds."""

    def test_artifact_holder_killed(self):
        c = Cluster(agents=2, coord_args=("--cache-policy", "auto"),
                    agent_timeout_ms=2000)
        failed = True
        try:
            path = os.path.join(c.dir, "art.yaml")
            with open(path, "w") as f:
                f.write(ARTIFACTS.replace("TOKEN", "loss"))
            n1 = c.submit(path)
            st1 = c.wait(n1, 60)
            self.assertEqual(st1["status"]["phase"], "Succeeded")
            holder = pods(st1)["produce"]["hostNodeName"]
            [a for a in c.agents if a.name == holder][0].kill9()
            deadline = time.time() + 20
            while time.time() < deadline:
                states = {x["name"]: x["state"] for x in c.nodes()}
                if states.get(holder) == "Lost":
                    break
                time.sleep(0.2)
            n2 = c.submit(path)
            st2 = c.wait(n2, 90)
            self.assertEqual(st2["status"]["phase"], "Succeeded",
                             c.logs(n2))
            self.assertFalse(hits(st2)["produce"])
            self.assertNotEqual(pods(st2)["produce"]["hostNodeName"], holder)
            failed = False
        finally:
            reports = c.close(failed=failed)
        self.assertFalse(reports, reports)


BIG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: big-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: produce, template: produce}
    - - name: consume
        template: consume
        arguments:
          artifacts:
          - {name: data, from: "{{steps.produce.outputs.artifacts.data}}"}
  - name: produce
    nodeSelector: {kubernetes.io/hostname: agent-1}
    container:
      image: alpine
      command: [sh, -c, "head -c 256m /dev/urandom > /tmp/data; echo TOKEN >> /tmp/data"]
    outputs:
      artifacts:
      - {name: data, path: /tmp/data}
  - name: consume
    nodeSelector: {kubernetes.io/hostname: agent-2}
    inputs:
      artifacts:
      - {name: data, path: /in/data}
    container:
      image: alpine
      command: [sh, -c, "tail -c 12 /in/data"]
"""


class TestFetchInterrupted(unittest.TestCase):
    """A 256 MiB input fetched between agents, interrupted by the user
    (stop) and by a stopped agent, whichever moment it hits: the agent
    comes through clean (no sanitizer report, a clean exit), and the next
    run fetches what is missing and succeeds."""

    def test_fetch_interrupted(self):
        c = Cluster(agents=2, coord_args=("--cache-policy", "off"))
        failed = True
        try:
            path = os.path.join(c.dir, "big.yaml")
            with open(path, "w") as f:
                f.write(BIG.replace("TOKEN", "interrupted"))
            consumer = [a for a in c.agents if a.name == "agent-2"][0]

            def when_produced(name):
                deadline = time.time() + 120
                while time.time() < deadline:
                    st = c.get(name)
                    p = pods(st).get("produce")
                    if p and p["phase"] in ("Succeeded", "Failed", "Error"):
                        return p["phase"]
                    time.sleep(0.05)
                raise AssertionError("produce did not end: %s" % st)

            def when_fetching(name, agent):
                deadline = time.time() + 120
                while time.time() < deadline:
                    for line in agent.log().splitlines():
                        if "fetching input artifact" in line and \
                                name in line:
                            return
                    time.sleep(0.02)
                raise AssertionError("no fetch for %s: %s" %
                                     (name, agent.log()[-3000:]))

            # 1. The user stops the workflow while its input is fetched:
            # the consumer never starts.
            n1 = c.submit(path)
            when_fetching(n1, consumer)
            c.cli("stop", n1)
            st1 = c.wait(n1, 60)
            self.assertEqual(st1["status"]["phase"], "Failed")
            consume = pods(st1)["consume"]
            self.assertNotEqual(consume["phase"], "Succeeded", consume)
            deadline = time.time() + 30
            while "cancelling" not in consumer.log() and \
                    time.time() < deadline:
                time.sleep(0.1)
            self.assertIn("cancelling", consumer.log())
            self.assertIn("%s[1].consume) exited: Failed, Stopped" % n1,
                          consumer.log())
            self.assertNotIn("interrupted", c.logs(n1, "consume"))
            self.assertTrue(consumer.alive())
            # 2. The consuming agent is stopped while it fetches.
            n2 = c.submit(path)
            when_fetching(n2, consumer)
            self.assertEqual(consumer.stop(), 0, consumer.log()[-3000:])
            c.cli("stop", n2)
            c.wait(n2, 60)
            # 3. Back again: the input is fetched whole and handed over.
            again = c.add_agent("agent-2")
            c.wait_nodes(2)
            n3 = c.submit(path)
            st3 = c.wait(n3, 120)
            self.assertEqual(st3["status"]["phase"], "Succeeded",
                             c.logs(n3))
            self.assertIn("interrupted", c.logs(n3, "consume"))
            self.assertIn("fetched artifact", again.log())
            failed = False
        finally:
            reports = c.close(failed=failed)
        self.assertFalse(reports, reports)


class TestCacheFullDisk(unittest.TestCase):
    """A node whose disk is full cannot keep the entry: it says so, and the
    step's own result stands."""

    def test_full_disk(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a small file system needs root")
        c = Cluster(agents=1, coord_args=("--cache-policy", "auto"))
        mnt = os.path.join(c.dir, "small")
        os.makedirs(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs",
                        mnt], check=True)
        failed = True
        try:
            full = c.add_agent("agent-full", ["--label", "disk=full"],
                               data_dir=mnt)
            c.wait_nodes(2)
            text = WF.replace("TOKEN", "full").replace("VERSION", "v1")
            text = text.replace("  - name: echo\n", "  - name: echo\n"
                                "    nodeSelector: {disk: full}\n")
            path = os.path.join(c.dir, "full.yaml")
            with open(path, "w") as f:
                f.write(text)
            n = c.submit(path)
            st = c.wait(n, 60)
            self.assertEqual(st["status"]["phase"], "Succeeded")
            self.assertEqual(pods(st)["a"]["outputs"]["result"], "a=1")
            self.assertEqual(pods(st)["a"]["hostNodeName"], "agent-full")
            self.assertIn("not cached", full.log())
            self.assertIn("free on the file system", full.log())
            # The user sees it on the step too.
            self.assertIn("not cached", pods(st)["a"]["message"])
            failed = False
        finally:
            reports = c.close(failed=failed)
            subprocess.run(["umount", mnt])
        self.assertFalse(reports, reports)


if __name__ == "__main__":
    harness.main()

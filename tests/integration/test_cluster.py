"""A coordinator and two agents on 127.0.0.1: workflows end to end through
the CLI, bad input, and garbage on both ROUTERs."""
import json
import os
import subprocess
import time

import harness
from harness import ClusterTest, pods

HELLO = os.path.join(harness.SRC, "examples", "hello-dag.yaml")

FAILING = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: failing-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: ok
        template: run
        arguments: {parameters: [{name: code, value: "0"}]}
    - - name: boom
        template: run
        arguments: {parameters: [{name: code, value: "3"}]}
    - - name: never
        template: run
        arguments: {parameters: [{name: code, value: "0"}]}
  - name: run
    inputs: {parameters: [{name: code}]}
    container:
      image: alpine
      command: [sh, -c, "echo exiting with {{inputs.parameters.code}}; exit {{inputs.parameters.code}}"]
"""

SLEEPY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: sleepy-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "echo started; sleep 60; echo finished"]
"""

LOUD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: loud-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: python
      command: [python3, -c, "import sys\\nfor i in range(1, 80001): sys.stdout.write('line %d %s\\\\n' % (i, 'x' * 96))"]
"""


class TestCluster(ClusterTest):
    agents = 2

    def test_diamond_end_to_end(self):
        # The example as it is, but each step asks for two whole cores: the
        # agents have two each, so B and C, which run at the same time,
        # must go to different agents (the placer packs small steps).
        with open(HELLO) as f:
            text = f.read()
        text = text.replace("    container:\n", "    container:\n"
                            "      resources: {requests: {cpu: \"2\"}}\n")
        text = text.replace("    script:\n", "    script:\n"
                            "      resources: {requests: {cpu: \"2\"}}\n")
        self.assertEqual(text.count("cpu: \"2\""), 2)
        name = self.c.submit(self.write("hello-2cpu.yaml", text))
        self.assertTrue(name.startswith("hello-dag-"), name)
        st = self.c.wait(name)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         json.dumps(st, indent=1)[:3000])
        p = pods(st)
        self.assertEqual(sorted(p), ["A", "B", "C", "D"])
        for n in p.values():
            self.assertEqual(n["phase"], "Succeeded")
            self.assertTrue(n["startedAt"] and n["finishedAt"])
        # The parameter flowed: B read A's stdout, D read C's file output.
        self.assertEqual(p["A"]["outputs"]["result"], "hello from A")
        self.assertEqual(p["B"]["outputs"]["result"],
                         "B heard: hello from A")
        words = {x["name"]: x["value"]
                 for x in p["C"]["outputs"]["parameters"]}
        self.assertEqual(words["words"].strip(), "3")
        self.assertEqual(p["D"]["outputs"]["result"],
                         "D joins: 'B heard: hello from A' and 3 words")
        # Both agents ran steps.
        hosts = {n["hostNodeName"] for n in p.values()}
        self.assertEqual(hosts, {"agent-1", "agent-2"})
        # Logs come back, one step's and everyone's.
        self.assertIn("D joins:", self.c.logs(name, "D"))
        all_logs = self.c.logs(name)
        self.assertIn("A: hello from A", all_logs)
        self.assertIn("C: counted 3 words", all_logs)
        # The Argo shape that tools read.
        self.assertEqual(st["metadata"]["name"], name)
        for k in ("startedAt", "finishedAt", "phase", "nodes"):
            self.assertIn(k, st["status"])
        for n in st["status"]["nodes"].values():
            for k in ("id", "name", "displayName", "type", "templateName",
                      "phase", "startedAt", "finishedAt"):
                self.assertIn(k, n, n)
        # list and the tree view know it.
        self.assertIn(name, self.c.cli("list").stdout)
        tree = self.c.cli("get", name).stdout
        self.assertIn("Succeeded", tree)
        for step in "ABCD":
            self.assertIn(step, tree)

    def test_parameter_override_and_wait(self):
        p = self.c.cli("submit", HELLO, "-p", "greeting=hi there", "--wait")
        self.assertIn("Succeeded", p.stdout)
        name = p.stdout.split()[0]
        st = self.c.get(name)
        self.assertEqual(pods(st)["A"]["outputs"]["result"],
                         "hi there from A")

    def test_failing_step(self):
        path = self.write("failing.yaml", FAILING)
        p = self.c.cli("submit", path, "--wait", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("Failed", p.stdout)
        name = p.stdout.split()[0]
        st = self.c.get(name)
        self.assertEqual(st["status"]["phase"], "Failed")
        pp = pods(st)
        self.assertEqual(pp["ok"]["phase"], "Succeeded")
        self.assertEqual(pp["boom"]["phase"], "Failed")
        self.assertIn("exit code 3", pp["boom"]["message"])
        self.assertEqual(pp["boom"]["outputs"].get("exitCode"), "3")
        self.assertNotIn("never", pp)  # later groups never run
        self.assertIn("exiting with 3", self.c.logs(name, "boom"))

    def test_step_with_a_large_log(self):
        # 8 MiB of output: more than the agent sends in one tick, so the
        # report waits for the log and goes out once it is all sent.
        path = self.write("loud.yaml", LOUD)
        name = self.c.submit(path)
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded")
        lines = self.c.logs(name).splitlines()
        self.assertEqual(len(lines), 80000)
        body = [line.split(": ", 1)[1] for line in lines]
        self.assertEqual(body[0], "line 1 " + "x" * 96)
        self.assertEqual(body[-1], "line 80000 " + "x" * 96)
        self.assertEqual(body, ["line %d %s" % (i, "x" * 96)
                                for i in range(1, 80001)])

    def test_bad_yaml_stores_nothing(self):
        before = self.c.cli("list", "-o", "name").stdout
        path = self.write("bad.yaml",
                          "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
                          "spec:\n  entrypoint: x\n  templates: [\n")
        p = self.c.cli("submit", path, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stderr, r"bad\.yaml:\d+:\d+: ")
        # An unknown template reference is refused with its name.
        path = self.write("unknown.yaml", FAILING.replace(
            "template: run\n        arguments: {parameters: [{name: code, "
            "value: \"3\"}]}", "template: no-such-template"))
        p = self.c.cli("submit", path, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no-such-template", p.stderr)
        self.assertEqual(self.c.cli("list", "-o", "name").stdout, before)

    def test_stop_terminate_delete(self):
        path = self.write("sleepy.yaml", SLEEPY)
        a = self.c.submit(path)
        b = self.c.submit(path)
        deadline = time.time() + 20
        while time.time() < deadline:
            if all(self.c.get(x)["status"].get("phase") == "Running" and
                   "started" in self.c.logs(x) for x in (a, b)):
                break
            time.sleep(0.3)
        self.c.cli("stop", a)
        self.c.cli("terminate", b)
        sa, sb = self.c.wait(a, 30), self.c.wait(b, 30)
        self.assertEqual(sa["status"]["phase"], "Failed")
        self.assertIn("Stop", sa["status"].get("message", ""))
        self.assertEqual(sb["status"]["phase"], "Failed")
        self.assertIn("Terminate", sb["status"].get("message", ""))
        self.assertNotIn("finished", self.c.logs(a))
        self.c.cli("delete", a)
        self.assertNotIn(a, self.c.cli("list", "-o", "name").stdout)
        p = self.c.cli("get", a, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not found", p.stderr)

    def test_nodes(self):
        nodes = {n["name"]: n for n in self.c.nodes()}
        self.assertEqual(set(nodes), {"agent-1", "agent-2"})
        for n in nodes.values():
            self.assertEqual(n["state"], "Ready")
            self.assertGreaterEqual(n["pus"], 1)
            self.assertGreater(n["memoryBytes"], 0)
        text = self.c.cli("nodes").stdout
        self.assertIn("agent-1", text)
        self.assertIn("PUS", text)

    def test_garbage_on_both_routers(self):
        tool = os.environ.get("COULER_GARBAGE")
        if not tool:
            self.skipTest("zmq_garbage not built")
        before = self.c.stats()
        for ep, ident in ((self.c.coord_ep, None), (self.c.agent_ep, "x")):
            argv = [tool, ep] + ([ident] if ident else [])
            out = subprocess.run(argv, capture_output=True, text=True,
                                 timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
        time.sleep(0.5)
        after = self.c.stats()
        self.assertGreater(after["bad_client_frames"],
                           before["bad_client_frames"] + 40)
        self.assertGreater(after["bad_agent_frames"],
                           before["bad_agent_frames"] + 40)
        self.assertTrue(self.c.coord.alive())
        name = self.c.submit(HELLO)
        self.assertEqual(self.c.wait(name)["status"]["phase"], "Succeeded")


if __name__ == "__main__":
    harness.main()

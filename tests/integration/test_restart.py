"""Durability: the coordinator is killed with SIGKILL while a workflow
runs, restarted, and the workflow completes with no step run twice; an
agent killed mid-step has its step run again on the other agent."""
import os
import time

import harness
from harness import ClusterTest, pods

# Each step appends its name to a shared file, so a step that ran twice
# shows up twice.
CHAIN = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: chain-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: one, template: work, arguments: {parameters: [{name: n, value: one}]}}
      - {name: two, template: work, dependencies: [one], arguments: {parameters: [{name: n, value: two}]}}
      - {name: three, template: work, dependencies: [one], arguments: {parameters: [{name: n, value: three}]}}
      - {name: four, template: work, dependencies: [two, three], arguments: {parameters: [{name: n, value: four}]}}
  - name: work
    inputs: {parameters: [{name: n}]}
    container:
      image: alpine
      command: [sh, -c, "echo {{inputs.parameters.n}} >> MARKS; echo ran {{inputs.parameters.n}}; sleep 2"]
"""


class TestRestart(ClusterTest):
    agents = 2

    def marks(self, path):
        with open(path) as f:
            return [x.strip() for x in f if x.strip()]

    def test_coordinator_killed_mid_workflow(self):
        marks = os.path.join(self.c.shared, "marks-coord")
        path = self.write("chain.yaml", CHAIN.replace("MARKS", marks))
        name = self.c.submit(path)
        # Wait until the middle of the run: 'one' done, two/three running.
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(marks) and len(self.marks(marks)) >= 2:
                break
            time.sleep(0.1)
        self.c.restart_coord(kill9=True)
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded")
        self.assertEqual(sorted(self.marks(marks)),
                         ["four", "one", "three", "two"])
        for n in pods(st).values():
            self.assertEqual(n["phase"], "Succeeded")
        self.assertIn("ran four", self.c.logs(name, "four"))
        self.assertIn("ran one", self.c.logs(name, "one"))
        # Everything accepted before the kill is still listed.
        self.assertIn(name, self.c.cli("list").stdout)

    def test_coordinator_killed_twice_and_old_runs_kept(self):
        marks = os.path.join(self.c.shared, "marks-twice")
        path = self.write("chain2.yaml", CHAIN.replace("MARKS", marks))
        done = self.c.submit(path)
        self.assertEqual(self.c.wait(done, 60)["status"]["phase"],
                         "Succeeded")
        os.unlink(marks)
        name = self.c.submit(path)
        for _ in range(2):
            time.sleep(1.5)
            self.c.restart_coord(kill9=True)
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded")
        self.assertEqual(sorted(self.marks(marks)),
                         ["four", "one", "three", "two"])
        self.assertEqual(self.c.get(done)["status"]["phase"], "Succeeded")

    def test_agent_killed_mid_step(self):
        marks = os.path.join(self.c.shared, "marks-agent")
        slow = CHAIN.replace("MARKS", marks).replace("sleep 2", "sleep 4")
        path = self.write("chain3.yaml", slow)
        name = self.c.submit(path)
        victim = None
        deadline = time.time() + 30
        while time.time() < deadline and victim is None:
            for n in pods(self.c.get(name)).values():
                if n["phase"] == "Running" and n.get("hostNodeName"):
                    victim = n["hostNodeName"]
            time.sleep(0.1)
        self.assertIsNotNone(victim)
        agent = [a for a in self.c.agents if a.name == victim][0]
        agent.kill9()
        st = self.c.wait(name, 90)
        self.assertEqual(st["status"]["phase"], "Succeeded")
        hosts = {n["hostNodeName"] for n in pods(st).values()}
        survivor = ({"agent-1", "agent-2"} - {victim}).pop()
        self.assertIn(survivor, hosts)
        lost = [n for n in pods(st).values() if "lost" in n.get("message", "")]
        self.assertTrue(lost, "a rescheduled step says why")
        agent.start()  # back for the other tests
        self.c.wait_nodes(2)


if __name__ == "__main__":
    harness.main()

"""Durability: the coordinator is killed with SIGKILL while a workflow
runs, restarted, and the workflow completes with no step run twice; an
agent killed mid-step has its step run again on the other agent; a
coordinator whose disk fills up refuses work with the reason and takes it
again once space is freed."""
import errno
import os
import subprocess
import tempfile
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


HELLO = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: disk-
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: alpine, command: [echo, hello]}
"""


class TestFullDisk(harness.unittest.TestCase):
    """The coordinator's state store on a small tmpfs that is filled up:
    a submit is refused with the reason, the daemon lives on, and takes
    work again as soon as space is freed."""

    def fill(self, path):
        chunk = b"\0" * 65536
        with open(path, "wb", buffering=0) as f:
            while True:
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        return
                    raise

    def test_full_disk_refuses_then_recovers(self):
        mnt = tempfile.mkdtemp(prefix="couler-it-disk-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs",
                        mnt], check=True)
        c = None
        failed = True
        try:
            c = harness.Cluster(agents=1, coord_args=[
                "--data-dir", os.path.join(mnt, "coord")])
            path = os.path.join(c.dir, "hello.yaml")
            with open(path, "w") as f:
                f.write(HELLO)
            first = c.submit(path)
            self.assertEqual(c.wait(first, 60)["status"]["phase"],
                             "Succeeded")

            filler = os.path.join(mnt, "filler")
            self.fill(filler)
            p = c.cli("submit", path, "-o", "name", check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("the disk of %s is full" %
                          os.path.join(mnt, "coord", "state"), p.stderr)
            self.assertTrue(c.coord.alive())
            self.assertIn(first, c.cli("list").stdout)

            self.assertIn("is full", c.coord.log())

            os.unlink(filler)
            second = c.submit(path)
            self.assertEqual(c.wait(second, 60)["status"]["phase"],
                             "Succeeded")

            # What was accepted survives a restart; nothing else appears.
            c.restart_coord(kill9=True)
            c.wait_nodes(1)
            names = [line.split()[0] for line in
                     c.cli("list").stdout.splitlines()[1:] if line.strip()]
            self.assertEqual(sorted(names), sorted([first, second]))
            for n in (first, second):
                self.assertEqual(c.get(n)["status"]["phase"], "Succeeded")
            failed = False
        finally:
            reports = c.close(failed=failed) if c else []
            subprocess.run(["umount", mnt], check=False)
            os.rmdir(mnt)
        self.assertEqual(reports, [])


if __name__ == "__main__":
    harness.main()

"""The CLI verbs beyond submit/get: lint, --dry-run, --entrypoint,
--parameter-file, logs -f, retry, resubmit --memoized, wait, @latest."""
import json
import os
import subprocess
import time

import harness
from harness import ClusterTest, pods

FLAKY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: flaky-
spec:
  entrypoint: main
  arguments:
    parameters: [{name: who, value: world}]
  templates:
  - name: main
    steps:
    - - name: first
        template: say
    - - name: flaky
        template: flaky
    - - name: last
        template: say
  - name: other
    container: {image: alpine, command: [echo, "other entrypoint {{workflow.parameters.who}}"]}
  - name: say
    container: {image: alpine, command: [sh, -c, "echo hello {{workflow.parameters.who}} >> MARKS/say; echo hello {{workflow.parameters.who}}"]}
  - name: flaky
    container:
      image: alpine
      command: [sh, -c, "if [ -e MARKS/fixed ]; then echo fixed; else echo broken; exit 7; fi"]
"""

FOLLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: follow-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "for i in 1 2 3; do echo line $i; sleep 0.5; done"]
"""


NUL = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: nul-}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "printf 'before\\\\000after\\\\n'"]
"""


class TestCli(ClusterTest):
    agents = 1

    def setUp(self):
        self.marks = os.path.join(self.c.shared, "cli-%s" % self.id().split(".")[-1])
        os.makedirs(self.marks, exist_ok=True)
        self.path = self.write("flaky.yaml", FLAKY.replace("MARKS", self.marks))

    def test_lint(self):
        ok = self.c.cli("lint", self.path)
        self.assertIn("no linting errors", ok.stdout)
        bad = self.write("bad.yaml", FLAKY.replace("template: flaky",
                                                   "template: nope"))
        p = self.c.cli("lint", bad, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("nope", p.stderr)
        # A directory: every YAML in it.
        corpus = os.path.join(harness.SRC, "tests", "data", "argo-examples")
        self.assertEqual(self.c.cli("lint", corpus).returncode, 0)

    def test_dry_run_entrypoint_parameter_file(self):
        before = self.c.cli("list", "-o", "name").stdout
        dry = self.c.cli("submit", self.path, "--dry-run", "-o", "json")
        self.assertEqual(json.loads(dry.stdout)["status"]["phase"], "Pending")
        self.assertEqual(self.c.cli("list", "-o", "name").stdout, before)
        pf = self.write("params.yaml", "who: file\n")
        p = self.c.cli("submit", self.path, "--entrypoint", "other", "-f", pf,
                       "--wait")
        name = p.stdout.split()[0]
        st = self.c.get(name)
        self.assertEqual(list(pods(st).values())[0]["outputs"]["result"],
                         "other entrypoint file")
        # @latest names the newest workflow.
        self.assertEqual(self.c.get("@latest")["metadata"]["name"], name)

    def test_logs_follow(self):
        name = self.c.submit(self.write("follow.yaml", FOLLOW))
        p = self.c.cli("logs", name, "-f", timeout=60)
        self.assertEqual([l for l in p.stdout.splitlines() if "line" in l],
                         ["%s: line %d" % (name, i) for i in (1, 2, 3)])
        # -f returned because the workflow ended.
        self.assertEqual(self.c.get(name)["status"]["phase"], "Succeeded")

    def test_logs_keep_bytes_after_a_nul(self):
        name = self.c.submit(self.write("nul.yaml", NUL))
        self.c.wait(name, 60)
        out = self.c.cli("logs", name).stdout
        self.assertIn("before\x00after", out)

    def test_retry_keeps_what_succeeded(self):
        p = self.c.cli("submit", self.path, "--wait", check=False)
        self.assertEqual(p.returncode, 1)
        name = p.stdout.split()[0]
        st = self.c.get(name)
        self.assertEqual(pods(st)["flaky"]["phase"], "Failed")
        open(os.path.join(self.marks, "fixed"), "w").close()
        r = self.c.cli("retry", name, "--wait")
        self.assertIn("retried", r.stdout)
        st = self.c.wait(name)
        self.assertEqual(st["status"]["phase"], "Succeeded")
        self.assertEqual(pods(st)["flaky"]["outputs"]["result"], "fixed")
        with open(os.path.join(self.marks, "say")) as f:
            # first ran once (kept), last ran once (after the retry)
            self.assertEqual(f.read().count("hello"), 2)
        # Only a Failed or Error workflow can be retried.
        q = self.c.cli("retry", name, check=False)
        self.assertNotEqual(q.returncode, 0)
        self.assertIn("Succeeded", q.stderr)

    def test_resubmit_memoized(self):
        p = self.c.cli("submit", self.path, "--wait", check=False)
        name = p.stdout.split()[0]
        open(os.path.join(self.marks, "fixed"), "w").close()
        r = self.c.cli("resubmit", name, "--memoized", "-o", "name")
        new = r.stdout.strip().splitlines()[-1]
        self.assertTrue(new.startswith(name + "-"), new)
        st = self.c.wait(new)
        self.assertEqual(st["status"]["phase"], "Succeeded")
        first = pods(st)["first"]
        self.assertIn("original pod", first.get("message", ""))
        with open(os.path.join(self.marks, "say")) as f:
            # first: once in the original run only; last: once, in the new
            self.assertEqual(f.read().count("hello"), 2)

    def test_wait_exit_codes_and_unknown_names(self):
        p = self.c.cli("wait", "no-such-workflow", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not found", p.stderr)
        p = self.c.cli("get", "no-such-workflow", check=False)
        self.assertIn("not found", p.stderr)
        env = dict(os.environ, COULER_COORD="tcp://127.0.0.1:1",
                   COULER_TIMEOUT_MS="500")
        q = subprocess.run([harness.COORD, "list"], capture_output=True,
                           text=True, env=env, timeout=30)
        self.assertNotEqual(q.returncode, 0)
        self.assertIn("no answer from the coordinator", q.stderr)


if __name__ == "__main__":
    harness.main()

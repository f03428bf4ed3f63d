"""Placement on real daemons: a coordinator and three agents pretending to
be a DGX-2, an AWS g4dn.metal and the CPU-only quartz node (hwloc XML
exports). Every step's environment and CPU affinity are checked against the
binding the coordinator reports for it."""
import os
import re

import harness
from harness import ClusterTest, pods

TOPO = os.path.join(harness.SRC, "tests", "data", "topologies")
MACHINES = [
    ("dgx2", "dgx2-2xXeon8174-16xV100-nvswitch.xml"),
    ("g4dn", "aws-g4dn-metal-2xXeon8259CL-8xT4.xml"),
    ("quartz", "quartz-2xE5-2695v4-cpuonly.xml"),
]

SHOW = ("env | grep -E '^(COULER_|CUDA_|OMP_|WORLD_|RANK|NODE_RANK|LOCAL_|"
        "MASTER_|GROUP_)' | sort; grep Cpus_allowed_list /proc/self/status")

MIXED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: mixed-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: eight-gpus, template: eight-gpus}
      - {name: one-t4, template: one-t4}
      - {name: cpu-only, template: cpu-only}
      - {name: auto, template: auto}
  - name: eight-gpus
    container:
      image: pytorch
      command: [sh, -c, "SHOW"]
      resources:
        limits: {nvidia.com/gpu: 8, cpu: "1"}
  - name: one-t4
    nodeSelector: {machine: g4dn}
    container:
      image: pytorch
      command: [sh, -c, "SHOW"]
      resources:
        limits: {nvidia.com/gpu: 1, cpu: "4", memory: 8Gi}
  - name: cpu-only
    nodeSelector: {machine: quartz}
    container:
      image: python
      command: [sh, -c, "SHOW"]
      resources:
        requests: {cpu: "8", memory: 16Gi}
  - name: auto
    metadata:
      annotations: {couler.io/parallelism: auto}
    nodeSelector: {machine: g4dn}
    container:
      image: pytorch
      command: [sh, -c, "SHOW"]
      resources:
        limits: {nvidia.com/gpu: 1}
""".replace("SHOW", SHOW.replace('"', '\\\\"'))

OOM = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: oom-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: hog
        template: hog
        continueOn: {failed: true}
    - - name: after
        template: after
  - name: hog
    nodeSelector: {machine: quartz}
    container:
      image: python
      command: [python3, -c, "b = bytearray(400 * 1024 * 1024); print(len(b))"]
      resources:
        limits: {memory: 48Mi, cpu: "1"}
  - name: after
    nodeSelector: {machine: quartz}
    container:
      image: alpine
      command: [echo, "the node lives on"]
"""

GANG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: gang-
spec:
  entrypoint: train
  templates:
  - name: train
    metadata:
      annotations: {couler.io/nodes: "2"}
    container:
      image: pytorch
      command: [sh, -c, "SHOW; echo rank $RANK of $WORLD_SIZE done"]
      resources:
        limits: {cpu: "1"}
""".replace("SHOW", SHOW.replace('"', '\\\\"'))

GANG_RETRY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: gangretry-
spec:
  entrypoint: train
  templates:
  - name: train
    metadata:
      annotations: {couler.io/nodes: "2"}
    retryStrategy: {limit: 2}
    container:
      image: pytorch
      command: [sh, -c, "if [ $RANK = 1 ] && [ ! -e MARK ]; then touch MARK; echo rank 1 fails; exit 3; fi; if [ $RANK = 0 ] && [ ! -e MARK.0 ]; then touch MARK.0; sleep 30; fi; echo rank $RANK ok"]
      resources:
        limits: {cpu: "1"}
"""

NEVER = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: never-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: pytorch
      command: [echo, hi]
      resources:
        limits: {nvidia.com/gpu: 64}
"""

# Two steps that each need every GPU of the DGX-2: one runs until the test
# lets it go, the other waits for the GPUs and says so.
QUEUED = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: queued-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: all-gpus}
      - {name: b, template: all-gpus}
  - name: all-gpus
    container:
      image: pytorch
      command: [sh, -c, "while [ ! -e GO ]; do sleep 0.1; done; echo done"]
      resources:
        limits: {nvidia.com/gpu: 16, cpu: "1"}
"""


def cpu_list(text):
    """'0-3,8' -> {0, 1, 2, 3, 8}"""
    out = set()
    for part in filter(None, text.strip().split(",")):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def real_cpus():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return cpu_list(line.split(":", 1)[1])
    return set()


def env_of(log_text, step):
    env = {}
    for line in log_text.splitlines():
        if not line.startswith(step + ": "):
            continue
        body = line[len(step) + 2:]
        if body.startswith("Cpus_allowed_list:"):
            env["Cpus_allowed_list"] = body.split(":", 1)[1].strip()
        elif "=" in body:
            k, v = body.split("=", 1)
            env[k] = v
    return env


class TestPlacement(ClusterTest):
    agents = 3
    agent_args = [["--topology", os.path.join(TOPO, f), "--label",
                   "machine=" + m] for m, f in MACHINES]

    def node_of(self, agent_name):
        return {"agent-1": "dgx2", "agent-2": "g4dn",
                "agent-3": "quartz"}[agent_name]

    def check_step(self, st, step, logs):
        n = pods(st)[step]
        b = n["binding"]
        env = env_of(logs, step)
        self.assertEqual(env["COULER_CPUS"], b["cpus"], env)
        gpus = ",".join(str(g["index"]) for g in b["gpus"])
        self.assertEqual(env.get("COULER_GPUS", ""), gpus)
        if b["gpus"]:
            self.assertEqual(env["CUDA_VISIBLE_DEVICES"], gpus)
        # Affinity: the binding, as far as this machine has those CPUs.
        want = cpu_list(b["cpus"]) & real_cpus()
        if want:
            self.assertEqual(cpu_list(env["Cpus_allowed_list"]), want)
        return n, b, env

    def test_nodes_show_the_pretended_machines(self):
        nodes = {n["name"]: n for n in self.c.nodes()}
        self.assertEqual(nodes["agent-1"]["gpus"], 16)
        self.assertEqual(nodes["agent-2"]["gpus"], 8)
        self.assertEqual(nodes["agent-2"]["pus"], 96)
        self.assertEqual(nodes["agent-3"]["gpus"], 0)
        self.assertEqual(nodes["agent-3"]["cores"], 36)
        for n in nodes.values():
            self.assertTrue(n["pretended"])
        wide = self.c.cli("nodes", "-o", "wide").stdout
        self.assertIn("Tesla T4", wide)
        self.assertIn("NUMA", wide)

    def test_mixed_workflow(self):
        name = self.c.submit(self.write("mixed.yaml", MIXED))
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         self.c.logs(name))
        logs = self.c.logs(name)
        n, b, env = self.check_step(st, "eight-gpus", logs)
        self.assertEqual(self.node_of(n["hostNodeName"]), "dgx2")
        self.assertEqual(len(b["gpus"]), 8)
        # One socket's GPUs, with cores of that socket (DGX-2: GPUs 0-7 on
        # package 0, 8-15 on package 1).
        idx = sorted(g["index"] for g in b["gpus"])
        self.assertIn(idx, [list(range(8)), list(range(8, 16))])
        self.assertEqual(b["fit"], "numa")

        n, b, env = self.check_step(st, "one-t4", logs)
        self.assertEqual(self.node_of(n["hostNodeName"]), "g4dn")
        self.assertEqual(len(b["gpus"]), 1)
        self.assertEqual(len(cpu_list(b["cpus"])), 8)  # 4 cores, SMT2
        # The T4's socket: GPUs 0-3 sit on package 0 (PUs 0-23,48-71).
        socket0 = set(range(0, 24)) | set(range(48, 72))
        on0 = b["gpus"][0]["index"] < 4
        self.assertEqual(cpu_list(b["cpus"]) <= socket0, on0)
        self.assertEqual(env["OMP_NUM_THREADS"], "4")

        n, b, env = self.check_step(st, "cpu-only", logs)
        self.assertEqual(self.node_of(n["hostNodeName"]), "quartz")
        self.assertEqual(len(cpu_list(b["cpus"])), 8)
        self.assertEqual(b["gpus"], [])
        self.assertEqual(env["CUDA_VISIBLE_DEVICES"], "")

        n, b, env = self.check_step(st, "auto", logs)
        self.assertGreater(int(env["COULER_PARALLELISM"]), 1)
        self.assertEqual(int(env["COULER_PARALLELISM"]), len(b["gpus"]))

    def test_memory_hog_is_oom_killed_and_the_agent_lives(self):
        name = self.c.submit(self.write("oom.yaml", OOM))
        st = self.c.wait(name, 60)
        p = pods(st)
        self.assertEqual(p["hog"]["phase"], "Failed")
        self.assertIn("OOMKilled", p["hog"]["message"])
        self.assertEqual(p["after"]["phase"], "Succeeded")
        self.assertEqual(p["after"]["outputs"]["result"], "the node lives on")
        self.assertTrue(all(a.alive() for a in self.c.agents))

    def test_gang_of_two(self):
        name = self.c.submit(self.write("gang.yaml", GANG))
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         self.c.logs(name))
        logs = self.c.logs(name)
        ranks = {}
        for k in (0, 1):
            env = env_of(logs, "%s (rank %d)" % (name, k))
            self.assertEqual(env["RANK"], str(k))
            self.assertEqual(env["WORLD_SIZE"], "2")
            self.assertEqual(env["LOCAL_RANK"], "0")
            ranks[k] = env
        self.assertEqual(ranks[0]["MASTER_ADDR"], ranks[1]["MASTER_ADDR"])
        self.assertEqual(ranks[0]["MASTER_PORT"], ranks[1]["MASTER_PORT"])
        self.assertRegex(ranks[0]["MASTER_PORT"], r"^\d+$")
        self.assertIn("rank 0 of 2 done", logs)
        self.assertIn("rank 1 of 2 done", logs)

    def test_one_failing_rank_retries_the_whole_gang(self):
        mark = os.path.join(self.c.shared, "gang-mark")
        name = self.c.submit(self.write("gangretry.yaml",
                                        GANG_RETRY.replace("MARK", mark)))
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         self.c.logs(name))
        attempts = sorted(p["displayName"] for p in pods(st).values())
        self.assertEqual(len(attempts), 2, attempts)
        first = [p for p in pods(st).values() if p["phase"] == "Failed"]
        self.assertEqual(len(first), 1)
        self.assertIn("rank 1 of 2", first[0]["message"])
        logs = self.c.logs(name)
        self.assertIn("rank 1 fails", logs)
        # Rank 0 of the failed attempt was stopped, not waited for.
        self.assertEqual(logs.count("rank 0 ok"), 1)
        self.assertEqual(logs.count("rank 1 ok"), 1)

    def test_never_fits_is_refused_with_the_reason(self):
        name = self.c.submit(self.write("never.yaml", NEVER))
        st = self.c.wait(name, 30)
        self.assertEqual(st["status"]["phase"], "Error")
        msg = list(pods(st).values())[0]["message"]
        self.assertIn("64 nvidia GPUs", msg)
        self.assertIn("16", msg)

    def test_a_waiting_step_says_what_it_waits_for(self):
        go = os.path.join(self.c.shared, "queued-go")
        name = self.c.submit(self.write("queued.yaml",
                                        QUEUED.replace("GO", go)))
        deadline = harness.time.monotonic() + 30
        waiting = None
        while waiting is None and harness.time.monotonic() < deadline:
            st = self.c.get(name)
            p = pods(st)
            running = [n for n in p.values() if n["phase"] == "Running"]
            msgs = [n.get("message", "") for n in p.values()
                    if n["phase"] == "Pending"]
            if running and any("Waiting for resources" in m for m in msgs):
                waiting = [m for m in msgs if m][0]
            else:
                harness.time.sleep(0.2)
        self.assertIsNotNone(waiting, self.c.get(name))
        self.assertIn("16 free nvidia GPUs", waiting)
        tree = self.c.cli("get", name).stdout
        self.assertIn("Waiting for resources", tree)
        with open(go, "w"):
            pass
        st = self.c.wait(name, 60)
        self.assertEqual(st["status"]["phase"], "Succeeded",
                         self.c.logs(name))
        for n in pods(st).values():
            self.assertEqual(self.node_of(n["hostNodeName"]), "dgx2")
            self.assertNotIn("Waiting", n.get("message", ""))


if __name__ == "__main__":
    harness.main()

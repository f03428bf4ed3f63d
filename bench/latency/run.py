#!/usr/bin/env python3
"""bench/latency: scheduling latency and throughput of the embedded cluster.

Measures, on `couler-coord up` (a coordinator with an embedded agent):
  (a) submit -> the first step's process starts        (p50, p99 over runs)
  (b) a step's exit -> its successor's process starts  (p50, p99 over runs)
      both from timestamps the step processes write themselves;
  (c) the makespan of 1,000 independent `true` steps, against `make -j N`
      running the same 1,000 commands in the same run (N = the agent's
      concurrent steps, the machine's PU count by default), as a ratio.
The last line printed is one JSON object with the figures.

Usage: bench/latency/run.py [--runs 100] [--steps 1000] [--bin build/bin]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CHAIN = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: chain-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: first
        template: stamp
        arguments: {parameters: [{name: tag, value: first}]}
    - - name: second
        template: stamp
        arguments: {parameters: [{name: tag, value: second}]}
  - name: stamp
    inputs: {parameters: [{name: tag}]}
    container:
      image: alpine
      command: [sh, -c, "echo start $(date +%s%N) >> DIR/{{workflow.name}}.{{inputs.parameters.tag}}; echo end $(date +%s%N) >> DIR/{{workflow.name}}.{{inputs.parameters.tag}}"]
"""

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
    - - name: t
        template: t
        withSequence: {count: "STEPS"}
  - name: t
    container:
      image: alpine
      command: ["true"]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--bin", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build",
        "bin"))
    args = ap.parse_args()
    coord_bin = os.path.join(args.bin, "couler-coord")
    tmp = tempfile.mkdtemp(prefix="couler-bench-")
    # Steps see a private /tmp; the stamps go to a host directory shared
    # into every step's view.
    stamps = tempfile.mkdtemp(prefix="couler-bench-stamps-", dir="/var/tmp")
    port = free_port()
    ep = "tcp://127.0.0.1:%d" % port
    env = dict(os.environ, COULER_COORD=ep, COULER_LOG="warn")
    log = open(os.path.join(tmp, "up.log"), "wb")
    up = subprocess.Popen([coord_bin, "up", "--data-dir",
                           os.path.join(tmp, "data"), "--listen", ep,
                           "--agent-listen", "tcp://127.0.0.1:%d" % free_port(),
                           "--bind", stamps],
                          stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        return run(args, coord_bin, tmp, stamps, env)
    finally:
        os.kill(up.pid, signal.SIGTERM)
        try:
            up.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(up.pid, signal.SIGKILL)
            up.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(stamps, ignore_errors=True)


def cli(coord_bin, env, *a):
    return subprocess.run([coord_bin] + list(a), capture_output=True,
                          text=True, env=env)


def run(args, coord_bin, tmp, stamps, env):
    for _ in range(100):
        if " Ready " in cli(coord_bin, env, "nodes").stdout:
            break
        time.sleep(0.1)
    nodes = json.loads(cli(coord_bin, env, "nodes", "-o", "json").stdout)
    width = max(1, nodes[0]["pus"])
    chain = os.path.join(tmp, "chain.yaml")
    with open(chain, "w") as f:
        f.write(CHAIN.replace("DIR", stamps))

    submit_to_start, exit_to_next = [], []
    for i in range(args.runs):
        t0 = time.time_ns()
        p = cli(coord_bin, env, "submit", chain, "-o", "name", "--wait")
        name = p.stdout.split()[0] if p.stdout else ""
        if p.returncode != 0:
            print("run %d failed: %s %s" % (i, p.stdout, p.stderr),
                  file=sys.stderr)
            return 1

        def read(tag):
            with open(os.path.join(stamps, "%s.%s" % (name, tag))) as f:
                d = dict(line.split() for line in f)
            return int(d["start"]), int(d["end"])
        s1, e1 = read("first")
        s2, _ = read("second")
        submit_to_start.append((s1 - t0) / 1e6)
        exit_to_next.append((s2 - e1) / 1e6)

    wide = os.path.join(tmp, "wide.yaml")
    with open(wide, "w") as f:
        f.write(WIDE.replace("STEPS", str(args.steps)))
    t0 = time.time()
    p = cli(coord_bin, env, "submit", wide, "--wait")
    couler_s = time.time() - t0
    if p.returncode != 0:
        print("wide run failed: %s %s" % (p.stdout, p.stderr),
              file=sys.stderr)
        return 1

    mk = os.path.join(tmp, "Makefile")
    with open(mk, "w") as f:
        f.write("all: %s\n" % " ".join("t%d" % i for i in range(args.steps)))
        for i in range(args.steps):
            f.write("t%d:\n\t@true\n" % i)
        f.write(".PHONY: all %s\n" % " ".join("t%d" % i
                                               for i in range(args.steps)))
    t0 = time.time()
    subprocess.run(["make", "-s", "-j%d" % width, "-f", mk], check=True)
    make_s = time.time() - t0

    res = {
        "runs": args.runs,
        "submit_to_first_start_ms_p50": round(pct(submit_to_start, 50), 2),
        "submit_to_first_start_ms_p99": round(pct(submit_to_start, 99), 2),
        "exit_to_successor_start_ms_p50": round(pct(exit_to_next, 50), 2),
        "exit_to_successor_start_ms_p99": round(pct(exit_to_next, 99), 2),
        "steps": args.steps,
        "parallel": width,
        "couler_makespan_s": round(couler_s, 3),
        "make_makespan_s": round(make_s, 3),
        "makespan_ratio_vs_make": round(couler_s / make_s, 2),
    }
    print("%-40s %10s %10s" % ("latency (ms)", "p50", "p99"))
    print("%-40s %10.2f %10.2f" % ("submit -> first step starts",
                                    res["submit_to_first_start_ms_p50"],
                                    res["submit_to_first_start_ms_p99"]))
    print("%-40s %10.2f %10.2f" % ("step exit -> successor starts",
                                    res["exit_to_successor_start_ms_p50"],
                                    res["exit_to_successor_start_ms_p99"]))
    print("%d x true, %d at a time: couler %.2fs, make -j%d %.2fs, ratio "
          "%.2f" % (args.steps, width, couler_s, width, make_s,
                    res["makespan_ratio_vs_make"]))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

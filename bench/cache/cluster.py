#!/usr/bin/env python3
"""bench/cache/cluster.py: the step-output cache through real daemons.

Starts a coordinator (--cache-policy auto) and two agents on 127.0.0.1 and
measures, side by side with a baseline in the same run:
  1. a cache lookup through the coordinator, owner round trip included
     (bench_cache_lookup: p50/p99), goal p99 <= 1 ms;
  2. a fully cached 1,000-step workflow re-run against its first run, goal
     <= 2% of the first run's time;
  3. fetching a 1 GiB artifact between the two agents against a plain TCP
     copy of a file of the same size over loopback, goal >= 0.8 of its
     throughput.
Entries written per second and the local get latency are bench_cache's
(build/bench/cache/bench_cache). The last line is one JSON object.

Usage: bench/cache/cluster.py [--steps 1000] [--mib 1024] [--bin build/bin]
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

WIDE = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: wide-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: t
        template: t
        withSequence: {count: "STEPS"}
        arguments: {parameters: [{name: i, value: "{{item}}"}]}
  - name: t
    inputs: {parameters: [{name: i}]}
    container: {image: alpine, command: [echo, "item {{inputs.parameters.i}}"]}
"""

BIG = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: big-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: produce, template: produce}
    - - name: consume
        template: consume
        arguments: {artifacts: [{name: data, from: "{{steps.produce.outputs.artifacts.data}}"}]}
  - name: produce
    nodeSelector: {kubernetes.io/hostname: agent-1}
    container:
      image: alpine
      command: [sh, -c, "head -c MIBM /dev/urandom > /tmp/data; echo TOKEN >> /tmp/data"]
    outputs: {artifacts: [{name: data, path: /tmp/data}]}
  - name: consume
    nodeSelector: {kubernetes.io/hostname: agent-2}
    inputs: {artifacts: [{name: data, path: /in/data}]}
    container: {image: alpine, command: [sh, -c, "ls -l /in/data | cut -d' ' -f5"]}
"""


def tcp_copy(path):
    """Seconds to send `path` over a loopback TCP connection (sendfile)
    and receive it into a file."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    out = path + ".copy"
    got = []

    def recv():
        conn, _ = srv.accept()
        n = 0
        with open(out, "wb") as f:
            while True:
                b = conn.recv(1 << 20)
                if not b:
                    break
                f.write(b)
                n += len(b)
        conn.close()
        got.append(n)

    t = threading.Thread(target=recv)
    t.start()
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", port)) as c, \
            open(path, "rb") as f:
        c.sendfile(f)
    t.join()
    dt = time.time() - t0
    srv.close()
    os.unlink(out)
    return dt, got[0]


def main():
    import harness
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    if args.bin:
        harness.BIN = args.bin
        harness.COORD = os.path.join(args.bin, "couler-coord")
        harness.AGENT = os.path.join(args.bin, "couler-agent")
    lookup_bin = os.path.join(os.path.dirname(harness.COORD), "..", "bench",
                              "cache", "bench_cache_lookup")
    os.environ["COULER_LOG"] = "info"
    c = harness.Cluster(agents=2, coord_args=("--cache-policy", "auto"),
                        agent_timeout_ms=30000)
    res = {}
    try:
        # 2. a 1,000-step workflow, then again: every step a hit.
        wide = os.path.join(c.dir, "wide.yaml")
        with open(wide, "w") as f:
            f.write(WIDE.replace("STEPS", str(args.steps)))
        t0 = time.time()
        first = c.submit(wide)
        st = c.wait(first, 3600)
        if st["status"]["phase"] != "Succeeded":
            raise RuntimeError("first run: %s" % st["status"].get("message"))
        t_first = time.time() - t0
        before = c.stats()["steps_assigned"]
        t0 = time.time()
        second = c.submit(wide)
        st = c.wait(second, 3600)
        t_second = time.time() - t0
        assigned = c.stats()["steps_assigned"] - before
        hits = sum(1 for n in harness.pods(st).values()
                   if (n.get("memoizationStatus") or {}).get("hit"))
        res.update(steps=args.steps, first_run_s=round(t_first, 3),
                   cached_run_s=round(t_second, 3),
                   cached_ratio=round(t_second / t_first, 4),
                   cached_hits=hits, cached_steps_started=assigned)
        print("%d-step workflow: first run %.2fs, cached re-run %.2fs "
              "(%.1f%%), %d hits, %d steps started" %
              (args.steps, t_first, t_second, 100 * t_second / t_first, hits,
               assigned))

        # 1. lookups through the coordinator.
        key = next(iter(harness.pods(st).values()))["memoizationStatus"]["key"]
        p = subprocess.run([lookup_bin, c.coord_ep, key, str(args.lookups)],
                           capture_output=True, text=True)
        print(p.stdout.splitlines()[0] if p.stdout else p.stderr)
        res.update(json.loads(p.stdout.splitlines()[-1]))

        # 3. a big artifact between the two agents, against TCP.
        big = os.path.join(c.dir, "big.yaml")
        with open(big, "w") as f:
            f.write(BIG.replace("MIB", str(args.mib)).replace(
                "TOKEN", str(time.time())))
        name = c.submit(big)
        st = c.wait(name, 3600)
        if st["status"]["phase"] != "Succeeded":
            raise RuntimeError(c.logs(name))
        log = [a for a in c.agents if a.name == "agent-2"][0].log()
        m = re.findall(r"fetched artifact \S+ \((\d+) bytes.* in (\d+) ms", log)
        nbytes, ms = int(m[-1][0]), max(1, int(m[-1][1]))
        fetch_mib_s = nbytes / (1 << 20) / (ms / 1000.0)
        data = os.path.join(c.dir, "tcp.bin")
        with open(data, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(args.mib):
                f.write(chunk)
        dt, n = tcp_copy(data)
        os.unlink(data)
        tcp_mib_s = n / (1 << 20) / dt
        res.update(artifact_mib=args.mib,
                   fetch_mib_s=round(fetch_mib_s, 1),
                   tcp_copy_mib_s=round(tcp_mib_s, 1),
                   fetch_vs_tcp=round(fetch_mib_s / tcp_mib_s, 3))
        print("%d MiB artifact: fetch %.0f MiB/s, TCP copy %.0f MiB/s, "
              "ratio %.2f" % (args.mib, fetch_mib_s, tcp_mib_s,
                              fetch_mib_s / tcp_mib_s))
        res["goals"] = {
            "lookup_p99_le_1ms": res["lookup_p99_us"] <= 1000,
            "cached_rerun_le_2pct": res["cached_ratio"] <= 0.02,
            "fetch_ge_0.8_tcp": res["fetch_vs_tcp"] >= 0.8,
        }
    finally:
        c.close()
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

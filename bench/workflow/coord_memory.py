#!/usr/bin/env python3
"""bench/workflow/coord_memory.py: what a finished workflow costs the
coordinator's memory for as long as it is kept.

Starts `couler-coord up` (a coordinator with an embedded agent), runs the
same N-step workflow R times (each step a script of about 4 KiB, as real
steps have) and reads the process's resident size after each run. The
baseline is the same process before the first run; the figure is the
growth per finished step. The engine's own share is wf_bench's bytes per
step (build/bench/workflow/wf_bench). The last line is one JSON object.

Usage: bench/workflow/coord_memory.py [--steps 1000] [--runs 3]
                                      [--bin build/bin]
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

WF = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: mem-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: t
        template: t
        withSequence: {count: "COUNT"}
        arguments: {parameters: [{name: i, value: "{{item}}"}]}
  - name: t
    inputs: {parameters: [{name: i}]}
    script:
      image: python
      command: [sh]
      source: |
PAD
        echo {{inputs.parameters.i}}
"""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def main():
    import harness
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=None)
    args = ap.parse_args()
    if args.bin:
        harness.BIN = args.bin
        harness.COORD = os.path.join(args.bin, "couler-coord")
        harness.AGENT = os.path.join(args.bin, "couler-agent")
    pad = "\n".join("        # line %d of the setup a real step does before "
                    "it runs its work" % i for i in range(60))
    c = harness.Cluster(embedded=True)
    try:
        path = os.path.join(c.dir, "mem.yaml")
        with open(path, "w") as f:
            f.write(WF.replace("COUNT", str(args.steps)).replace("PAD", pad))
        base = rss_kib(c.coord.pid)
        sizes = []
        for r in range(args.runs):
            name = c.submit(path)
            st = c.wait(name, 3600)
            if st["status"]["phase"] != "Succeeded":
                raise RuntimeError("run %d: %s" % (r, st["status"]))
            sizes.append(rss_kib(c.coord.pid))
            print("run %d: %d steps, resident %d KiB" %
                  (r + 1, args.steps, sizes[-1]), flush=True)
    finally:
        c.close()
    # The first run also warms up allocator arenas and caches: the growth
    # per step is taken over the runs after it.
    later = (sizes[-1] - sizes[0]) / max(1, (args.runs - 1) * args.steps)
    res = {"steps": args.steps, "runs": args.runs, "rss_base_kib": base,
           "rss_after_kib": sizes,
           "bytes_per_finished_step": round(later * 1024)}
    print("resident growth per finished step (runs 2..%d): %d bytes" %
          (args.runs, res["bytes_per_finished_step"]))
    print(json.dumps(res))


if __name__ == "__main__":
    main()

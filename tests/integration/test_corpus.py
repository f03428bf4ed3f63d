"""The acceptance corpus on a real cluster: a coordinator and two agents on
127.0.0.1 run every example of tests/data/argo-examples (expected.tsv), all
submitted at once so that the slow ones (30-120 s) overlap. Each example has
a check function named after its file that looks at what the observation
column of expected.tsv states: the final phase, log lines, outputs, which
nodes ran, which were Skipped or Omitted, and timing lower bounds or orderings
(never tight upper bounds).

Every example is checked and reported, then the test fails once, listing
every example that did not pass. A table of all of them is printed at the end.

Node timestamps have a resolution of one second (truncated), so orderings
are compared with >= on whole seconds and durations with a margin.
"""
import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import harness
from harness import ClusterTest

EXAMPLES = os.path.join(harness.SRC, "tests", "data", "argo-examples")
# Agent names of their own: an agent's step cgroups are keyed by its name,
# and an agent of the same name elsewhere on the host would sweep them.
AGENTS = ("corpus-%d-1" % os.getpid(), "corpus-%d-2" % os.getpid())
FINAL = ("Succeeded", "Failed", "Error")
# Every workflow must have ended this many seconds after the first submit.
# The slowest example (parallelism-nested-workflow) needs about 120 s.
BUDGET_S = int(os.environ.get("COULER_CORPUS_BUDGET", "240"))

# A workflow holding the mutex of synchronization-mutex-wf-level.yaml for a
# while (20 s: long enough for a slow, sanitized build to notice it holds
# it and submit the example), so that the example has to wait for it.
MUTEX_HOLDER = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: mutex-holder-
spec:
  entrypoint: hold
  synchronization:
    mutexes:
      - name: test
  templates:
  - name: hold
    container:
      image: busybox
      command: [sh, -c, "echo holding; sleep 20; echo released"]
"""


class CheckFailed(AssertionError):
    pass


def fail(msg):
    raise CheckFailed(msg)


def expect(cond, msg):
    if not cond:
        fail(msg)


def eq(actual, expected, what):
    if actual != expected:
        fail("%s: %r, expected %r" % (what, actual, expected))


def ts(value):
    """An RFC 3339 timestamp of a status (whole seconds) as epoch seconds."""
    if not value:
        return None
    return calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ"))


class Run:
    """One submission of one file and everything observed about it."""

    def __init__(self, path, args=(), label=None):
        self.path = path
        self.args = list(args)
        self.label = label or os.path.relpath(path, EXAMPLES)
        self.name = None
        self.error = None      # submit failure or did not finish
        self.submitted = None  # wall clock of the submit
        self.ended = None      # wall clock when its end was observed
        self.st = None
        self.log_text = ""
        self.notes = {}
        self.extra = {}        # further runs a check looks at, by tag
        self.deferred = False  # submitted later by a hook
        self.on_end = None     # called once its end has been observed
        self.watch = False     # followed by a thread of its own (below)

    # ---- what a check reads ---------------------------------------------
    @property
    def phase(self):
        return (self.st or {}).get("status", {}).get("phase")

    @property
    def status(self):
        return (self.st or {}).get("status", {})

    @property
    def nodes(self):
        """Nodes by full name."""
        return {n["name"]: n for n in self.status.get("nodes", {}).values()}

    @property
    def lines(self):
        return self.log_text.splitlines()

    def has(self, suffix):
        return (self.name + suffix) in self.nodes

    def n(self, suffix, phase=None, type=None, result=None):
        """The node named <workflow><suffix>, with optional expectations."""
        node = self.nodes.get(self.name + suffix)
        label = suffix or "(root)"
        if node is None:
            fail("node %s missing" % label)
        if type is not None and node.get("type") != type:
            fail("node %s: type %s, expected %s" % (label, node.get("type"),
                                                     type))
        if phase is not None and node.get("phase") != phase:
            fail("node %s: phase %s (%s), expected %s" %
                 (label, node.get("phase"), node.get("message", ""), phase))
        if result is not None:
            eq(out(node).get("result"), result, "node %s result" % label)
        return node

    def none(self, suffix):
        if self.has(suffix):
            fail("node %s exists (phase %s), expected it never created" %
                 (suffix, self.nodes[self.name + suffix].get("phase")))

    def children(self, suffix):
        node = self.n(suffix)
        byid = self.status.get("nodes", {})
        return [byid[i] for i in node.get("children", []) if i in byid]

    def logged(self, display, text):
        line = "%s: %s" % (display, text)
        if line not in self.lines:
            fail("log line %r missing (log: %r)" % (line,
                                                    self.log_text[-300:]))

    def not_logged(self, text):
        for line in self.lines:
            if line.endswith(": " + text):
                fail("unexpected log line %r" % line)

    def wf_duration(self):
        a, b = ts(self.status.get("startedAt")), \
            ts(self.status.get("finishedAt"))
        expect(a is not None and b is not None,
               "workflow startedAt/finishedAt missing")
        return b - a


def out(node):
    return node.get("outputs") or {}


def param(node, name):
    for p in out(node).get("parameters") or []:
        if p.get("name") == name:
            return p.get("value")
    fail("node %s has no output parameter %r (outputs %s)" %
         (node.get("displayName"), name, json.dumps(out(node))[:200]))


def artifact(node, name):
    for a in out(node).get("artifacts") or []:
        if a.get("name") == name:
            return a
    fail("node %s has no output artifact %r (outputs %s)" %
         (node.get("displayName"), name, json.dumps(out(node))[:200]))


def started(node):
    v = ts(node.get("startedAt"))
    if v is None:
        fail("node %s has no startedAt" % node.get("displayName"))
    return v


def finished(node):
    v = ts(node.get("finishedAt"))
    if v is None:
        fail("node %s has no finishedAt" % node.get("displayName"))
    return v


def after(later, earlier):
    """`later` started no earlier than `earlier` finished (whole seconds)."""
    if started(later) < finished(earlier):
        fail("%s started at %s, before %s finished at %s" %
             (later["displayName"], later["startedAt"],
              earlier["displayName"], earlier["finishedAt"]))


def lasted(node, seconds):
    d = finished(node) - started(node)
    if d < seconds:
        fail("%s lasted %d s, expected at least %d s" %
             (node["displayName"], d, seconds))


def at_most_concurrent(nodes, limit, what):
    """With whole-second timestamps: the k-th node to start (0-based, k >=
    limit) started no earlier than k-limit+1 others had finished."""
    order = sorted(nodes, key=started)
    for k, node in enumerate(order):
        if k < limit:
            continue
        done = sum(1 for o in order if o is not node and
                   finished(o) <= started(node))
        if done < k - limit + 1:
            fail("%s: %s started at %s while only %d of the %d before it "
                 "had finished (limit %d)" % (what, node["displayName"],
                                              node["startedAt"], done, k,
                                              limit))


def loop_kids(x, prefix):
    """The expanded children of the loop step or task <workflow><prefix>,
    in item order (a steps loop has no node of its own: its children are
    <prefix>(<i>:<item>) in the step group)."""
    pat = re.compile(re.escape(x.name + prefix) + r"\((\d+):[^()]*\)$")
    kids = []
    for n in x.nodes.values():
        m = pat.match(n["name"])
        if m:
            kids.append((int(m.group(1)), n["name"], n))
    kids.sort()
    eq([k[0] for k in kids], list(range(len(kids))),
       "indices of %s children" % prefix)
    return [k[2] for k in kids]


def all_overlap(nodes, what):
    """Every node started before any of them finished."""
    s = max(started(n) for n in nodes)
    f = min(finished(n) for n in nodes)
    if s >= f:
        fail("%s did not run in parallel (last start %d s after the first "
             "finish)" % (what, s - f))


# ---- shared shapes ------------------------------------------------------

def coinflip_chain(x, prefix):
    """A recursive coinflip steps node at `prefix`: flip until heads. Returns
    the number of flips."""
    flips = 0
    while True:
        flips += 1
        expect(flips <= 64, "coinflip recursion deeper than 64")
        flip = x.n(prefix + "[0].flip-coin", phase="Succeeded", type="Pod")
        r = out(flip).get("result")
        expect(r in ("heads", "tails"),
               "%s[0].flip-coin result %r" % (prefix, r))
        if r == "heads":
            x.n(prefix + "[1].heads", phase="Succeeded", type="Pod",
                result="it was heads")
            x.n(prefix + "[1].tails", phase="Skipped")
            return flips
        x.n(prefix + "[1].heads", phase="Skipped")
        x.n(prefix + "[1].tails", phase="Succeeded", type="Steps")
        prefix = prefix + "[1].tails"


def retry_attempts(x, suffix, limit, exits, ok="0"):
    """A Retry node at `suffix` with attempts suffix(0).., at most limit+1.
    Every attempt but the last failed; the Retry node takes the last
    attempt's phase. Returns the attempt nodes."""
    rnode = x.n(suffix, type="Retry")
    atts = []
    while x.has("%s(%d)" % (suffix, len(atts))):
        atts.append(x.n("%s(%d)" % (suffix, len(atts)), type="Pod"))
    expect(atts, "retry node %s has no attempts" % (suffix or "(root)"))
    expect(len(atts) <= limit + 1, "%d attempts of %s, limit %d" %
           (len(atts), suffix or "(root)", limit))
    expect(len(rnode.get("children", [])) == len(atts),
           "%s lists %d children, %d attempts found" %
           (suffix or "(root)", len(rnode.get("children", [])), len(atts)))
    for a in atts:
        code = out(a).get("exitCode")
        expect(code in exits, "%s exit code %r, expected one of %s" %
               (a["displayName"], code, exits))
    for a, nxt in zip(atts, atts[1:]):
        expect(a["phase"] == "Failed" and out(a).get("exitCode") != ok,
               "%s is %s (exit %s) but was retried" %
               (a["displayName"], a["phase"], out(a).get("exitCode")))
        after(nxt, a)
    last = atts[-1]
    eq(rnode["phase"], last["phase"], "retry node %s phase" %
       (suffix or "(root)"))
    if last["phase"] == "Succeeded":
        eq(out(last).get("exitCode"), ok, "%s exit code" %
           last["displayName"])
    return atts


def hello_world(x):
    """A single-pod workflow that echoes 'hello world'."""
    x.n("", phase="Succeeded", type="Pod", result="hello world")
    x.logged(x.name, "hello world")


# ---- one check per example ------------------------------------------------

def check_archive_location(x):
    hello_world(x)


def check_arguments_parameters(x):
    hello_world(x)
    y = x.extra["p"]
    eq(y.phase, "Succeeded", "with -p message=...: phase")
    y.n("", phase="Succeeded", result="bonjour from couler")
    y.logged(y.name, "bonjour from couler")
    y.not_logged("hello world")


def check_artifact_passing_subpath(x):
    gen = x.n("[0].generate-artifact", phase="Succeeded",
              result="hello world")
    art = artifact(gen, "hello-art")
    expect(art.get("isDir"), "hello-art (path /tmp/) is not a directory")
    ls = x.n("[1].list-artifact", phase="Succeeded")
    expect("hello_world.txt" in (out(ls).get("result") or "").split(),
           "list-artifact did not list hello_world.txt: %r" %
           out(ls).get("result"))
    x.logged("list-artifact", "hello_world.txt")
    x.n("[2].consume-artifact", phase="Succeeded", result="hello world")
    x.logged("consume-artifact", "hello world")


def check_artifact_passing(x):
    gen = x.n("[0].generate-artifact", phase="Succeeded",
              result="hello world")
    eq(artifact(gen, "hello-art").get("size"), 12, "hello-art size")
    x.n("[1].consume-artifact", phase="Succeeded", result="hello world")
    x.logged("generate-artifact", "hello world")
    x.logged("consume-artifact", "hello world")


def check_coinflip_recursive(x):
    flips = coinflip_chain(x, "")
    eq(sum(1 for l in x.lines if l == "heads: it was heads"), 1,
       "'heads: it was heads' log lines")
    eq(sum(1 for l in x.lines if l.startswith("flip-coin: ")), flips,
       "flip-coin log lines")


def check_coinflip(x):
    r = out(x.n("[0].flip-coin", phase="Succeeded")).get("result")
    expect(r in ("heads", "tails"), "flip-coin result %r" % r)
    other = "tails" if r == "heads" else "heads"
    x.n("[1]." + r, phase="Succeeded", result="it was " + r)
    x.n("[1]." + other, phase="Skipped")
    x.logged(r, "it was " + r)
    x.not_logged("it was " + other)


def conditional_artifact(x, first, sep):
    flip = x.n(first + "flip-coin", phase="Succeeded")
    r = out(flip).get("result")
    expect(r in ("heads", "tails"), "flip-coin result %r" % r)
    other = "tails" if r == "heads" else "heads"
    chosen = x.n(sep + r, phase="Succeeded")
    after(chosen, flip)
    x.n(sep + other, phase="Skipped")
    a = artifact(chosen, "result")
    eq(a.get("size"), len("it was " + r), "%s artifact size" % r)
    root = artifact(x.n("", phase="Succeeded"), "result")
    expect(root.get("digest") and root.get("digest") == a.get("digest"),
           "main output artifact 'result' %s is not %s's %s" %
           (root.get("digest"), r, a.get("digest")))


def check_conditional_artifacts(x):
    conditional_artifact(x, "[0].", "[1].")


def check_conditional_parameters(x):
    r = out(x.n("[0].flip-coin", phase="Succeeded")).get("result")
    expect(r in ("heads", "tails"), "flip-coin result %r" % r)
    other = "tails" if r == "heads" else "heads"
    x.n("[1]." + r, phase="Succeeded", result=r)
    x.n("[1]." + other, phase="Skipped")
    eq(param(x.n(""), "stepresult"), r, "main output stepresult")


def check_conditionals(x):
    steps = ("print-hello-govaluate", "print-hello-expr",
             "print-hello-expr-json")
    for s in steps:
        node = x.n("[0]." + s, phase="Succeeded", type="Pod")
        expect("< hello >" in (out(node).get("result") or ""),
               "%s did not cowsay hello: %r" % (s, out(node).get("result")))
        x.logged(s, "< hello >")
    y = x.extra["no-print"]
    eq(y.phase, "Succeeded", "with -p should-print=false: phase")
    for s in steps:
        y.n("[0]." + s, phase="Skipped")
    expect("< hello >" not in y.log_text,
           "with should-print=false something printed hello")


def check_continue_on_fail(x):
    a = x.n("[0].A", phase="Succeeded", result="hello world")
    b = x.n("[1].B", phase="Succeeded", result="hello world")
    c = x.n("[1].C", phase="Failed", result="intentional failure")
    eq(out(c).get("exitCode"), "1", "C exit code")
    d = x.n("[2].D", phase="Succeeded", result="hello world")
    x.logged("C", "intentional failure")
    x.logged("D", "hello world")
    after(b, a)
    after(c, a)
    after(d, b)
    after(d, c)


def check_dag_coinflip(x):
    for t in "ABCD":
        x.n("." + t, phase="Succeeded", type="Steps")
        coinflip_chain(x, "." + t)
    after(x.n(".B"), x.n(".A"))
    after(x.n(".C"), x.n(".A"))
    after(x.n(".D"), x.n(".B"))
    after(x.n(".D"), x.n(".C"))
    eq(sum(1 for l in x.lines if l == "heads: it was heads"), 4,
       "'heads: it was heads' log lines (one per branch)")


def check_dag_conditional_artifacts(x):
    conditional_artifact(x, ".", ".")


def check_dag_continue_on_fail(x):
    a = x.n(".A", phase="Succeeded", result="hello world")
    for t in "BE":
        n = x.n("." + t, phase="Failed", result="intentional failure")
        eq(out(n).get("exitCode"), "1", "%s exit code" % t)
        x.logged(t, "intentional failure")
        after(n, a)
    for t in "CF":
        after(x.n("." + t, phase="Succeeded", result="hello world"), a)
    d = x.n(".D", phase="Succeeded", result="hello world")
    after(d, x.n(".B"))
    after(d, x.n(".C"))
    g = x.n(".G", phase="Omitted")
    expect("hostNodeName" not in g and not out(g), "G ran")
    eq(sum(1 for l in x.lines if l.startswith("G: ")), 0, "G log lines")


def check_dag_custom_metrics(x):
    for task, items in (("TEST-ONE", ("ONE-A", "ONE-B")),
                        ("TEST-TWO", ("TWO-A", "TWO-B"))):
        x.n("." + task, phase="Succeeded", type="TaskGroup")
        for i, cmd in enumerate(items):
            disp = "%s(%d:command:%s,tag:TEST-%s)" % (task, i, cmd, cmd)
            x.n("." + disp, phase="Succeeded", type="Pod",
                result="console output-->TEST-" + cmd)
            x.logged(disp, "console output-->TEST-" + cmd)


def check_dag_diamond(x):
    n = {t: x.n("." + t, phase="Succeeded", type="Pod", result=t)
         for t in "ABCD"}
    for t in "ABCD":
        x.logged(t, t)
    after(n["B"], n["A"])
    after(n["C"], n["A"])
    after(n["D"], n["B"])
    after(n["D"], n["C"])


def check_dag_disable_failfast(x):
    a = x.n(".A", phase="Succeeded", result="hello world")
    atts = retry_attempts(x, ".C", 3, ("2",))
    eq(len(atts), 4, "attempts of C")
    for att in atts:
        eq(out(att).get("result"), "intentional failure",
           "%s result" % att["displayName"])
        x.logged(att["displayName"], "intentional failure")
    eq(x.n(".C", phase="Failed").get("message"), "No more retries left",
       "C message")
    b = x.n(".B", phase="Succeeded", type="Retry")
    b0 = x.n(".B(0)", phase="Succeeded", result="haha")
    lasted(b0, 29)
    x.logged("B(0)", "haha")
    d = x.n(".D", phase="Succeeded", result="hello world")
    e = x.n(".E", phase="Succeeded", result="hello world")
    after(b, a)
    after(d, b)
    after(e, d)
    # C had failed long before B finished: failFast false let B, D, E go on.
    expect(finished(x.n(".C")) < finished(b0),
           "C did not fail before B finished")


def check_dag_inline_workflow(x):
    x.n(".a", phase="Succeeded", type="Pod", result="hello argo")
    x.logged("a", "hello argo")


def check_dag_multiroot(x):
    n = {t: x.n("." + t, phase="Succeeded", type="Pod", result=t)
         for t in "ABCD"}
    for t in "ABCD":
        x.logged(t, t)
    after(n["C"], n["A"])
    after(n["D"], n["A"])
    after(n["D"], n["B"])


def check_dag_targets(x):
    n = {t: x.n("." + t, phase="Succeeded", type="Pod", result=t)
         for t in "ACE"}
    for t in "ACE":
        x.logged(t, t)
    x.none(".B")
    x.none(".D")
    after(n["C"], n["A"])
    after(n["E"], n["C"])
    eq(sorted(x.lines), ["A: A", "C: C", "E: E"], "log lines")


def check_dag_task_level_timeout(x):
    a = x.n(".A", phase="Succeeded", type="Pod")
    b = x.n(".B", phase="Failed", type="Pod")
    c = x.n(".C", phase="Succeeded", type="Pod")
    lasted(a, 14)
    lasted(c, 14)
    lasted(b, 9)
    after(b, a)
    after(c, a)
    # B's 10 s timeout ended it before C's 15 s sleep was over.
    expect(finished(b) <= finished(c),
           "B (timeout 10s) finished at %s, after C at %s" %
           (b["finishedAt"], c["finishedAt"]))


def check_dns_config(x):
    hello_world(x)


def check_exit_code_output_variable(x):
    f = x.n("[0].failing-container", phase="Failed", type="Pod")
    eq(out(f).get("exitCode"), "123", "failing-container exitCode")
    x.n("[1].echo-container", phase="Succeeded",
        result="Exit code was: 123")
    x.logged("echo-container", "Exit code was: 123")


def check_exit_handler_step_level(x):
    steps = (("[0].", "hello1"), ("[1].", "hello2a"), ("[1].", "hello2b"))
    hooks = []
    for group, s in steps:
        node = x.n(group + s, phase="Succeeded", type="Pod", result=s)
        hook = x.n(group + s + ".onExit", phase="Succeeded", type="Pod",
                   result="step cleanup")
        eq(hook["displayName"], s + ".onExit", "exit hook display name")
        after(hook, node)
        hooks.append(hook)
    # The step group waited for hello1's exit hook.
    after(x.n("[1].hello2a"), x.n("[0].hello1.onExit"))
    after(x.n("[1].hello2b"), x.n("[0].hello1.onExit"))
    eq(sum(1 for l in x.lines if l.endswith(": step cleanup")), 3,
       "'step cleanup' log lines")
    for (group, s), hook in zip(steps, hooks):
        x.logged(s, s)
        x.logged(hook["displayName"], "step cleanup")


def check_exit_handler_with_artifacts(x):
    s = x.n("[0].step-1", phase="Succeeded", type="Pod")
    eq(artifact(s, "result").get("size"), len("Welcome"),
       "step-1 artifact size")
    hook = x.n("[0].step-1.onExit", phase="Succeeded", type="Pod",
               result="Welcome")
    after(hook, s)
    x.logged(hook["displayName"], "Welcome")


def check_exit_handlers(x):
    root = x.n("", phase="Failed", type="Pod", result="intentional failure")
    eq(out(root).get("exitCode"), "1", "entrypoint exit code")
    x.logged(x.name, "intentional failure")
    h = x.n(".onExit", phase="Succeeded", type="Steps")
    after(h, root)
    notify = x.n(".onExit[0].notify", phase="Succeeded", type="Pod")
    msg = out(notify).get("result") or ""
    expect(re.match(r"^send e-mail: %s Failed [0-9.]+[a-z]*\. Failed steps "
                    r"\[.*intentional-fail.*\]$" % re.escape(x.name), msg),
           "notify logged %r" % msg)
    x.logged("notify", msg)
    x.n(".onExit[0].cry", phase="Succeeded", result="boohoo!")
    x.logged("cry", "boohoo!")
    x.n(".onExit[0].celebrate", phase="Skipped")
    x.not_logged("hooray!")


def check_expression_destructure_json_complex(x):
    want = '[43][43][{"age":43,"name":"Baris"}]["Baris","Mo","Jai"]'
    x.n("", phase="Succeeded", result=want)
    x.logged(x.name, want)


def check_expression_reusing_verbose_snippets(x):
    want = ("The week's average temperature was 35.8 with a minimum of 15 "
            "and a maximum of 57.")
    x.n("", phase="Succeeded", result=want)
    x.logged(x.name, want)


def check_expression_tag_template_workflow(x):
    x.n(".task-0", phase="Succeeded", type="TaskGroup")
    eq([k["name"] for k in x.children(".task-0")],
       [x.name + ".task-0(0:3)"], "task-0 children")
    eq(len(loop_kids(x, ".task-0")), 1, "task-0 loop nodes")
    t = x.n(".task-0(0:3)", phase="Succeeded", type="Pod")
    year = (x.st.get("metadata", {}).get("creationTimestamp") or "????")[:4]
    eq(param(t, "output").rstrip("\n"), "hello 30 @ %s" % year,
       "task-0(0:3) output parameter 'output'")


def check_forever(x):
    # forever.yaml prints 1..1000, one a second (about 17 minutes), which CI
    # cannot wait for: it is submitted, must log a few numbers, and is then
    # stopped; it must end Failed with the Stop strategy's message.
    nums = x.notes.get("numbers_before_stop", [])
    expect(len(nums) >= 3, "logged %r before the stop, expected 3 numbers"
           % nums)
    eq(nums[:3], ["1", "2", "3"], "first numbers")
    expect("Stopped with strategy 'Stop'" in (x.status.get("message") or ""),
           "workflow message %r" % x.status.get("message"))
    x.n("", phase="Failed", type="Pod")
    logged = [l for l in x.lines if l.startswith("forever: ")]
    eq(logged[:3], ["forever: 1", "forever: 2", "forever: 3"],
       "first log lines")
    # The stop killed the step: it did not go on counting.
    expect(len(logged) < len(nums) + 60, "%d numbers logged, %d before the "
           "stop" % (len(logged), len(nums)))


def check_gc_ttl(x):
    hello_world(x)
    # ttlStrategy.secondsAfterSuccess 5: the record goes away afterwards.
    gone = x.notes.get("gone_after")
    expect(gone is not None, "workflow still present %d s after it "
           "succeeded (ttlStrategy.secondsAfterSuccess: 5)" %
           x.notes.get("ttl_waited", 0))


def check_global_parameters(x):
    hello_world(x)


def check_handle_large_output_results(x):
    g = x.n("[0].get-items", phase="Succeeded", type="Pod")
    eq(param(g, "count"), "3", "get-items count")
    artifact(g, "items")
    eq(len(loop_kids(x, "[1].sequence-param")), 3,
       "sequence-param children")
    for i, letter in enumerate("abc"):
        disp = "sequence-param(%d:%d)" % (i, i)
        x.n("[1]." + disp, phase="Succeeded", type="Pod",
            result='"%s"' % letter)
        x.logged(disp, '"%s"' % letter)


def check_image_pull_secrets(x):
    hello_world(x)


def check_input_artifact_raw(x):
    x.n("", phase="Succeeded", type="Pod",
        result="this is\nthe raw file\ncontents")
    for line in ("this is", "the raw file", "contents"):
        x.logged(x.name, line)


def check_loops_arbitrary_sequential_steps(x):
    msgs = ["succeeds 1", "succeeds 2", "succeeds 3",
            "will fail and stop here"]
    ran = []
    for i, m in enumerate(msgs):
        code = "1" if i == 3 else "0"
        disp = "unit-step(%d:exit_code:%s,message:%s)" % (i, code, m)
        node = x.n("[0]." + disp, type="Pod",
                   phase="Failed" if i == 3 else "Succeeded", result=m)
        x.logged(disp, m)
        ran.append(node)
    for prev, nxt in zip(ran, ran[1:]):
        after(nxt, prev)
    kids = loop_kids(x, "[0].unit-step")
    expect(len(kids) in (4, 6), "%d unit-step children" % len(kids))
    for i in (4, 5):
        disp = "unit-step(%d:exit_code:0,message:will not run)" % i
        if x.has("[0]." + disp):
            node = x.n("[0]." + disp)
            expect("hostNodeName" not in node and not out(node),
                   "%s ran (%s)" % (disp, node.get("phase")))
    x.not_logged("will not run")


def check_loops_dag(x):
    a = x.n(".A", phase="Succeeded", result="A")
    x.n(".B", phase="Succeeded", type="TaskGroup")
    bs = []
    for i, item in enumerate(("foo", "bar", "baz")):
        disp = "B(%d:%s)" % (i, item)
        bs.append(x.n("." + disp, phase="Succeeded", type="Pod",
                      result=item))
        x.logged(disp, item)
        after(bs[-1], a)
    c = x.n(".C", phase="Succeeded", result="C")
    for b in bs:
        after(c, b)


def check_loops_param_argument(x):
    items = (("debian", "9.1"), ("debian", "8.9"), ("alpine", "3.6"),
             ("ubuntu", "17.10"))
    eq(len(loop_kids(x, "[0].test-linux")), 4, "test-linux children")
    with open("/etc/os-release") as f:
        want = f.read().rstrip("\n")
    for i, (image, tag) in enumerate(items):
        disp = "test-linux(%d:image:%s,tag:%s)" % (i, image, tag)
        node = x.n("[0]." + disp, phase="Succeeded", type="Pod")
        eq(out(node).get("result"), want, "%s result (the host's "
           "/etc/os-release)" % disp)


def check_loops_param_result(x):
    gen = x.n("[0].generate", phase="Succeeded")
    eq(json.loads(out(gen).get("result") or "null"), list(range(20, 31)),
       "generate result")
    kids = []
    for i, sec in enumerate(range(20, 31)):
        disp = "sleep(%d:%d)" % (i, sec)
        node = x.n("[1]." + disp, phase="Succeeded", type="Pod",
                   result="sleeping for %d seconds\ndone" % sec)
        lasted(node, sec - 1)
        after(node, gen)
        x.logged(disp, "sleeping for %d seconds" % sec)
        x.logged(disp, "done")
        kids.append(node)
    all_overlap(kids, "the 11 sleep children")
    expect(x.wf_duration() >= 29, "workflow took %d s, expected >= 30 s" %
           x.wf_duration())


def check_loops(x):
    for i, m in enumerate(("hello world", "goodbye world")):
        disp = "print-message-loop(%d:%s)" % (i, m)
        x.n("[0]." + disp, phase="Succeeded", type="Pod", result=m)
        x.logged(disp, m)


def check_memoize_simple(x):
    first = x.n("", phase="Succeeded", type="Pod")
    eq(param(first, "hello"), "world", "first run: output hello")
    memo = first.get("memoizationStatus") or {}
    eq(memo.get("hit"), False, "first run: memoizationStatus.hit")
    y = x.extra["again"]
    gap = x.notes.get("resubmit_gap")
    expect(gap is not None and gap < 9,
           "resubmitted %s s after the first run ended (maxAge 10s)" % gap)
    eq(y.phase, "Succeeded", "resubmission phase")
    second = y.n("", phase="Succeeded")
    memo = second.get("memoizationStatus") or {}
    eq(memo.get("hit"), True, "resubmission: memoizationStatus.hit")
    eq(memo.get("key"), "cache-key", "resubmission: memoization key")
    eq(memo.get("cacheName"), "cache-config", "resubmission: cache name")
    eq(param(second, "hello"), "world", "resubmission: output hello")
    expect("hostNodeName" not in second,
           "resubmission ran on %s despite the cache hit" %
           second.get("hostNodeName"))
    eq(y.log_text.strip(), "", "resubmission logs")


def check_node_selector(x):
    node = x.n("", phase="Succeeded", type="Pod")
    res = out(node).get("result") or ""
    expect(res.startswith("Linux ") and os.uname().release in res,
           "uname -a printed %r" % res)
    x.logged(x.name, res)


def check_output_parameter(x):
    g = x.n("[0].generate-parameter", phase="Succeeded")
    eq(param(g, "hello-param"), "hello world", "hello-param")
    x.n("[1].consume-parameter", phase="Succeeded", result="hello world")
    x.logged("consume-parameter", "hello world")


def check_parallelism_nested_dag(x):
    bs = {}
    for i in range(1, 6):
        b = x.n(".b%d" % i, phase="Succeeded", type="DAG")
        bs[i] = b
        c1 = x.n(".b%d.c1" % i, phase="Succeeded", type="Pod",
                 result="%d c1" % i)
        for c in ("c2", "c3"):
            cn = x.n(".b%d.%s" % (i, c), phase="Succeeded", type="Pod",
                     result="%d %s" % (i, c))
            after(cn, c1)
            lasted(cn, 9)
            x.logged(c, "%d %s" % (i, c))
        x.logged("c1", "%d c1" % i)
    for i in (2, 3, 4):
        after(bs[i], bs[1])
        after(bs[5], bs[i])
    at_most_concurrent([bs[2], bs[3], bs[4]], 2, "b2, b3, b4")
    expect(x.wf_duration() >= 70, "workflow took %d s, expected about 80 s"
           % x.wf_duration())


def check_parallelism_nested_workflow(x):
    outer = []
    for i, sid in enumerate("abcd"):
        s = "[0].seq-step(%d:%s)" % (i, sid)
        outer.append(x.n(s, phase="Succeeded", type="Steps"))
        jobs = [x.n("%s[0].jobs(%d:%d)" % (s, j, j + 1), phase="Succeeded",
                    type="Pod", result=sid) for j in range(2)]
        for j in jobs:
            lasted(j, 29)
            x.logged(j["displayName"], sid)
        all_overlap(jobs, "jobs of %s" % sid)
    for prev, nxt in zip(outer, outer[1:]):
        after(nxt, prev)
    expect(x.wf_duration() >= 110, "workflow took %d s, expected about "
           "120 s" % x.wf_duration())


def check_parallelism_template_limit(x):
    words = ["this", "workflow", "should", "take", "at", "least", "60",
             "seconds", "to", "complete"]
    kids = [x.n("[0].sleep(%d:%s)" % (i, w), phase="Succeeded", type="Pod")
            for i, w in enumerate(words)]
    eq(len(loop_kids(x, "[0].sleep")), 10, "sleep children")
    for k in kids:
        lasted(k, 9)
    at_most_concurrent(kids, 2, "sleep children")
    expect(x.wf_duration() >= 48, "workflow took %d s, expected >= 50 s" %
           x.wf_duration())


def parameter_aggregation(x, g):
    """g: the node name prefixes of odd-or-even, print-nums, print-evenness,
    divide-by-2 and print."""
    for i in range(4):
        num = i + 1
        node = x.n("%sodd-or-even(%d:%d)" % (g[0], i, num),
                   phase="Succeeded", type="Pod")
        eq(param(node, "num"), str(num), "odd-or-even(%d) num" % i)
        eq(param(node, "evenness"), "even" if num % 2 == 0 else "odd",
           "odd-or-even(%d) evenness" % i)
    x.n(g[1] + "print-nums", phase="Succeeded", result='["1","2","3","4"]')
    x.logged("print-nums", '["1","2","3","4"]')
    x.n(g[2] + "print-evenness", phase="Succeeded",
        result='["odd","even","odd","even"]')
    x.logged("print-evenness", '["odd","even","odd","even"]')
    for i in range(4):
        num = i + 1
        ev = "even" if num % 2 == 0 else "odd"
        name = "%sdivide-by-2(%d:evenness:%s,num:%d)" % (g[3], i, ev, num)
        if num % 2:
            x.n(name, phase="Skipped")
        else:
            x.n(name, phase="Succeeded", type="Pod", result=str(num // 2))
    for i, v in enumerate(("1", "2")):
        disp = "print(%d:%s)" % (i, v)
        x.n(g[4] + disp, phase="Succeeded", type="Pod", result=v)
        x.logged(disp, v)
    eq(len(loop_kids(x, g[4] + "print")), 2, "print children")


def check_parameter_aggregation_dag(x):
    parameter_aggregation(x, (".",) * 5)


def check_parameter_aggregation(x):
    parameter_aggregation(x, ("[0].", "[1].", "[2].", "[3].", "[4]."))


def check_pod_gc_strategy_with_label_selector(x):
    f = x.n("[0].fail", phase="Failed", type="Pod")
    eq(out(f).get("exitCode"), "1", "fail exit code")
    x.n("[0].succeed-deleted", phase="Succeeded", type="Pod")
    x.n("[0].succeed-not-deleted", phase="Succeeded", type="Pod")


def check_pod_metadata_wf_field(x):
    x.n("[0].hello1", phase="Succeeded", type="Pod", result="hello1")
    x.logged("hello1", "hello1")


def check_pod_metadata(x):
    x.n("[0].hello1", phase="Succeeded", type="Pod", result="hello1")
    x.logged("hello1", "hello1")


def check_pod_spec_from_previous_step(x):
    want = '{"memory": "10Gi", "cpu": "2000m"}'
    p = x.n(".parse-resources", phase="Succeeded", result=want)
    eq(param(p, "resources"), want, "parse-resources output resources")
    s = x.n(".setup-resources", phase="Succeeded",
            result="{memory: 10Gi, cpu: 2000m}")
    after(s, p)
    x.logged("parse-resources", want)
    x.logged("setup-resources", "{memory: 10Gi, cpu: 2000m}")


def check_pod_spec_patch_wf_tmpl(x):
    hello_world(x)


def check_pod_spec_yaml_patch(x):
    hello_world(x)


def check_recursive_for_loop(x):
    prefix = "[0].recurse"
    x.n(prefix, phase="Succeeded", type="Steps")
    for i in range(1, 11):
        x.n(prefix + "[0].iterate-counter", phase="Succeeded", type="Pod",
            result=str(i))
        if i < 10:
            prefix += "[1].continue"
            x.n(prefix, phase="Succeeded", type="Steps")
        else:
            x.n(prefix + "[1].continue", phase="Skipped")
    got = [l for l in x.lines if l.startswith("iterate-counter: ")]
    eq(got, ["iterate-counter: %d" % i for i in range(1, 11)],
       "iterate-counter log lines")


def check_retry_backoff(x):
    atts = retry_attempts(x, "", 10, ("0", "1"))
    for k in range(len(atts) - 1):
        wait = min(2 ** k, 5)
        gap = started(atts[k + 1]) - finished(atts[k])
        expect(gap >= wait - 1, "attempt %d started %d s after attempt %d, "
               "back-off is %d s" % (k + 1, gap, k, wait))
    msg = x.n("").get("message") or ""
    if x.phase == "Failed":
        expect(len(atts) == 11 and msg == "No more retries left" or
               "max duration" in msg.lower(),
               "%d attempts, message %r" % (len(atts), msg))


def check_retry_conditional(x):
    x.n("[0].safe-to-retry", phase="Succeeded", result="true")
    atts = retry_attempts(x, "[1].retry", 10, ("1", "2"))
    for a in atts[:-1]:
        eq(out(a).get("exitCode"), "2", "%s exit code (it was retried)" %
           a["displayName"])
    r = x.n("[1].retry", phase="Failed")
    last = out(atts[-1]).get("exitCode")
    if last == "1":
        eq(r.get("message"), "retryStrategy.expression evaluated to false",
           "retry message after exit 1")
    else:
        eq(len(atts), 11, "attempts when every one exited 2")
        eq(r.get("message"), "No more retries left", "retry message")


def check_retry_container(x):
    atts = retry_attempts(x, "", 10, ("0", "1"))
    if x.phase == "Failed":
        eq(len(atts), 11, "attempts before giving up")
        eq(x.n("").get("message"), "No more retries left", "message")


def check_retry_on_error(x):
    atts = retry_attempts(x, "", 2, ("0", "1", "2", "3", "4"))
    if x.phase == "Failed":
        eq(len(atts), 3, "attempts before giving up")
        eq(x.n("").get("message"), "No more retries left", "message")


def check_retry_with_steps(x):
    for s in ("[0].hello1", "[1].hello2a", "[1].hello2b"):
        if s != "[0].hello1" and x.n("[0].hello1")["phase"] != "Succeeded":
            x.none(s)
            continue
        atts = retry_attempts(x, s, 10, ("0", "1"))
        for k, a in enumerate(atts):
            eq(out(a).get("result"), "retries: %d" % k,
               "%s result" % a["displayName"])
            x.logged(a["displayName"], "retries: %d" % k)
    ok = all(x.n(s)["phase"] == "Succeeded"
             for s in ("[0].hello1", "[1].hello2a", "[1].hello2b"))
    eq(x.phase, "Succeeded" if ok else "Failed", "phase given the steps")


def scripts(x):
    g = x.n("[0].generate", phase="Succeeded", type="Pod")
    r = out(g).get("result") or ""
    expect(re.fullmatch(r"\d+", r) and 1 <= int(r) <= 100,
           "generate result %r, expected 1..100" % r)
    x.n("[1].print", phase="Succeeded", result="result was: " + r)
    x.logged("print", "result was: " + r)


def check_scripts_bash(x):
    scripts(x)


def check_scripts_python(x):
    scripts(x)


def check_skipped_output_defaults_consumer_input_default(x):
    x.n(".producer", phase="Skipped")
    want = "consumer got: [fallback-from-input]"
    x.n(".consumer", phase="Succeeded", type="Pod", result=want)
    x.logged("consumer", want)


def check_skipped_output_defaults_producer_output_default(x):
    x.n(".producer", phase="Skipped")
    want = "consumer got: [hello-from-producer]"
    x.n(".consumer", phase="Succeeded", type="Pod", result=want)
    x.logged("consumer", want)


def check_status_reference(x):
    f = x.n("[0].flakey-container", phase="Failed", type="Pod")
    eq(out(f).get("exitCode"), "1", "flakey-container exit code")
    x.n("[1].failed", phase="Succeeded", result="the flakey container failed")
    x.logged("failed", "the flakey container failed")
    x.n("[1].succeeded", phase="Skipped")
    x.not_logged("the flakey container passed")


def check_steps_inline_workflow(x):
    x.n("[0].a", phase="Succeeded", type="Pod", result="hello argo")
    x.logged("a", "hello argo")


def check_steps(x):
    h1 = x.n("[0].hello1", phase="Succeeded", type="Pod", result="hello1")
    for s in ("hello2a", "hello2b"):
        after(x.n("[1]." + s, phase="Succeeded", type="Pod", result=s), h1)
        x.logged(s, s)
    x.logged("hello1", "hello1")


def check_synchronization_mutex_wf_level(x):
    hello_world(x)
    h = x.extra["holder"]
    eq(h.phase, "Succeeded", "mutex holder phase")
    hold = h.n("", phase="Succeeded", type="Pod")
    # The example was submitted while the holder still had seconds to run.
    expect(finished(hold) >= int(x.submitted) + 2,
           "holder finished at %s, too soon after the example's submission"
           % hold["finishedAt"])
    after(x.n(""), hold)


def check_template_defaults(x):
    # templateDefaults give every template retryStrategy limit 2 and timeout
    # 30s: the steps template main may be a Retry node itself, each of its
    # attempts running retry-backoff (up to 3 attempts), then hello-world.
    root = x.n("")
    if root["type"] == "Retry":
        mains = []
        while x.has("(%d)" % len(mains)):
            mains.append("(%d)" % len(mains))
        expect(1 <= len(mains) <= 3, "%d attempts of main" % len(mains))
    else:
        eq(root["type"], "Steps", "main node type")
        mains = [""]
    for k, m in enumerate(mains):
        att = x.n(m, type="Steps")
        atts = retry_attempts(x, m + "[0].retry-backoff", 2, ("0", "1"))
        ok = atts[-1]["phase"] == "Succeeded"
        if ok:
            hw = retry_attempts(x, m + "[1].hello-world", 2, ("0",))
            eq(len(hw), 1, "attempts of hello-world")
            eq(out(hw[0]).get("result"), "hello world", "hello-world result")
            x.logged(hw[0]["displayName"], "hello world")
            after(hw[0], atts[-1])
        else:
            eq(len(atts), 3, "attempts of retry-backoff")
            x.none(m + "[1].hello-world")
        eq(att["phase"], "Succeeded" if ok else "Failed", "main%s phase" % m)
        if k < len(mains) - 1:
            expect(not ok, "main%s succeeded but was retried" % m)
    eq(root["phase"], x.n(mains[-1])["phase"], "main phase")


def check_timeouts_step(x):
    root = x.n("", phase="Failed", type="Pod", result="123")
    x.logged(x.name, "123")
    lasted(root, 9)
    expect("deadline" in (root.get("message") or ""),
           "message %r" % root.get("message"))


def check_timeouts_workflow(x):
    expect("Step exceeded its deadline" in (x.status.get("message") or ""),
           "workflow message %r" % x.status.get("message"))
    expect(x.wf_duration() >= 29, "workflow took %d s, deadline is 30 s" %
           x.wf_duration())
    for i in range(3):
        n = x.n("[0].sleep-one-day(%d:%d)" % (i, i + 1), phase="Failed",
                type="Pod")
        lasted(n, 28)
        expect("deadline" in (n.get("message") or ""),
               "sleep-one-day(%d) message %r" % (i, n.get("message")))
        u = x.n("[0].unschedulable(%d:%d)" % (i, i + 1), phase="Failed")
        expect("hostNodeName" not in u, "unschedulable(%d) ran on %s" %
               (i, u.get("hostNodeName")))
        expect("deadline" in (u.get("message") or ""),
               "unschedulable(%d) message %r" % (i, u.get("message")))


def sequence(end):
    """withSequence start 1 .. end, inclusive, descending when end < 1."""
    return list(range(1, end + 1)) if end >= 1 else [1, 0]


def check_withsequence_nested_result(x):
    a = out(x.n("[0].hello-a", phase="Succeeded")).get("result") or ""
    expect(re.fullmatch(r"[0-5]", a), "hello-a result %r" % a)
    items = sequence(int(a))
    eq(len(loop_kids(x, "[1].hello-b")), len(items), "hello-b children")
    for i, v in enumerate(items):
        s = "[1].hello-b(%d:%d)" % (i, v)
        x.n(s, phase="Succeeded", type="Steps")
        b = out(x.n(s + "[0].hello-b", phase="Succeeded")).get("result")
        expect(re.fullmatch(r"[0-5]", b or ""), "%s result %r" % (s, b))
        inner = sequence(int(b))
        eq(len(loop_kids(x, s + "[1].hello-c")), len(inner),
           "%s hello-c children" % s)
        for j, w in enumerate(inner):
            c = x.n("%s[1].hello-c(%d:%d)" % (s, j, w), phase="Succeeded",
                    type="Pod")
            expect(re.fullmatch(r"[0-5]", out(c).get("result") or ""),
                   "hello-c result %r" % out(c).get("result"))


def check_workflow_template_workflow_archive_logs(x):
    hello_world(x)


# ---- the driver -----------------------------------------------------------

def check_name(path):
    return "check_" + re.sub(r"[^0-9a-zA-Z]+", "_",
                             path[:-len(".yaml")]).lower()


def load_rows():
    rows = []
    with open(os.path.join(EXAMPLES, "expected.tsv")) as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n")
            if i == 0 or not line:
                continue
            fname, phase, obs = line.split("\t", 2)
            rows.append((fname, phase, obs))
    return rows


class Example:
    def __init__(self, fname, phase, obs):
        self.file = fname
        self.expected = phase
        self.obs = obs
        self.accept = set(phase.split("|"))
        # Probabilistic outcomes (p~0.9x) accept either phase.
        if re.search(r"p~0\.\d+", obs):
            self.accept |= {"Succeeded", "Failed"}
        if fname == "forever.yaml":
            # Stopped by the test (see check_forever).
            self.expected, self.accept = "Failed (stop)", {"Failed"}
        self.run = Run(os.path.join(EXAMPLES, fname))
        self.fn = globals().get(check_name(fname))
        self.verdict = None
        self.first = ""

    def runs(self):
        return [self.run] + list(self.run.extra.values())

    def check(self):
        x = self.run
        for r in self.runs():
            if r.error:
                fail("%s: %s" % (r.label if r is not x else "run", r.error))
        if self.fn is None:
            fail("no check function %s" % check_name(self.file))
        self.fn(x)
        expect(x.phase in self.accept, "phase %s (%s), expected %s" %
               (x.phase, x.status.get("message", ""), self.expected))
        for r in self.runs():
            self.check_structure(r)
            for n in r.nodes.values():
                expect(n.get("phase") not in ("Pending", "Running"),
                       "%s: node %s still %s after the workflow ended" %
                       (r.label, n["name"], n.get("phase")))
                hit = (n.get("memoizationStatus") or {}).get("hit")
                if n.get("type") == "Pod" and "exitCode" in out(n) and \
                        not hit:
                    expect(n.get("hostNodeName") in AGENTS,
                           "%s: node %s ran on %r" % (r.label, n["name"],
                                                      n.get("hostNodeName")))


    @staticmethod
    def check_structure(r):
        """The root node carries the workflow's name and phase (unless an
        exit handler failed); every other node but the exit handler is
        somebody's child, and every child exists."""
        byid = r.status.get("nodes", {})
        root = r.n("")
        onexit = r.nodes.get(r.name + ".onExit")
        if onexit is None or onexit.get("phase") == "Succeeded":
            eq(root.get("phase"), r.phase, "%s: root node phase" % r.label)
        linked = set()
        for n in byid.values():
            for c in n.get("children", []):
                expect(c in byid, "%s: %s lists a missing child %s" %
                       (r.label, n["name"], c))
                linked.add(c)
        for nid, n in byid.items():
            if n["name"] in (r.name, r.name + ".onExit"):
                continue
            expect(nid in linked, "%s: node %s is nobody's child" %
                   (r.label, n["name"]))


class Corpus:
    def __init__(self, c):
        self.c = c
        self.examples = [Example(*row) for row in load_rows()]
        self.by_file = {e.file: e for e in self.examples}
        self.runs = []
        self.hooks = []
        self.threads = []

    def submit(self, run):
        p = self.c.cli("submit", run.path, "-o", "name", *run.args,
                       check=False, timeout=60)
        run.submitted = time.time()
        if p.returncode != 0:
            run.error = "submit failed: %s" % (p.stderr.strip() or
                                               p.stdout.strip())[-400:]
            return
        run.name = p.stdout.strip().splitlines()[-1]
        self.runs.append(run)
        if run.watch:
            # Time-sensitive runs (a 5 s TTL, a 10 s maxAge) are followed by
            # `couler-coord wait` in a thread of their own, so that a slow
            # polling cycle (a sanitized build, 70 other workflows) cannot
            # make their checks late.
            def follow():
                self.c.cli("wait", run.name, check=False, timeout=BUDGET_S)
                self.finish(run)
            t = threading.Thread(target=follow, daemon=True)
            t.start()
            self.threads.append(t)

    def fetch_logs(self, run, follow=True):
        try:
            args = ["logs", run.name] + (["-f"] if follow else [])
            p = self.c.cli(*args, check=False, timeout=30)
        except subprocess.TimeoutExpired:
            p = self.c.cli("logs", run.name, check=False, timeout=30)
        return p.stdout if p.returncode == 0 else ""

    def finish(self, run):
        run.ended = time.time()
        p = self.c.cli("get", run.name, "-o", "json", check=False)
        if p.returncode == 0:
            run.st = json.loads(p.stdout)
        else:
            run.error = "get failed: %s" % p.stderr.strip()[-300:]
        if run.on_end is not None:
            run.on_end()
        run.log_text = self.fetch_logs(run)

    # ---- special flows -------------------------------------------------
    def setup_extras(self):
        ex = self.by_file
        e = ex["arguments-parameters.yaml"]
        e.run.extra["p"] = Run(e.run.path, ["-p", "message=bonjour from "
                                            "couler"], "-p message=...")
        e = ex["conditionals.yaml"]
        e.run.extra["no-print"] = Run(e.run.path,
                                      ["-p", "should-print=false"],
                                      "-p should-print=false")
        # memoize-simple: resubmitted as soon as the first run ended, within
        # its maxAge of 10 s; the second must be a cache hit.
        e = ex["memoize-simple.yaml"]
        e.run.extra["again"] = Run(e.run.path, [], "resubmission")
        e.run.extra["again"].deferred = True
        e.run.on_end = self.memo_resubmit
        e.run.watch = True
        ex["gc-ttl.yaml"].run.watch = True
        # synchronization-mutex-wf-level: submitted while another workflow
        # holds mutex 'test', so it has to wait for it.
        e = ex["synchronization-mutex-wf-level.yaml"]
        holder = os.path.join(self.c.dir, "mutex-holder.yaml")
        with open(holder, "w") as f:
            f.write(MUTEX_HOLDER)
        e.run.extra["holder"] = Run(holder, [], "mutex holder")
        e.run.deferred = True
        self.hooks.append(self.mutex_hook)
        # forever: stopped once it has logged a few numbers.
        self.hooks.append(self.forever_hook)
        # gc-ttl: the record must be gone some time after success.
        self.hooks.append(self.ttl_hook)

    def memo_resubmit(self):
        e = self.by_file["memoize-simple.yaml"]
        first, again = e.run, e.run.extra["again"]
        if first.phase == "Succeeded":
            self.submit(again)
            fin = ts(first.status.get("finishedAt"))
            first.notes["resubmit_gap"] = int(again.submitted) - fin \
                if fin else None
        else:
            again.error = "not resubmitted: the first run %s" % first.phase

    def mutex_hook(self, now):
        e = self.by_file["synchronization-mutex-wf-level.yaml"]
        x, holder = e.run, e.run.extra["holder"]
        if x.submitted is not None:
            return False
        if holder.name is None:
            x.error = "mutex holder not submitted: %s" % holder.error
            return False
        if holder.ended is not None or \
                "holding" in self.fetch_logs(holder, follow=False) or \
                now - holder.submitted > 60:
            self.submit(x)
            return False
        return True

    def forever_hook(self, now):
        x = self.by_file["forever.yaml"].run
        if x.name is None or x.notes.get("stopped") or x.ended:
            return False
        text = self.fetch_logs(x, follow=False)
        nums = [l.split(": ", 1)[1] for l in text.splitlines()
                if l.startswith("forever: ")]
        if len(nums) >= 3 or now - x.submitted > 90:
            x.notes["numbers_before_stop"] = nums
            self.c.cli("stop", x.name, check=False)
            x.notes["stopped"] = True
            return False
        return True

    def ttl_hook(self, now):
        x = self.by_file["gc-ttl.yaml"].run
        if x.name is None or x.error:
            return False
        if x.ended is None:
            return True
        waited = now - x.ended
        x.notes["ttl_waited"] = waited
        p = self.c.cli("get", x.name, "-o", "name", check=False)
        if p.returncode != 0 and "not found" in p.stderr:
            x.notes["gone_after"] = waited
            return False
        return waited < 30

    # ---- the whole run ---------------------------------------------------
    def drive(self):
        self.setup_extras()
        t0 = time.time()
        for e in self.examples:
            for r in e.runs():
                if r.deferred:
                    continue
                self.submit(r)
        sys.stderr.write("submitted %d workflows in %.1f s\n" %
                         (len(self.runs), time.time() - t0))
        deadline = t0 + BUDGET_S
        hooks = list(self.hooks)
        while time.time() < deadline:
            p = self.c.cli("list", "-o", "json", check=False)
            phases = {}
            if p.returncode == 0:
                phases = {w["name"]: w["phase"] for w in json.loads(p.stdout)}
            for r in self.runs:
                if r.ended is None and not r.watch and \
                        phases.get(r.name) in FINAL:
                    self.finish(r)
            now = time.time()
            hooks = [h for h in hooks if h(now)]
            if not hooks and all(r.ended is not None for r in self.runs):
                break
            time.sleep(1)
        for r in self.runs:
            if r.ended is None:
                st = None
                p = self.c.cli("get", r.name, "-o", "json", check=False)
                if p.returncode == 0:
                    st = json.loads(p.stdout)
                r.st = st
                r.error = "did not finish within %d s (phase %s)" % (
                    BUDGET_S, (st or {}).get("status", {}).get("phase"))
                r.log_text = self.fetch_logs(r, follow=False)
                self.c.cli("terminate", r.name, check=False)
        for e in self.examples:
            for r in e.runs():
                if r.submitted is None and not r.error:
                    r.error = "never submitted"
        sys.stderr.write("all workflows ended after %.1f s\n" %
                         (time.time() - t0))

    def dump(self, path):
        """Everything observed, for a closer look: COULER_CORPUS_DUMP=FILE."""
        out_ = {}
        for e in self.examples:
            for r in e.runs():
                out_["%s [%s]" % (e.file, r.label)] = {
                    "name": r.name, "error": r.error, "notes": r.notes,
                    "verdict": e.verdict, "first": e.first,
                    "logs": r.log_text, "workflow": r.st}
        with open(path, "w") as f:
            json.dump(out_, f, indent=1)

    def report(self):
        for e in self.examples:
            try:
                e.check()
                e.verdict = "PASS"
            except CheckFailed as err:
                e.verdict, e.first = "FAIL", str(err)
            except Exception:  # a check that crashed is a failed check
                e.verdict = "FAIL"
                e.first = "check raised: " + \
                    traceback.format_exc().strip().splitlines()[-1]
        w = max(len(e.file) for e in self.examples)
        lines = ["%-*s  %-17s %-9s %-4s  %s" % (w, "EXAMPLE", "EXPECTED",
                                                "ACTUAL", "", "FIRST FAILED "
                                                "CHECK")]
        for e in self.examples:
            lines.append("%-*s  %-17s %-9s %-4s  %s" % (
                w, e.file, e.expected, e.run.phase or "-", e.verdict,
                e.first.replace("\n", " ")[:400]))
        npass = sum(1 for e in self.examples if e.verdict == "PASS")
        lines.append("%d of %d pass" % (npass, len(self.examples)))
        return "\n".join(lines), [e for e in self.examples
                                  if e.verdict != "PASS"]


class TestCorpus(ClusterTest):
    @classmethod
    def setUpClass(cls):
        cls.failed = False
        # The cluster's files, the directory shared into steps included, go
        # in a directory of their own, apart from other clusters' on the host.
        cls.parent = tempfile.mkdtemp(prefix="couler-corpus-",
                                      dir="/var/tmp")
        saved, tempfile.tempdir = tempfile.tempdir, cls.parent
        try:
            cls.c = harness.Cluster(agents=0)
        finally:
            tempfile.tempdir = saved
        shutil.rmtree(cls.c.shared, ignore_errors=True)
        cls.c.shared = os.path.join(cls.parent, "shared")
        os.makedirs(cls.c.shared)
        try:
            # Most steps only sleep: let each agent run many at once.
            for name in AGENTS:
                cls.c.add_agent(name, ["--max-steps", "24"])
            cls.c.wait_nodes(len(AGENTS))
        except BaseException:
            cls.c.close(failed=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if not os.path.exists(cls.c.dir):  # files kept otherwise
                shutil.rmtree(cls.parent, ignore_errors=True)

    def test_corpus(self):
        corpus = Corpus(self.c)
        self.assertEqual(len(corpus.examples), 72)
        missing = [e.file for e in corpus.examples if e.fn is None]
        self.assertEqual(missing, [], "examples without a check function")
        corpus.drive()
        table, failed = corpus.report()
        dump = os.environ.get("COULER_CORPUS_DUMP")
        if dump:
            corpus.dump(dump)
        print(table)
        sys.stdout.flush()
        if failed:
            self.fail("%d of %d examples failed:\n%s" % (
                len(failed), len(corpus.examples),
                "\n".join("  %s: %s" % (e.file, e.first[:300])
                          for e in failed)))


def _on_sigterm(signum, frame):
    # Let the cluster be torn down (by pid) when the test itself is stopped.
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_sigterm)
    harness.main()

"""Integration harness: real couler-coord and couler-agent processes on
127.0.0.1, each with its own ports and data directory.

Every process started here is stopped by its pid (SIGTERM, then SIGKILL),
never by name. Set COULER_KEEP=1 to keep the temporary directory of a
failed run for inspection.
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.environ.get("COULER_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
SRC = os.environ.get("COULER_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
COORD = os.path.join(BIN, "couler-coord")
AGENT = os.path.join(BIN, "couler-agent")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_key(path, *keys):
    """A cluster key file (mode 0600): the primary first."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# cluster keys: the primary first\n")
        for k in keys:
            f.write(k + "\n")
    return path


_shims = []


def shims_dir():
    """tests/shims, where a step can see it: a step with a private view has
    a /tmp of its own, so a checkout under /tmp has its shims copied to
    /var/tmp (removed at exit)."""
    src = os.path.join(SRC, "tests", "shims")
    real = os.path.realpath(src)
    if real != "/tmp" and not real.startswith("/tmp/"):
        return src
    if not _shims:
        d = tempfile.mkdtemp(prefix="couler-it-shims-", dir="/var/tmp")
        os.chmod(d, 0o755)
        for name in os.listdir(src):
            shutil.copy2(os.path.join(src, name), os.path.join(d, name))
        atexit.register(shutil.rmtree, d, True)
        _shims.append(d)
    return _shims[0]


def step_env():
    """Environment for daemons: steps see the shims (argosay) and the
    places Debian puts games (cowsay) on PATH."""
    env = dict(os.environ)
    shims = shims_dir()
    env["PATH"] = ":".join([shims, env.get("PATH", "/usr/bin:/bin"),
                            "/usr/games", "/usr/local/games"])
    env.setdefault("COULER_LOG", "info")
    supp = os.path.join(SRC, "tests", "lsan.supp")
    # Full unwinding: the suppressed allocation is deep in a plugin built
    # without frame pointers.
    env.setdefault("LSAN_OPTIONS", "suppressions=%s:print_suppressions=0:"
                   "fast_unwind_on_malloc=0" %
                   supp)
    return env


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "double free", "corruption")


class Daemon:
    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, name + ".log")
        self.env = env or step_env()
        self.proc = None
        self.start()

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        log.close()

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    """A coordinator (`serve`) and `agents` agents, or one `up` process."""

    def __init__(self, agents=2, embedded=False, coord_args=(),
                 agent_args=None, agent_timeout_ms=4000, gossip=False):
        self.dir = tempfile.mkdtemp(prefix="couler-it-")
        # Steps run in private views; this host directory is shared into
        # every one of them, so tests can observe what steps did.
        # It lives outside /tmp: a step's /tmp is its own, and a bind under
        # it would show up in what a step sees (and collects) there.
        self.shared = tempfile.mkdtemp(prefix="couler-it-shared-",
                                       dir="/var/tmp")
        self.client_port = free_port()
        self.agent_port = free_port()
        self.coord_ep = "tcp://127.0.0.1:%d" % self.client_port
        self.agent_ep = "tcp://127.0.0.1:%d" % self.agent_port
        self.embedded = embedded
        self.gossip = gossip
        if gossip:
            # Agents find the coordinator through gossip (no --coord).
            self.key = write_key(os.path.join(self.dir, "cluster.key"),
                                 os.urandom(32).hex())
            self.coord_gossip = "127.0.0.1:%d" % free_port(socket.SOCK_DGRAM)
        self.coord_args = list(coord_args)
        self.agent_timeout_ms = agent_timeout_ms
        self.agents = []
        self.coord = None
        try:
            self.start_coord()
            for i in range(0 if embedded else agents):
                extra = agent_args[i] if agent_args else []
                self.add_agent("agent-%d" % (i + 1), extra)
            self.wait_nodes(1 if embedded else agents)
        except BaseException:
            # A half-started cluster is stopped here: unittest does not
            # call tearDownClass when setUpClass fails.
            self.close(failed=True)
            raise

    def coord_argv(self):
        verb = "up" if self.embedded else "serve"
        return [COORD, verb, "--data-dir", os.path.join(self.dir, "coord"),
                "--listen", self.coord_ep, "--agent-listen", self.agent_ep,
                "--agent-timeout-ms", str(self.agent_timeout_ms),
                "--heartbeat-ms", "300"] + \
            (["--bind", self.shared] if self.embedded else []) + \
            (["--gossip", self.coord_gossip, "--cluster-key", self.key]
             if self.gossip else []) + \
            self.coord_args

    def start_coord(self):
        self.coord = Daemon("coord", self.coord_argv(), self.dir)

    def add_agent(self, name, extra=(), data_dir=None, key=None):
        if self.gossip:
            where = ["--gossip", "127.0.0.1:%d" % free_port(socket.SOCK_DGRAM),
                     "--join", self.coord_gossip, "--cluster-key",
                     key or self.key]
        else:
            where = ["--coord", self.agent_ep]
        argv = [AGENT] + where + ["--name", name,
                "--data-dir", data_dir or os.path.join(self.dir, name),
                "--heartbeat-ms", "300", "--bind", self.shared] + list(extra)
        d = Daemon(name, argv, self.dir)
        self.agents.append(d)
        return d

    def restart_coord(self, kill9=True):
        if kill9:
            self.coord.kill9()
        else:
            self.coord.stop()
        self.start_coord()

    def sanitizer_reports(self):
        """Sanitizer or allocator reports in any daemon's log (a daemon
        built with ASan+UBSan reports there, and at exit)."""
        found = []
        for d in [self.coord] + self.agents:
            if d is None:
                continue
            text = d.log()
            for mark in SANITIZER_MARKS:
                if mark in text:
                    i = text.index(mark)
                    found.append("%s: %s" % (d.name, text[max(0, i - 200):
                                                          i + 3000]))
                    break
        return found

    def close(self, failed=False):
        for d in self.agents + [self.coord]:
            if d is not None and d.proc is not None:
                d.stop()
        reports = self.sanitizer_reports()
        if reports:
            failed = True
        if failed or os.environ.get("COULER_KEEP"):
            print("cluster files kept in %s" % self.dir, file=sys.stderr)
            for d in [x for x in [self.coord] + self.agents if x]:
                sys.stderr.write("---- %s log (tail) ----\n" % d.name)
                sys.stderr.write(d.log()[-6000:])
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.shared, ignore_errors=True)
        return reports

    # ---- the CLI ---------------------------------------------------------
    def cli(self, *args, check=True, input=None, timeout=120):
        env = dict(os.environ, COULER_COORD=self.coord_ep,
                   COULER_NO_UTF8="1")
        p = subprocess.run([COORD] + list(args), capture_output=True,
                           text=True, errors="replace", env=env, input=input,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("couler-coord %s -> %d\nstdout: %s\n"
                                 "stderr: %s" % (" ".join(args),
                                                 p.returncode, p.stdout,
                                                 p.stderr))
        return p

    def submit(self, path, *extra):
        p = self.cli("submit", path, "-o", "name", *extra)
        return p.stdout.strip().splitlines()[-1]

    def get(self, name):
        return json.loads(self.cli("get", name, "-o", "json").stdout)

    def wait(self, name, timeout=120):
        """Poll until the workflow ends; return its status object."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                st = self.get(name)
            except AssertionError:
                if not self.coord.alive():
                    raise
                time.sleep(0.3)
                continue
            if st["status"].get("phase") in ("Succeeded", "Failed", "Error"):
                return st
            time.sleep(0.3)
        raise AssertionError("workflow %s did not finish in %ds: %s" %
                             (name, timeout, json.dumps(self.get(name))[:2000]))

    def logs(self, name, step=None):
        args = ["logs", name] + ([step] if step else [])
        return self.cli(*args).stdout

    def nodes(self):
        return json.loads(self.cli("nodes", "-o", "json").stdout)

    def stats(self):
        out = self.cli("stats").stdout
        return {k: int(v) for k, v in
                (line.split() for line in out.splitlines() if line.strip())}

    def wait_nodes(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ready = [x for x in self.nodes() if x["state"] == "Ready"]
                if len(ready) >= n:
                    return ready
            except (AssertionError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError("only %s of %d agents ready" %
                             (self.nodes(), n))


def pods(status):
    """The Pod nodes of a status object, by display name."""
    return {n["displayName"]: n for n in status["status"]["nodes"].values()
            if n.get("type") == "Pod"}


class ClusterTest(unittest.TestCase):
    """Base class: one cluster per test class, torn down with its logs
    printed when a test failed."""
    agents = 2
    embedded = False
    coord_args = ()
    agent_args = None

    @classmethod
    def setUpClass(cls):
        cls.failed = False
        cls.c = Cluster(agents=cls.agents, embedded=cls.embedded,
                        coord_args=cls.coord_args, agent_args=cls.agent_args)

    @classmethod
    def tearDownClass(cls):
        reports = cls.c.close(failed=cls.failed)
        if reports:
            raise AssertionError("sanitizer reports from the daemons:\n" +
                                 "\n".join(reports))

    def run(self, result=None):
        res = super().run(result)
        if result is not None and (result.failures or result.errors):
            type(self).failed = True
        return res

    def write(self, name, text):
        path = os.path.join(self.c.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def main():
    unittest.main(verbosity=2)

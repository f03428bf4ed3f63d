"""The coordinator's HTTP server (--http): every endpoint against real
workflows, requests it must refuse, clients that are slow, many or
hostile, and the dashboard in a headless browser when Chromium is there."""
import http.client
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import harness
from harness import Cluster, ClusterTest, free_port, pods

HELLO = os.path.join(harness.SRC, "examples", "hello-dag.yaml")
HTTP_PORT = free_port()
HEAD_MAX = 16384
MAX_CONNS = 256      # HTTP_MAX_CONNS in coord_http.c
HEAD_TIMEOUT_S = 10  # HTTP_HEAD_MS

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
  - name: run
    inputs: {parameters: [{name: code}]}
    container:
      image: alpine
      command: [sh, -c, "echo exiting with {{inputs.parameters.code}}; exit {{inputs.parameters.code}}"]
"""

# About 0.9 MB of log, 3 MB as served with its step names: more than
# socket buffers hold.
CHATTY = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: chatty-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      command: [sh, -c, "seq 1 150000"]
"""


def request(method, path, headers=None, body=None, port=HTTP_PORT,
            timeout=20):
    """One request on a fresh connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def get_json(path):
    st, hd, body = request("GET", path)
    if st != 200:
        raise AssertionError("GET %s -> %d %r" % (path, st, body[:500]))
    assert hd["content-type"] == "application/json", hd
    return json.loads(body)


def complete(reply):
    """Whether reply holds a whole response (head and Content-Length)."""
    end = reply.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"\r\nContent-Length: (\d+)\r\n", reply[:end + 2])
    return m is not None and len(reply) >= end + 4 + int(m.group(1))


def raw(data, timeout=10, shut=False, until_close=False):
    """Send bytes on a fresh connection; read one whole response, or until
    the server closes (or timeout). Returns what came back."""
    s = socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent: read the answer
        out = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if not until_close and complete(out):
                break
        return out
    finally:
        s.close()


def status_of(reply):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", reply)
    return int(m.group(1)) if m else None


def read_response(f):
    """One response from a socket file: (status, headers, body)."""
    line = f.readline()
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", line)
    assert m, line
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers["content-length"]))
    return int(m.group(1)), headers, body


class TestHttp(ClusterTest):
    agents = 1
    coord_args = ("--http", "127.0.0.1:%d" % HTTP_PORT)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            deadline = time.time() + 20
            while True:
                try:
                    if request("GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.time() > deadline:
                    raise AssertionError("the HTTP server did not come up")
                time.sleep(0.2)
            c = cls.c
            cls.hello = c.submit(HELLO)
            path = os.path.join(c.dir, "failing.yaml")
            with open(path, "w") as f:
                f.write(FAILING)
            cls.failing = c.submit(path)
            path = os.path.join(c.dir, "chatty.yaml")
            with open(path, "w") as f:
                f.write(CHATTY)
            cls.chatty = c.submit(path)
            for n in (cls.hello, cls.failing, cls.chatty):
                c.wait(n)
            cls.hello_status = c.get(cls.hello)
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    def assert_alive(self):
        self.assertTrue(self.c.coord.alive(), "the coordinator died")
        st, _, body = request("GET", "/healthz")
        self.assertEqual((st, body), (200, b"ok"))

    # ---- endpoints -------------------------------------------------------
    def test_healthz(self):
        st, hd, body = request("GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"ok")
        self.assertTrue(hd["content-type"].startswith("text/plain"))
        self.assertEqual(hd["cache-control"], "no-store")
        self.assertEqual(hd["content-length"], "2")

    def test_workflow_list(self):
        st, hd, body = request("GET", "/api/workflows")
        self.assertEqual(st, 200)
        self.assertEqual(hd["cache-control"], "no-store")
        self.assertEqual(int(hd["content-length"]), len(body))
        items = {w["name"]: w for w in json.loads(body)}
        for n in (self.hello, self.failing, self.chatty):
            self.assertIn(n, items)
            for k in ("phase", "createdAt", "startedAt", "finishedAt",
                      "message", "progress", "uid"):
                self.assertIn(k, items[n])
        self.assertEqual(items[self.hello]["phase"], "Succeeded")
        self.assertEqual(items[self.hello]["progress"], "4/4")
        self.assertEqual(items[self.failing]["phase"], "Failed")
        self.assertIn("failed", items[self.failing]["message"])
        self.assertEqual(items[self.hello]["uid"],
                         self.hello_status["metadata"]["uid"])

    def test_workflow_object(self):
        wf = get_json("/api/workflows/" + self.hello)
        self.assertEqual(wf["kind"], "Workflow")
        self.assertEqual(wf["metadata"]["name"], self.hello)
        self.assertEqual(wf["status"]["phase"], "Succeeded")
        # The same object as the CLI's `get -o json`.
        self.assertEqual(wf["status"]["nodes"].keys(),
                         self.hello_status["status"]["nodes"].keys())
        p = pods(wf)
        self.assertEqual(sorted(p), ["A", "B", "C", "D"])
        for n in p.values():
            self.assertEqual(n["hostNodeName"], "agent-1")
            self.assertEqual(n["binding"]["node"], "agent-1")
        self.assertEqual(p["D"]["outputs"]["result"],
                         "D joins: 'B heard: hello from A' and 3 words")
        # Names are percent-decoded: every character escaped still finds it.
        escaped = "".join("%%%02X" % ord(ch) for ch in self.hello)
        self.assertEqual(get_json("/api/workflows/" + escaped)["metadata"]
                         ["name"], self.hello)
        # HEAD: the same fields, no body.
        st, hd, body = request("HEAD", "/api/workflows/" + self.hello)
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(hd["content-length"]),
                         len(request("GET", "/api/workflows/" +
                                     self.hello)[2]))

    def test_workflow_not_found(self):
        for name in ("no-such-workflow", "a%2Fb", "%C3%A9t%C3%A9",
                     self.hello + "x"):
            st, hd, body = request("GET", "/api/workflows/" + name)
            self.assertEqual(st, 404, name)
            self.assertEqual(hd["content-type"], "application/json")
            msg = json.loads(body)["error"]
            self.assertIn(urllib.parse.unquote(name), msg)
        # Not UTF-8: still a JSON 404.
        for path in ("/api/workflows/%FF%FE", "/api/workflows/%C3/logs"):
            st, hd, body = request("GET", path)
            self.assertEqual(st, 404, path)
            self.assertEqual(json.loads(body)["error"], "Not Found")
        st, _, body = request("GET", "/api/workflows/nope/logs")
        self.assertEqual(st, 404)
        self.assertIn("not found", json.loads(body)["error"])
        for path in ("/api/nope", "/api", "/api/workflows/x/y",
                     "/api/workflows/" + self.hello + "/logs/x",
                     "/api/workflows//logs"):
            st, hd, body = request("GET", path)
            self.assertEqual(st, 404, path)
            self.assertIn("error", json.loads(body))

    def test_logs(self):
        st, hd, body = request("GET", "/api/workflows/%s/logs" % self.hello)
        self.assertEqual(st, 200)
        self.assertTrue(hd["content-type"].startswith("text/plain"))
        self.assertEqual(hd["cache-control"], "no-store")
        text = body.decode()
        for line in ("A: hello from A", "B: B heard: hello from A",
                     "C: counted 3 words",
                     "D: D joins: 'B heard: hello from A' and 3 words"):
            self.assertIn(line, text.splitlines())
        # One step, by display name (escaped or not) and by node id.
        d_id = pods(self.hello_status)["D"]["id"]
        for q in ("D", "%44", urllib.parse.quote(d_id)):
            st, _, body = request("GET", "/api/workflows/%s/logs?x=1&step=%s"
                                  % (self.hello, q))
            self.assertEqual(st, 200)
            self.assertEqual(body.decode().splitlines(),
                             ["D: D joins: 'B heard: hello from A' and 3 "
                              "words"], q)
        st, _, body = request("GET", "/api/workflows/%s/logs?step=boom" %
                              self.failing)
        self.assertEqual(body, b"boom: exiting with 3\n")
        st, _, body = request("GET", "/api/workflows/%s/logs?step=%%zz" %
                              self.hello)
        self.assertEqual(st, 400)

    def test_big_logs_and_a_reader_that_does_not_read(self):
        path = "/api/workflows/%s/logs" % self.chatty
        st, hd, body = request("GET", path)
        self.assertEqual(st, 200)
        self.assertEqual(int(hd["content-length"]), len(body))
        lines = body.decode().splitlines()
        self.assertEqual(len(lines), 150000)
        self.assertEqual(lines[0], self.chatty + ": 1")
        self.assertEqual(lines[-1], self.chatty + ": 150000")
        # Ask for it again and again, never reading: the loop must not
        # wait on these clients, nor hold a copy of the logs for each of
        # them without bound (64 MiB of answers in flight, then 503s).
        stuck = []
        try:
            for _ in range(40):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", HTTP_PORT))
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" %
                           path).encode())
                stuck.append(s)
            codes = []
            for s in stuck:
                s.settimeout(10)
                head = b""
                while len(head) < 13:
                    chunk = s.recv(13 - len(head))
                    if not chunk:
                        break
                    head += chunk
                codes.append(status_of(head))
            self.assertEqual(set(codes), {200, 503}, codes)
            self.assertEqual(codes[0], 200)
            # Small answers still go out, at once.
            t0 = time.time()
            for p in ("/healthz", "/api/nodes", "/metrics",
                      "/api/workflows/" + self.hello, "/app.js"):
                self.assertEqual(request("GET", p, timeout=5)[0], 200, p)
            self.assertLess(time.time() - t0, 10)
            m = request("GET", "/metrics")[2].decode()
            busy = int(re.search(r"^couler_http_busy_total (\d+)$", m,
                                 re.M).group(1))
            self.assertEqual(busy, codes.count(503))
        finally:
            for s in stuck:
                s.close()
        # Once they are gone, big answers go out again.
        deadline = time.time() + 20
        while True:
            st, _, body = request("GET", path)
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertEqual(st, 200)
        self.assertEqual(len(body.decode().splitlines()), 150000)
        self.assert_alive()

    def test_nodes(self):
        nodes = get_json("/api/nodes")
        self.assertEqual([n["name"] for n in nodes], ["agent-1"])
        n = nodes[0]
        self.assertEqual(n["state"], "Ready")
        self.assertGreater(n["cores"], 0)
        self.assertGreaterEqual(n["pus"], n["cores"])
        self.assertGreater(n["memoryBytes"], 0)
        self.assertIn("gpus", n)
        self.assertIsInstance(n["gossip"], str)
        self.assertEqual(n["labels"]["kubernetes.io/hostname"], "agent-1")
        self.assertIsInstance(n["running"], list)
        self.assertIn("agent-1", n["model"])

    def test_metrics(self):
        st, hd, body = request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        values, types = {}, set()
        for line in body.decode().splitlines():
            if line.startswith("# TYPE "):
                types.add(line.split()[2])
                continue
            if line.startswith("#"):
                continue
            m = re.fullmatch(r'([a-z_]+)(\{[a-z]+="[^"]*"\})? (\d+)', line)
            self.assertIsNotNone(m, line)
            self.assertIn(m.group(1), types, line)
            values[m.group(1) + (m.group(2) or "")] = int(m.group(3))
        self.assertGreaterEqual(values['couler_workflows{phase="Succeeded"}'],
                                2)
        self.assertGreaterEqual(values['couler_workflows{phase="Failed"}'], 1)
        self.assertEqual(values['couler_nodes{state="Ready"}'], 1)
        self.assertGreaterEqual(values["couler_steps_exited_total"], 7)
        self.assertGreater(values['couler_http_requests_total{code="2xx"}'],
                           0)
        self.assertGreaterEqual(values["couler_http_connections"], 1)
        self.assertGreater(values["couler_http_connections_total"], 0)

    def test_dashboard_files(self):
        st, hd, body = request("GET", "/")
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'self'", hd["content-security-policy"])
        html = body.decode()
        self.assertIn('src="app.js"', html)
        self.assertIn('href="style.css"', html)
        self.assertEqual(request("GET", "/index.html")[2], body)
        for path, ctype in (("/app.js", "text/javascript"),
                            ("/style.css", "text/css"),
                            ("/favicon.svg", "image/svg+xml")):
            st, hd, body = request("GET", path)
            self.assertEqual(st, 200, path)
            self.assertTrue(hd["content-type"].startswith(ctype), hd)
            self.assertGreater(len(body), 100)
            with open(os.path.join(harness.SRC, "web", path[1:]), "rb") as f:
                self.assertEqual(body, f.read(), path)
        # Nothing is fetched from elsewhere: the page works offline.
        for path in ("/", "/app.js", "/style.css"):
            text = request("GET", path)[2].decode()
            self.assertIsNone(re.search(r"(src|href)=\"(https?:)?//", text),
                              path)
            self.assertNotIn("@import", text)
            self.assertIsNone(re.search(r"fetch\(\"https?:", text))
        st, _, _ = request("GET", "/nope.js")
        self.assertEqual(st, 404)
        st, _, _ = request("GET", "/%2e%2e/CMakeLists.txt")
        self.assertEqual(st, 404)

    # ---- what is refused -------------------------------------------------
    def test_other_methods(self):
        for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            st, hd, _ = request(m, "/api/workflows")
            self.assertEqual(st, 405, m)
            self.assertEqual(hd["allow"], "GET, HEAD")
        # With a body the server does not read: answered, then closed.
        reply = raw(b"POST /api/workflows HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 5\r\n\r\nhello")
        self.assertEqual(status_of(reply), 405)
        self.assertIn(b"Connection: close", reply)
        reply = raw(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
                    b"abc")
        self.assertEqual(status_of(reply), 413)
        self.assert_alive()

    def test_malformed_requests(self):
        cases = [
            (b"garbage\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),               # no Host
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01: y\r\n\r\n", 400),
            (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"GET relative HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             b"Content-Length: 0\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * HEAD_MAX +
             b"\r\n\r\n", 431),
            (b"GET / HTTP/1.1\r\nHost: x\r\n" +
             b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
            (b"GET /" + b"a" * (HEAD_MAX + 10) + b" HTTP/1.1\r\n\r\n", 414),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
             400),                                         # a TLS hello
        ]
        for data, want in cases:
            reply = raw(data)
            self.assertEqual(status_of(reply), want, (data[:80], reply[:200]))
            # The stream cannot be read past a bad head: closed.
            self.assertIn(b"Connection: close", reply)
        # A well-formed request with a bad escape: 400, and the connection
        # goes on.
        for target in (b"/%zz", b"/api/workflows/a%00b", b"/api/workflows/%"):
            reply = raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status_of(reply), 400, reply)
            self.assertIn(b"Connection: keep-alive", reply)
        # Within bounds is fine: 100 fields, a head just under 16 KiB.
        ok = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
              b"".join(b"X-H%d: v\r\n" % i for i in range(99)) + b"\r\n")
        self.assertEqual(status_of(raw(ok + b"GET /healthz HTTP/1.1\r\n"
                                       b"Host: x\r\nConnection: close\r\n"
                                       b"\r\n")), 200)
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "
        tail = b"\r\nConnection: close\r\n\r\n"
        pad = b"p" * (HEAD_MAX - len(head) - len(tail))
        reply = raw(head + pad + tail)
        self.assertEqual(status_of(reply), 200)
        self.assertTrue(reply.endswith(b"\r\n\r\nok"), reply[-100:])
        reply = raw(head + pad + b"p" + tail)
        self.assertEqual(status_of(reply), 431)
        self.assert_alive()

    # ---- connections -----------------------------------------------------
    def test_keep_alive_and_pipelining(self):
        conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
        try:
            for i in range(30):
                path = ("/healthz", "/api/nodes", "/metrics")[i % 3]
                conn.request("GET", path)
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.getheader("Connection"), "keep-alive")
                r.read()
        finally:
            conn.close()
        # Three requests in one write: three answers, in order; the last
        # asked to close.
        s = socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=10)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /api/workflows/" + self.hello.encode() +
                      b" HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            f = s.makefile("rb")
            st, hd, body = read_response(f)
            self.assertEqual((st, body), (200, b"ok"))
            st, hd, body = read_response(f)
            self.assertEqual(json.loads(body)["metadata"]["name"], self.hello)
            line = f.readline()
            self.assertTrue(line.startswith(b"HTTP/1.1 200"), line)
            rest = f.read()  # HEAD: fields only, then the server closes
            self.assertIn(b"Connection: close\r\n\r\n", rest)
            self.assertTrue(rest.endswith(b"\r\n\r\n"), rest[-50:])
        finally:
            s.close()
        # HTTP/1.0 closes unless asked to keep the connection.
        reply = raw(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(reply.endswith(b"ok"), reply)
        self.assertIn(b"Connection: close", reply)

    def test_slow_clients_do_not_block_others(self):
        slow = []
        try:
            for i in range(30):
                s = socket.create_connection(("127.0.0.1", HTTP_PORT))
                if i % 3 == 1:
                    s.sendall(b"GE")
                elif i % 3 == 2:
                    s.sendall(b"GET /api/workflows HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
            t0 = time.time()
            for _ in range(10):
                self.assertEqual(request("GET", "/api/workflows",
                                         timeout=5)[0], 200)
            self.assertLess(time.time() - t0, 10)
            # A byte at a time, slower than a request may take: cut off.
            s = slow[2]
            s.settimeout(HEAD_TIMEOUT_S * 3)
            deadline = time.time() + HEAD_TIMEOUT_S * 3
            closed = False
            while time.time() < deadline and not closed:
                try:
                    s.sendall(b"X")
                    time.sleep(0.5)
                except OSError:
                    closed = True
            self.assertTrue(closed, "a slow head was never cut off")
            # The silent ones are closed after the head timeout too.
            s = slow[0]
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")
        finally:
            for s in slow:
                s.close()
        self.assert_alive()

    def test_connection_cap(self):
        idle = []
        try:
            for _ in range(MAX_CONNS + 44):
                idle.append(socket.create_connection(("127.0.0.1",
                                                      HTTP_PORT)))
            # Over the cap, the least recently active connections make
            # room: a new client is still answered.
            for _ in range(3):
                self.assertEqual(request("GET", "/healthz", timeout=5)[0],
                                 200)
            # The evicted ones read as closed.
            closed = set()
            while True:
                ready, _, _ = select.select(
                    [s for s in idle if s not in closed], [], [], 1.0)
                if not ready:
                    break
                for s in ready:
                    try:
                        s.recv(1)
                    except ConnectionResetError:
                        pass
                    closed.add(s)
            self.assertGreaterEqual(len(closed), 44)
            self.assertLess(len(closed), len(idle))
            m = request("GET", "/metrics")[2].decode()
            n = int(re.search(r"^couler_http_connections (\d+)$", m,
                              re.M).group(1))
            self.assertLessEqual(n, MAX_CONNS)
            ev = int(re.search(r'dropped_total\{reason="evicted"\} (\d+)',
                               m).group(1))
            self.assertGreaterEqual(ev, 44)
        finally:
            for s in idle:
                s.close()
        self.assert_alive()

    def test_many_concurrent_clients(self):
        errors = []
        names = {self.hello, self.failing, self.chatty}

        def client(i):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT,
                                                  timeout=30)
                for k in range(10):
                    path = ("/api/workflows", "/api/nodes", "/metrics",
                            "/api/workflows/" + self.hello, "/")[(i + k) % 5]
                    conn.request("GET", path)
                    r = conn.getresponse()
                    body = r.read()
                    if r.status != 200:
                        errors.append((path, r.status))
                    elif path == "/api/workflows" and not names <= {
                            w["name"] for w in json.loads(body)}:
                        errors.append((path, body[:200]))
                conn.close()
            except Exception as e:  # noqa: B902 - collected and reported
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assert_alive()

    def test_hostile_input(self):
        rnd = random.Random(1234)
        payloads = [os.urandom(rnd.randrange(1, 3000)) for _ in range(40)]
        payloads += [
            b"\x00" * 100,
            b"\r\n" * 5000,                         # blank lines only
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"\n" * 20000,
            b"A" * 40000,                           # no line end at all
            b"GET /" + b"%" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/workflows/" + b"%41" * 5000 + b" HTTP/1.1\r\n"
            b"Host: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: "
            b"99999999999999999999999999\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 200,
        ]
        # Printable junk shaped like HTTP.
        for _ in range(40):
            parts = [rnd.choice([b"GET", b"HEAD", b"G\x00T", b"", b"POST"]),
                     rnd.choice([b" ", b"  ", b"\t", b""]),
                     rnd.choice([b"/", b"/api/workflows/%", b"*",
                                 b"/api/workflows/x/logs?step=%G",
                                 b"/" + bytes(rnd.randrange(256)
                                              for _ in range(20))]),
                     rnd.choice([b" HTTP/1.1", b" HTTP/1.", b" HTTP/9.9",
                                 b""]),
                     rnd.choice([b"\r\n", b"\n", b"\r", b"\r\r\n"]),
                     rnd.choice([b"Host: x\r\n", b"Host:\r\n", b": x\r\n",
                                 b"Connection: close, keep-alive\r\n", b""]),
                     rnd.choice([b"\r\n", b"", b"\n\n"])]
            payloads.append(b"".join(parts))
        # Sent at once from many threads; half the clients close their
        # side after sending, half wait for an answer that may not come.
        replies = [None] * len(payloads)

        def send(i):
            replies[i] = raw(payloads[i], timeout=3, shut=(i % 2 == 0),
                             until_close=True)

        for start in range(0, len(payloads), 32):
            threads = [threading.Thread(target=send, args=(i,)) for i in
                       range(start, min(start + 32, len(payloads)))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        for reply in replies:
            self.assertIsNotNone(reply)
            st = status_of(reply)
            self.assertTrue(st is None or 200 <= st < 600, reply[:100])
        # Connections cut in the middle of an answer.
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", HTTP_PORT))
            s.sendall(b"GET /api/workflows/%s/logs HTTP/1.1\r\nHost: x\r\n\r\n"
                      % self.chatty.encode())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()  # a reset
        self.assert_alive()
        # The rest of the coordinator is unharmed.
        self.assertIn(self.hello, self.c.cli("list").stdout)
        self.assertEqual(get_json("/api/workflows/" + self.hello)
                         ["status"]["phase"], "Succeeded")

    # ---- the dashboard in a browser -------------------------------------
    def chromium(self, url):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            self.skipTest("chromium is not installed: no headless check of "
                          "the dashboard (apt-get install chromium)")
        profile = tempfile.mkdtemp(prefix="couler-chromium-")
        try:
            p = subprocess.run(
                [exe, "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--user-data-dir=" + profile,
                 "--virtual-time-budget=8000", "--dump-dom", url],
                capture_output=True, text=True, timeout=120)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        return p.stdout

    def test_dashboard_in_a_browser(self):
        base = "http://127.0.0.1:%d/" % HTTP_PORT
        dom = self.chromium(base)
        # The list rendered, failures first.
        for n in (self.hello, self.failing, self.chatty):
            self.assertIn('data-name="%s"' % n, dom)
        self.assertLess(dom.index('data-name="%s"' % self.failing),
                        dom.index('data-name="%s"' % self.hello))
        self.assertRegex(dom, r'<tr class="failed" data-name="%s">' %
                         re.escape(self.failing))
        self.assertIn("updated", dom)
        # A workflow with a step's logs open.
        d_id = pods(self.hello_status)["D"]["id"]
        dom = self.chromium(base + "#/wf/%s/%s" % (self.hello, d_id))
        self.assertIn('id="tree"', dom)
        for n in pods(self.hello_status).values():
            self.assertIn('data-node="%s"' % n["id"], dom)
        self.assertIn("agent-1", dom)
        self.assertIn("D joins: 'B heard: hello from A' and 3 words",
                      dom.replace("&#39;", "'"))
        logs = re.search(r'<pre class="logs" id="logs">(.*?)</pre>', dom,
                         re.S)
        self.assertIsNotNone(logs, dom[-3000:])
        self.assertNotIn("A: hello from A", logs.group(1))  # D's only
        # The failed workflow shows its message.
        dom = self.chromium(base + "#/wf/" + self.failing)
        self.assertIn('id="wf-message"', dom)
        self.assertIn("boom: exiting with 3", dom)
        # Nodes.
        dom = self.chromium(base + "#/nodes")
        self.assertIn('data-node="agent-1"', dom)
        self.assertIn("Ready", dom)
        self.assertIn("kubernetes.io/hostname=", dom)


class TestHttpLifecycle(unittest.TestCase):
    """Start-up errors, and a stop with clients still connected."""

    def test_bad_and_busy_addresses(self):
        d = tempfile.mkdtemp(prefix="couler-it-")
        try:
            for addr, want in (("nonsense", "expected IP:PORT"),
                               ("127.0.0.1:99999", "expected IP:PORT"),
                               ("host.invalid:80", "not an IP address")):
                p = subprocess.run(
                    [harness.COORD, "serve", "--data-dir", d, "--listen",
                     "tcp://127.0.0.1:%d" % free_port(), "--http", addr],
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(want, p.stderr)
            with socket.socket() as busy:
                busy.bind(("127.0.0.1", 0))
                busy.listen(1)
                addr = "127.0.0.1:%d" % busy.getsockname()[1]
                p = subprocess.run(
                    [harness.COORD, "serve", "--data-dir", d, "--listen",
                     "tcp://127.0.0.1:%d" % free_port(), "--http", addr],
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn("cannot listen for HTTP on '%s'" % addr,
                              p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        for verb in ("serve", "up"):
            out = subprocess.run([harness.COORD, verb, "--help"],
                                 capture_output=True, text=True).stdout
            self.assertIn("--http IP:PORT", out)

    def test_stop_with_clients_connected(self):
        port = free_port()
        c = Cluster(agents=1, coord_args=("--http", "127.0.0.1:%d" % port))
        socks = []
        ok = False
        try:
            def get(path):
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=10)
                try:
                    conn.request("GET", path)
                    return conn.getresponse().read()
                finally:
                    conn.close()
            deadline = time.time() + 20
            while True:
                try:
                    if get("/healthz") == b"ok":
                        break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            # Idle, half-sent and kept-alive connections at the stop.
            for i in range(20):
                s = socket.create_connection(("127.0.0.1", port))
                if i % 2:
                    s.sendall(b"GET /api/nodes HTTP/1.1\r\nHost:")
                socks.append(s)
            ka = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            ka.request("GET", "/api/workflows")
            self.assertEqual(ka.getresponse().read(), b"[]")
            self.assertEqual(c.coord.stop(), 0)
            for s in socks:
                s.settimeout(5)
                try:
                    self.assertEqual(s.recv(10), b"")
                except ConnectionResetError:
                    pass
            ka.close()
            ok = True
        finally:
            for s in socks:
                s.close()
            reports = c.close(failed=not ok)
        self.assertEqual(reports, [])


if __name__ == "__main__":
    harness.main()

"""Helpers of the LAB STAND-IN images (see standin.py): logging, a tiny HTTP server, the Docker
socket, TCP and Valkey probes. NOT part of any real product."""
import http.client, json, os, socket, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KIND = os.environ.get("STANDIN", "?")


def log(msg):
    print(f"[LAB STAND-IN {KIND}] {msg}", flush=True)


def die(msg):
    log(f"fatal: {msg}")
    sys.exit(1)


def env_or_file(name):
    """The *_FILE convention (GF_..__FILE, SECRET_KEY_FILE): the file wins, unreadable is fatal."""
    for fname in (f"{name}__FILE", f"{name}_FILE"):
        if os.environ.get(fname):
            try:
                return open(os.environ[fname]).read().strip()
            except OSError as e:
                die(f"cannot read {fname}={os.environ[fname]}: {e}")
    return os.environ.get(name)


def serve(port, routes):
    class H(BaseHTTPRequestHandler):
        def handle_one(self, method):
            url = urllib.parse.urlparse(self.path)
            fn = routes.get((method, url.path))
            if not fn:
                return self.reply(404, {"error": "not found (lab stand-in)"})
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            self.reply(*fn(urllib.parse.parse_qs(url.query), body, self.headers))

        def reply(self, code, payload, headers=None):
            # A handler may return (code, payload) or (code, payload, {header: value}).
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.handle_one("GET")

        def do_POST(self):
            self.handle_one("POST")

        def do_PUT(self):
            self.handle_one("PUT")

        def do_DELETE(self):
            self.handle_one("DELETE")

        def log_message(self, fmt, *args):
            log(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")

    srv = ThreadingHTTPServer(("0.0.0.0", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    log(f"listening on :{port}")


def run_sql(conn, sql, args=()):
    """One statement in its own transaction on a new DB-API connection, closed after: rows or None."""
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def forever():
    while True:
        time.sleep(3600)


def tcp_ok(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


def valkey_ping(url):
    u = urllib.parse.urlparse(url)
    try:
        s = socket.create_connection((u.hostname, u.port or 6379), timeout=3)
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        ok = s.recv(64).startswith(b"+PONG")
        s.close()
        return ok
    except OSError:
        return False


class Docker(http.client.HTTPConnection):
    """HTTP over the Docker socket (what Alloy's discovery.docker talks to)."""

    def __init__(self, path="/var/run/docker.sock"):
        super().__init__("localhost", timeout=10)
        self.sock_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.sock_path)


def docker_get(path):
    c = Docker()
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise OSError(f"docker {path}: {r.status}")
    return data

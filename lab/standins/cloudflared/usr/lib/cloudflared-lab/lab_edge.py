"""LAB STAND-IN: the cloudflared side of a tunnel connection, against the lab's edge.

What it models of cloudflared 2026.8.2 (cloudflare/cloudflared at that tag):
- Connecting: the edge authenticates the connector by the tunnel's account, id and secret (a
  token or a credentials file). A refusal ("Unauthorized: ...") is logged and retried with
  backoff, never fatal (supervisor/supervisor.go: "Try again for Unauthorized errors"), and
  /ready answers 503 with readyConnections 0 meanwhile (metrics/readiness.go).
- Configuration: the orchestrator starts at version -1 with the local ingress and takes any
  configuration the edge pushes with a higher version (orchestration/orchestrator.go,
  UpdateConfig), so a remotely managed tunnel serves the dashboard/API ingress and ignores
  config.yml's; a locally managed one gets no push and keeps its file.
- Serving: requests arrive over the outbound connection (no inbound port on the host); each
  is matched against the ingress rules in order (ingress/rule.go: hostname exact or leading
  "*.", path as a regular expression; the last rule matches everything), then proxied to the
  service with the original Host header, or answered with http_status:N.
Not modelled: QUIC/HTTP2 framing, four connections to distinct colos (one connection counted
as four), originRequest options, non-HTTP services (tcp://, ssh://: answered 502), WARP.
The edge is the lab's (lab/cloudflare/cfapi.py): the connection is a long poll over HTTP.
"""
import base64, http.client, json, os, re, threading, time, urllib.request, uuid
from urllib.parse import urlsplit

# Where the lab writes its edge's address (the lab's answer to cloudflared's SRV lookup of
# _v2-origintunneld._tcp.argotunnel.com, edgediscovery/allregions/discovery.go).
EDGE_FILE = os.environ.get("CLOUDFLARED_LAB_EDGE_FILE", "/var/lib/infra-lab/cloudflare-edge")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "content-length"}


def edge_url():
    try:
        with open(EDGE_FILE) as f:
            return f.read().strip() or None
    except OSError:
        return None


def match(rules, host, path):
    """The first rule whose hostname and path match (ingress/rule.go, Rule.Matches)."""
    host = host.split(":")[0].lower()
    for r in rules:
        h = str(r.get("hostname") or "").lower()
        if h and not (h == host or (h.startswith("*.") and host.endswith(h[1:]))):
            continue
        if r.get("path") and not re.search(str(r["path"]), path):
            continue
        return r
    return None


class Connector:
    def __init__(self, edge, tok, local_ingress, log):
        self.edge, self.tok, self.log = edge.rstrip("/"), tok, log
        self.token = base64.b64encode(json.dumps(tok).encode()).decode()
        self.ingress, self.version, self.connected = list(local_ingress), -1, False
        self.id = str(uuid.uuid4())

    def connections(self):
        return 4 if self.connected else 0

    def post(self, path, body, timeout):
        req = urllib.request.Request(self.edge + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def run(self):
        backoff = 1
        while True:
            try:
                r = self.post("/lab/connector", {"token": self.token, "connector": self.id, "version": self.version,
                                                 "wait": 15}, timeout=25)
            except (OSError, ValueError) as e:
                self.down(f'Failed to dial a quic connection error="{e}"')
                time.sleep(backoff)
                backoff = min(backoff * 2, 8)
                continue
            if not r.get("ok"):
                self.down(f'Register tunnel error from server side error="{r.get("error")}"')
                time.sleep(backoff)
                backoff = min(backoff * 2, 8)
                continue
            backoff = 1
            if not self.connected:
                for i in range(4):
                    self.log("INF", f"Registered tunnel connection connIndex={i} connection={self.id} event=0 "
                                    f"ip={urlsplit(self.edge).hostname} location=lab0{i} protocol=quic")
                self.connected = True
            self.update(r)
            if r.get("request"):
                threading.Thread(target=self.serve, args=(r["request"],), daemon=True).start()

    def down(self, why):
        if self.connected:
            self.log("WRN", "Connection terminated: the edge is gone")
        self.connected = False
        self.log("ERR", why)

    def update(self, r):
        """UpdateConfig: only a remotely managed tunnel gets pushes; a version not above ours is ignored."""
        if r.get("config_src") != "cloudflare" or r.get("version", -1) <= self.version or not r.get("config"):
            return
        rules = r["config"].get("ingress")
        if not isinstance(rules, list) or not rules:
            self.log("ERR", f"Failed to update configuration error=\"no ingress rules\" version={r['version']}")
            return
        self.ingress, self.version = rules, r["version"]
        self.log("INF", f"Updated to new configuration config={json.dumps(r['config'], separators=(',', ':'))} "
                        f"version={self.version}")

    def serve(self, q):
        try:
            status, headers, body = self.proxy(q)
        except Exception as e:  # the origin refused or timed out: cloudflared answers 502
            self.log("ERR", f"Request failed error=\"{e}\" dest=https://{q['host']}{q['path']}")
            status, headers, body = 502, {"content-type": "text/plain"}, b"Bad Gateway\n"
        try:
            self.post("/lab/connector/reply", {"token": self.token, "id": q["id"], "status": status, "headers": headers,
                                               "body": base64.b64encode(body).decode()}, timeout=10)
        except (OSError, ValueError):
            pass

    def proxy(self, q):
        rules = self.ingress
        if not rules:
            # ingress.go: no rules at all → 503 for every request.
            return 503, {"content-type": "text/plain"}, b"no ingress rules\n"
        rule = match(rules, q["host"], q["path"])
        svc = str((rule or {}).get("service", "http_status:503"))
        m = re.fullmatch(r"http_status:(\d{3})", svc)
        if m:
            return int(m.group(1)), {"content-type": "text/plain"}, b""
        u = urlsplit(svc)
        if u.scheme not in ("http", "https"):
            return 502, {"content-type": "text/plain"}, f"LAB: {u.scheme} origins are not modelled\n".encode()
        conn = (http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection)(
            u.hostname, u.port or (443 if u.scheme == "https" else 80), timeout=20)
        headers = {k: v for k, v in q["headers"].items() if k.lower() not in HOP and k.lower() != "host"}
        headers["Host"] = q["host"]
        conn.request(q["method"], (u.path.rstrip("/") or "") + q["path"], body=base64.b64decode(q["body"]) or None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in HOP}, data

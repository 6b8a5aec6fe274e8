"""LAB STAND-IN: Cloudflare's edge for tunnels, beside the API stand-in (cfapi.py).

Models what a request for a public hostname goes through at Cloudflare, as far as infra's
routes depend on it:
- DNS: the hostname needs a proxied CNAME to <tunnel-id>.cfargotunnel.com in one of the
  account's zones (developers.cloudflare.com/cloudflare-one/connections/connect-networks/routing-to-tunnel/dns/);
  a hostname with no such record does not reach any tunnel (here: 404 with x-lab-edge: no-route;
  on the internet it would not resolve, or reach whatever the record names).
- The tunnel must have a healthy connector, else Cloudflare answers 530 "error code: 1033"
  (developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-1xxx-errors/error-1033/).
- The connector (cloudflared) authenticates with the tunnel's account, id and secret; a wrong
  one is refused "Unauthorized: Invalid tunnel secret" (the message cloudflared logs), and an
  unknown tunnel "Unauthorized: Tunnel not found".
- Configuration push: a remotely managed tunnel's connector gets the API's configuration and
  every newer version as soon as it is PUT (cloudflared's UpdateConfiguration RPC).
- Requests reach cloudflared over its own outbound connection (a long poll here), so the host
  needs no inbound port; the answer is whatever cloudflared's ingress makes of it.
Not modelled: TLS (the lab edge is plain HTTP on EDGE_PORT), caching, WAF, Access login pages
in front of a hostname (Access apps are stored by the API stand-in, not enforced), load
balancing between several connectors (any polling connector takes the request).
"""
import base64, json, threading, time, uuid
from http.server import BaseHTTPRequestHandler

COND = threading.Condition()
QUEUES = {}    # tunnel id → [request]
VERSIONS = {}  # tunnel id → latest configuration version (pushed to connectors)
REPLIES = {}   # request id → reply, once the connector answered
CTX = {}
SUFFIX = ".cfargotunnel.com"


def setup(lock, load, save, seed, ttl, now):
    CTX.update(lock=lock, load=load, save=save, seed=seed, ttl=ttl, now=now)


def config_changed(tid, version):
    with COND:
        VERSIONS[tid] = version
        COND.notify_all()


def dashboard_tunnel(state, tok):
    """A token the lab seeded as made in the dashboard (an explicit `tunnel.token`): its tunnel
    exists in the account, remotely managed, with only the catch-all rule the dashboard starts with."""
    for raw in CTX["seed"]().get("dashboard_tunnels", []):
        try:
            d = json.loads(base64.b64decode(raw + "=="))
        except ValueError:
            continue
        if d.get("t") == tok.get("t") and d.get("t") not in state["tunnels"]:
            state["tunnels"][d["t"]] = {"id": d["t"], "account_tag": d["a"], "name": "dashboard-" + d["t"][:8],
                                        "created_at": CTX["now"](), "deleted_at": None, "config_src": "cloudflare",
                                        "remote_config": True, "tun_type": "cfd_tunnel", "secret": d["s"]}
            state["configs"][d["t"]] = {"account_id": d["a"], "tunnel_id": d["t"], "version": 1, "source": "cloudflare",
                                        "config": {"ingress": [{"service": "http_status:404"}]}, "created_at": CTX["now"]()}


def connector(body):
    """One poll of a connector: authenticate, mark it connected, then wait (up to `wait` s) for a
    request or a configuration newer than the one it has; answer with the current configuration."""
    with CTX["lock"]:
        state = CTX["load"]()
        try:
            tok = json.loads(base64.b64decode(str(body.get("token", "")) + "=="))
            dashboard_tunnel(state, tok)
            t = state["tunnels"].get(tok["t"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return {"ok": False, "error": "Unauthorized: Invalid tunnel secret"}
        if not t or t.get("deleted_at"):
            return {"ok": False, "error": "Unauthorized: Tunnel not found"}
        if t["secret"] != tok.get("s") or t["account_tag"] != tok.get("a"):
            return {"ok": False, "error": "Unauthorized: Invalid tunnel secret"}
        cid = str(body.get("connector") or uuid.uuid4())
        # Registration answers at once (cloudflared is connected as soon as the edge accepts it),
        # so a new connector's first poll does not wait for work.
        first = cid not in state["connectors"]
        c = state["connectors"].setdefault(cid, {"id": cid, "tunnel": t["id"], "opened": CTX["now"]()})
        c.update(seen=time.time(), origin=str(body.get("origin", "")), tunnel=t["id"])
        t["ever_connected"] = True
        CTX["save"](state)
        cfg = state["configs"].get(t["id"]) if t["config_src"] == "cloudflare" else None
        tid, remote = t["id"], t["config_src"] == "cloudflare"
        version = (cfg or {}).get("version", -1)
    have, wait = int(body.get("version", -1)), 0 if first else min(float(body.get("wait", 0)), 20)
    with COND:
        VERSIONS.setdefault(tid, version)
        ready = lambda: QUEUES.get(tid) or (remote and VERSIONS.get(tid, -1) > have)
        COND.wait_for(ready, timeout=wait)
        request = QUEUES[tid].pop(0) if QUEUES.get(tid) else None
    if remote and VERSIONS.get(tid, -1) != version:
        with CTX["lock"]:
            cfg = CTX["load"]()["configs"].get(tid)
    return {"ok": True, "tunnel": tid, "config_src": "cloudflare" if remote else "local",
            "version": (cfg or {}).get("version", -1), "config": (cfg or {}).get("config"), "request": request}


def reply(body):
    with COND:
        REPLIES[str(body.get("id"))] = body
        COND.notify_all()
    return {"ok": True}


def route_of(host):
    """The tunnel a hostname reaches: its proxied CNAME to <id>.cfargotunnel.com, if any."""
    with CTX["lock"]:
        state = CTX["load"]()
    recs = [r for r in state["dns"].values() if r["name"] == host]
    rec = next((r for r in recs if r["type"] == "CNAME" and r["proxied"] and r["content"].endswith(SUFFIX)), None)
    if not rec:
        return None, state
    return state["tunnels"].get(rec["content"][: -len(SUFFIX)]), state


class Public(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        for k, v in (headers or {"content-type": "text/plain"}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        t, state = route_of(host)
        if not t or t.get("deleted_at"):
            return self.answer(404, f"LAB EDGE: no proxied record routes {host} to a tunnel\n", {
                "content-type": "text/plain", "x-lab-edge": "no-route"})
        now = time.time()
        live = [c for c in state["connectors"].values() if c["tunnel"] == t["id"] and now - c["seen"] < CTX["ttl"]]
        if not live:
            return self.answer(530, "error code: 1033\n", {"content-type": "text/plain", "x-lab-edge": "tunnel " + t["id"]})
        rid = uuid.uuid4().hex
        q = {"id": rid, "method": self.command, "host": host, "path": self.path,
             "headers": {k: v for k, v in self.headers.items()}, "body": base64.b64encode(body).decode()}
        with COND:
            QUEUES.setdefault(t["id"], []).append(q)
            COND.notify_all()
            got = COND.wait_for(lambda: rid in REPLIES, timeout=25)
            r = REPLIES.pop(rid, None)
            if not got and q in QUEUES.get(t["id"], []):
                QUEUES[t["id"]].remove(q)
        if not r:
            return self.answer(524, "error code: 524\n", {"content-type": "text/plain", "x-lab-edge": "tunnel " + t["id"]})
        headers = {k: v for k, v in (r.get("headers") or {}).items() if k.lower() not in ("content-length", "connection")}
        headers["x-lab-edge"] = "tunnel " + t["id"]
        self.answer(int(r.get("status", 502)), base64.b64decode(r.get("body") or ""), headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

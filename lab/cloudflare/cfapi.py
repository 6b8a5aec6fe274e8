#!/usr/bin/python3
"""LAB STAND-IN for Cloudflare's v4 API (infra lab; not the real product).

Models the endpoints infra calls, with the upstream shapes (cloudflare-typescript 7.3.0 and
developers.cloudflare.com/api): the envelope {success, errors, messages, result[, result_info]},
Bearer tokens (400 6003/6111 for a malformed header, 403 10000 "Authentication error" for an
unknown token or one without the permission), tunnels (config_src, status, connections,
token), tunnel configurations with versions (the PUT bumps it; the last rule must be a
catch-all), DNS records (81053 when a name already has a CNAME/A/AAAA), Access applications and
reusable policies, zones. Plus lab-only routes no real API has: /lab/connector[/reply] (the
edge side of a tunnel connection, edge.py), /lab/calls (write counters for tests) and
/lab/state (GET; DELETE empties the account); and the edge itself (edge.py) on EDGE_PORT. State lives in STATE_DIR/state.json; tokens and the account come from
STATE_DIR/seed.json, written by `infra --lab` from the inventory (re-read on each request).
"""
import base64, json, os, re, secrets, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import edge

STATE_DIR = sys.argv[1] if len(sys.argv) > 1 else "/var/lib/cfapi"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
EDGE_PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 80
PREFIX = "/client/v4"
LOCK = threading.Lock()
CONNECTOR_TTL = 30  # seconds a connector counts as connected after its last poll
NOW = lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load(name, default):
    try:
        with open(os.path.join(STATE_DIR, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(state):
    tmp = os.path.join(STATE_DIR, "state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, os.path.join(STATE_DIR, "state.json"))


def empty():
    return {"tunnels": {}, "configs": {}, "dns": {}, "apps": {}, "policies": {}, "connectors": {},
            "calls": {"read": 0, "write": 0, "writes": []}}


class ApiError(Exception):
    def __init__(self, status, code, message, chain=None):
        self.status, self.code, self.message, self.chain = status, code, message, chain


def auth_error():
    return ApiError(403, 10000, "Authentication error")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if not n:
            return {}
        try:
            doc = json.loads(self.rfile.read(n))
        except ValueError:
            raise ApiError(400, 6007, "Malformed JSON in request body")
        return doc if isinstance(doc, dict) else {}

    def handle_any(self, method):
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path.startswith("/lab/"):
                return self.reply(200, lab_route(method, url.path, query, self.body() if method != "GET" else {}))
            if not url.path.startswith(PREFIX):
                raise ApiError(404, 7003, "Could not route to %s, perhaps your object identifier is invalid?" % url.path)
            token = self.bearer()
            body = self.body() if method in ("POST", "PUT", "PATCH") else {}
            with LOCK:
                state = load("state.json", empty())
                result, info = route(method, url.path[len(PREFIX):], query, body, token, state)
                state["calls"]["read" if method == "GET" else "write"] += 1
                if method != "GET":
                    state["calls"]["writes"].append(f"{method} {url.path[len(PREFIX):]}")
                save(state)
            doc = {"success": True, "errors": [], "messages": [], "result": result}
            if info:
                doc["result_info"] = info
            self.reply(200, doc)
        except ApiError as e:
            err = {"code": e.code, "message": e.message}
            if e.chain:
                err["error_chain"] = e.chain
            self.reply(e.status, {"success": False, "errors": [err], "messages": [], "result": None})

    def bearer(self):
        h = self.headers.get("Authorization", "")
        m = re.fullmatch(r"Bearer ([A-Za-z0-9_\-=+/.]{8,})", h)
        if not m:
            raise ApiError(400, 6003, "Invalid request headers",
                           [{"code": 6111, "message": "Invalid format for Authorization header"}])
        return m.group(1)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


def allowed(token, account, perm):
    """The seed: {"tokens": {TOKEN: {"account": ID, "permissions": [...]}}, "accounts": {ID: {"zones": [...]}}}."""
    seed = load("seed.json", {})
    t = seed.get("tokens", {}).get(token)
    if not t or (account is not None and t.get("account") != account) or perm not in t.get("permissions", []):
        raise auth_error()
    return seed


def zone_id(name):
    return uuid.uuid5(uuid.NAMESPACE_DNS, "zone:" + name).hex


def page(items, query):
    per = max(1, min(int(query.get("per_page") or 100), 5000))
    n = max(1, int(query.get("page") or 1))
    chunk = items[(n - 1) * per:n * per]
    pages = max(1, (len(items) + per - 1) // per)
    return chunk, {"page": n, "per_page": per, "count": len(chunk), "total_count": len(items), "total_pages": pages}


def tunnel_view(t, state):
    now = time.time()
    conns = [c for c in state["connectors"].values() if c["tunnel"] == t["id"] and now - c["seen"] < CONNECTOR_TTL]
    status = "healthy" if conns else ("down" if t.get("ever_connected") else "inactive")
    return {**{k: v for k, v in t.items() if k not in ("secret", "ever_connected")}, "status": status,
            "connections": [{"id": c["id"], "colo_name": "lab", "is_pending_reconnect": False,
                             "origin_ip": c["origin"], "opened_at": c["opened"]} for c in conns for _ in range(4)]}


def check_ingress(cfg):
    ingress = (cfg or {}).get("ingress")
    if not isinstance(ingress, list) or not ingress:
        raise ApiError(400, 1055, "Validation failed: no ingress rules")
    for i, r in enumerate(ingress):
        if not isinstance(r, dict) or not r.get("service"):
            raise ApiError(400, 1055, f"Validation failed: rule #{i + 1} has no service")
        if i < len(ingress) - 1 and not r.get("hostname") and not r.get("path"):
            raise ApiError(400, 1055, f"Validation failed: rule #{i + 1} matches all requests but is not the last rule")
    if ingress[-1].get("hostname") or ingress[-1].get("path"):
        raise ApiError(400, 1055, "Validation failed: the last ingress rule must match all URLs")


def route(method, path, q, body, token, state):
    parts = [p for p in path.split("/") if p]
    # /zones
    if parts == ["zones"] and method == "GET":
        seed = allowed(token, None, "zones")
        acct = seed["tokens"][token]["account"]
        if q.get("account.id") not in (None, acct):
            raise auth_error()
        zones = [{"id": zone_id(z), "name": z, "status": "active", "account": {"id": acct}}
                 for z in seed.get("accounts", {}).get(acct, {}).get("zones", [])]
        if q.get("name"):
            zones = [z for z in zones if z["name"] == q["name"]]
        return page(zones, q)
    if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
        seed = allowed(token, None, "dns")
        acct = seed["tokens"][token]["account"]
        zones = {zone_id(z): z for z in seed.get("accounts", {}).get(acct, {}).get("zones", [])}
        if parts[1] not in zones:
            raise ApiError(400, 7003, "Could not route to /zones/%s/dns_records, perhaps your object identifier is invalid?" % parts[1])
        return dns(method, parts[1], zones[parts[1]], parts[3:], q, body, state)
    if len(parts) >= 3 and parts[0] == "accounts":
        acct = parts[1]
        if parts[2] == "cfd_tunnel":
            allowed(token, acct, "tunnels")
            return tunnels(method, acct, parts[3:], q, body, state)
        if parts[2] == "access" and len(parts) >= 4 and parts[3] in ("apps", "policies"):
            allowed(token, acct, "access")
            return access(method, acct, parts[3], parts[4:], q, body, state)
    raise ApiError(404, 7003, "Could not route to %s, perhaps your object identifier is invalid?" % path)


def tunnels(method, acct, rest, q, body, state):
    ts = state["tunnels"]
    if not rest:
        if method == "GET":
            items = [t for t in ts.values() if t["account_tag"] == acct]
            if q.get("is_deleted") == "false":
                items = [t for t in items if not t.get("deleted_at")]
            if q.get("name"):
                items = [t for t in items if t["name"] == q["name"]]
            return page([tunnel_view(t, state) for t in items], q)
        if method == "POST":
            name = body.get("name")
            if not isinstance(name, str) or not name:
                raise ApiError(400, 1001, "Missing tunnel name")
            if any(t["name"] == name and t["account_tag"] == acct and not t.get("deleted_at") for t in ts.values()):
                raise ApiError(409, 1013, "You already have a tunnel with this name")
            t = {"id": str(uuid.uuid4()), "account_tag": acct, "name": name, "created_at": NOW(), "deleted_at": None,
                 "config_src": body.get("config_src") or "local", "remote_config": body.get("config_src") == "cloudflare",
                 "tun_type": "cfd_tunnel", "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
            ts[t["id"]] = t
            return tunnel_view(t, state), None
    t = ts.get(rest[0]) if rest else None
    if not t or t["account_tag"] != acct or t.get("deleted_at"):
        raise ApiError(404, 1003, "Tunnel not found")
    sub = rest[1:]
    if not sub and method == "GET":
        return tunnel_view(t, state), None
    if sub == ["token"] and method == "GET":
        tok = {"a": acct, "t": t["id"], "s": t["secret"]}
        return base64.b64encode(json.dumps(tok, separators=(",", ":")).encode()).decode(), None
    if sub == ["connections"] and method == "GET":
        v = tunnel_view(t, state)
        return [{"id": c["id"], "conns": [x for x in v["connections"] if x["id"] == c["id"]]}
                for c in state["connectors"].values() if c["tunnel"] == t["id"]], None
    if sub == ["configurations"]:
        cur = state["configs"].get(t["id"])
        if method == "GET":
            return cur or {"account_id": acct, "tunnel_id": t["id"], "config": None, "version": 0, "source": "cloudflare"}, None
        if method == "PUT":
            if t["config_src"] != "cloudflare":
                raise ApiError(400, 1056, "Tunnel is locally configured: its configuration cannot be managed remotely")
            check_ingress(body.get("config"))
            new = {"account_id": acct, "tunnel_id": t["id"], "config": body["config"],
                   "version": (cur or {}).get("version", 0) + 1, "source": "cloudflare", "created_at": NOW()}
            state["configs"][t["id"]] = new
            edge.config_changed(t["id"], new["version"])
            return new, None
    raise ApiError(405, 10405, "Method not allowed")


def dns(method, zid, zname, rest, q, body, state):
    recs = state["dns"]
    mine = [r for r in recs.values() if r["zone_id"] == zid]
    if not rest and method == "GET":
        items = mine
        if q.get("name"):
            items = [r for r in items if r["name"] == q["name"].lower()]
        if q.get("type"):
            items = [r for r in items if r["type"] == q["type"]]
        return page(items, q)
    def checked(r, own_id=None):
        name = str(r.get("name") or "").lower().rstrip(".")
        if name != zname and not name.endswith("." + zname):
            raise ApiError(400, 9007, "Content for %s record is invalid: name is outside the zone" % r.get("type"))
        if r.get("type") not in ("A", "AAAA", "CNAME", "TXT", "MX"):
            raise ApiError(400, 9004, "DNS record type is invalid")
        clash = [x for x in mine if x["name"] == name and x["id"] != own_id and
                 ("CNAME" in (x["type"], r["type"]) or x["type"] == r["type"] == "CNAME")]
        if clash:
            raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        return {"id": own_id or uuid.uuid4().hex, "zone_id": zid, "zone_name": zname, "name": name, "type": r["type"],
                "content": r.get("content", ""), "proxied": bool(r.get("proxied")), "ttl": r.get("ttl", 1),
                "comment": r.get("comment"), "modified_on": NOW()}
    if not rest and method == "POST":
        r = checked(body)
        recs[r["id"]] = r
        return r, None
    r = recs.get(rest[0]) if rest else None
    if not r or r["zone_id"] != zid:
        raise ApiError(404, 81044, "Record does not exist.")
    if method == "GET":
        return r, None
    if method in ("PUT", "PATCH"):
        merged = {**r, **body} if method == "PATCH" else body
        new = checked(merged, r["id"])
        recs[r["id"]] = new
        return new, None
    if method == "DELETE":
        del recs[r["id"]]
        return {"id": r["id"]}, None
    raise ApiError(405, 10405, "Method not allowed")


def access(method, acct, kind, rest, q, body, state):
    coll = state["apps" if kind == "apps" else "policies"]
    def view(x):
        if kind == "apps":
            pol = [{**state["policies"][p["id"]], "precedence": p.get("precedence", 1)}
                   for p in x.get("policies", []) if p["id"] in state["policies"]]
            return {**x, "policies": pol}
        return x
    if not rest and method == "GET":
        return page([view(x) for x in coll.values() if x["account"] == acct], q)
    def shaped(b, own_id=None):
        if kind == "policies":
            if b.get("decision") not in ("allow", "deny", "non_identity", "bypass") or not isinstance(b.get("include"), list) or not b["include"]:
                raise ApiError(400, 12130, "access.api.error.invalid_request: decision and include are required")
            return {"id": own_id or str(uuid.uuid4()), "account": acct, "name": b.get("name"), "decision": b["decision"],
                    "include": b["include"], "exclude": b.get("exclude", []), "require": b.get("require", []),
                    "session_duration": b.get("session_duration", "24h"), "reusable": True}
        if b.get("type") != "self_hosted" or not b.get("domain"):
            raise ApiError(400, 12130, "access.api.error.invalid_request: type and domain are required")
        links = []
        for p in b.get("policies", []):
            pid = p if isinstance(p, str) else p.get("id")
            if pid not in state["policies"]:
                raise ApiError(400, 12130, "access.api.error.invalid_request: policy %s does not exist" % pid)
            links.append({"id": pid, "precedence": 1 if isinstance(p, str) else p.get("precedence", 1)})
        return {"id": own_id or str(uuid.uuid4()), "account": acct, "name": b.get("name") or b["domain"], "domain": b["domain"],
                "type": "self_hosted", "session_duration": b.get("session_duration", "24h"),
                "allowed_idps": b.get("allowed_idps", []), "policies": links, "aud": secrets.token_hex(32)}
    if not rest and method == "POST":
        x = shaped(body)
        coll[x["id"]] = x
        return view(x), None
    x = coll.get(rest[0]) if rest else None
    if not x or x["account"] != acct:
        raise ApiError(404, 12128, "access.api.error.not_found")
    if method == "GET":
        return view(x), None
    if method == "PUT":
        new = shaped(body, x["id"])
        coll[x["id"]] = new
        return view(new), None
    if method == "DELETE":
        del coll[x["id"]]
        return {"id": x["id"]}, None
    raise ApiError(405, 10405, "Method not allowed")


def lab_route(method, path, q, body):
    """Not Cloudflare's API: what the lab's cloudflared stand-in and tests use."""
    if path == "/lab/connector" and method == "POST":
        return edge.connector(body)
    if path == "/lab/connector/reply" and method == "POST":
        return edge.reply(body)
    with LOCK:
        state = load("state.json", empty())
        if path == "/lab/calls":
            if method == "DELETE":
                state["calls"] = {"read": 0, "write": 0, "writes": []}
                save(state)
            return state["calls"]
        if path == "/lab/state" and method == "GET":
            return {k: v for k, v in state.items() if k != "calls"}
        if path == "/lab/state" and method == "DELETE":
            # A test's fresh account (the seed stays): no tunnel, record or Access object left.
            save(empty())
            with edge.COND:
                edge.VERSIONS.clear()
            return {"ok": True}
    return {"ok": False, "error": "unknown lab route"}


if __name__ == "__main__":
    os.makedirs(STATE_DIR, exist_ok=True)
    srv = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    srv.daemon_threads = True
    edge.setup(LOCK, lambda: load("state.json", empty()), save, lambda: load("seed.json", {}), CONNECTOR_TTL, NOW)
    public = ThreadingHTTPServer(("0.0.0.0", EDGE_PORT), edge.Public)
    public.daemon_threads = True
    threading.Thread(target=public.serve_forever, daemon=True).start()
    print(f"LAB STAND-IN Cloudflare API on :{PORT}{PREFIX}, edge on :{EDGE_PORT}, state in {STATE_DIR}", flush=True)
    srv.serve_forever()

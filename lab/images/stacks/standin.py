#!/usr/bin/env python3
"""LAB STAND-IN for Grafana, Loki, Alloy, GlitchTip, Dokploy, Traefik and Metabase (STANDIN=<kind>).

NOT the real products. Docker Hub is unreachable in the lab, so each image carries the real
name and tag used by infra's compose templates and honours only the contract infra relies on:
the health endpoints infra checks, the config and secret files infra renders (a missing one
fails the start, as the real service would), and for Loki/Alloy a real log path: Alloy reads
container logs from the Docker socket and pushes them as JSON to Loki, which keeps them and
answers /loki/api/v1/query_range for equality selectors. Everything logs to stdout.
"""
import base64, json, os, re, sys, threading

from standin_lib import KIND, die, env_or_file, forever, log, serve
from standin_glitchtip import glitchtip  # its own module: CSRF, registration, superuser (docs/lab.md)


def grafana():
    home = "/var/lib/grafana"
    os.makedirs(home, exist_ok=True)
    stored = os.path.join(home, "standin-admin-password")
    # Like Grafana: the admin password is applied when the database is first created, then kept.
    if not os.path.exists(stored):
        pw = env_or_file("GF_SECURITY_ADMIN_PASSWORD") or "admin"
        open(stored, "w").write(pw)
    password = open(stored).read()
    ds_dir = "/etc/grafana/provisioning/datasources"
    sources = []
    for f in sorted(os.listdir(ds_dir)) if os.path.isdir(ds_dir) else []:
        text = open(os.path.join(ds_dir, f)).read()
        for block in text.split("- name:")[1:]:
            url = re.search(r"url:\s*(\S+)", block)
            typ = re.search(r"type:\s*(\S+)", block)
            sources.append({"name": block.split("\n")[0].strip(), "type": typ and typ.group(1), "url": url and url.group(1)})
    log(f"provisioned datasources: {sources}")

    def datasources(q, body, headers):
        want = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        return (200, sources) if headers.get("Authorization") == want else (401, {"message": "invalid username or password"})

    serve(int(os.environ.get("GF_SERVER_HTTP_PORT", 3000)), {
        ("GET", "/api/health"): lambda q, b, h: (200, {"database": "ok", "version": "lab stand-in"}),
        ("GET", "/api/datasources"): datasources,
    })
    forever()


def loki(args):
    cfg = next((a.split("=", 1)[1] for a in args if a.startswith("-config.file=")), None)
    if not cfg or not os.path.exists(cfg):
        die(f"-config.file missing or unreadable: {cfg}")
    text = open(cfg).read()
    retention = re.search(r"retention_period:\s*(\S+)", text)
    log(f"config {cfg}; retention_period {retention and retention.group(1)}")
    store = "/loki/standin-lines.jsonl"
    os.makedirs("/loki", exist_ok=True)
    lock = threading.Lock()

    def push(q, body, headers):
        try:
            streams = json.loads(body)["streams"]
        except (ValueError, KeyError):
            return 400, {"error": "the stand-in accepts JSON pushes only"}
        with lock, open(store, "a") as f:
            for s in streams:
                for ts, line in s["values"]:
                    f.write(json.dumps({"stream": s["stream"], "ts": ts, "line": line}) + "\n")
        return 204, ""

    def query_range(q, body, headers):
        # Loki's HTTP API: `limit` defaults to 100 entries, `direction` to backward (newest first).
        query = q.get("query", ["{}"])[0]
        limit = int(q.get("limit", ["100"])[0])
        forward = q.get("direction", ["backward"])[0].lower() == "forward"
        match = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', query.split("}")[0]))
        needle = re.search(r'\|=\s*"([^"]*)"', query)
        hits = []
        with lock:
            lines = open(store).read().splitlines() if os.path.exists(store) else []
        for raw in lines:
            e = json.loads(raw)
            if all(e["stream"].get(k) == v for k, v in match.items()) and (not needle or needle.group(1) in e["line"]):
                hits.append(e)
        hits.sort(key=lambda e: int(e["ts"]), reverse=not forward)
        result = {}
        for e in hits[:limit]:
            key = json.dumps(e["stream"], sort_keys=True)
            result.setdefault(key, {"stream": e["stream"], "values": []})["values"].append([e["ts"], e["line"]])
        data = {"resultType": "streams", "result": list(result.values())}
        return 200, {"status": "success", "data": data}

    serve(3100, {
        ("GET", "/ready"): lambda q, b, h: (200, "ready"),
        ("POST", "/loki/api/v1/push"): push,
        ("GET", "/loki/api/v1/query_range"): query_range,
    })
    forever()


def alloy(args):
    import standin_alloy  # its own module: loki.write's batching, retries and drops (docs/lab.md)

    standin_alloy.alloy(args)


def dokploy():
    import standin_dokploy  # its own module: Dokploy's contracts are larger than the others'

    standin_dokploy.main()


def metabase(args):
    import standin_metabase  # its own module: setup, sessions, data sources in PostgreSQL (docs/lab.md)

    standin_metabase.metabase(args)


def traefik():
    for port in (80, 443):
        serve(port, {})
    serve(8080, {("GET", "/ping"): lambda q, b, h: (200, "OK")})
    forever()


if __name__ == "__main__":
    argv = sys.argv[1:]
    log(f"started with {argv} (NOT the real product)")
    {"grafana": grafana, "dokploy": dokploy, "traefik": traefik}.get(KIND, lambda: None)()
    {"loki": loki, "alloy": alloy, "glitchtip": glitchtip, "metabase": metabase}.get(KIND, lambda a: die("unknown STANDIN"))(argv)

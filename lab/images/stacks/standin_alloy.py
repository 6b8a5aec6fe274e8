"""LAB STAND-IN for Alloy's docker-logs-to-Loki pipeline (loki.source.docker -> loki.write), NOT
the real product. It models, from grafana/alloy v1.10.2, exactly what an outage of the link to
Loki does (docs/lab.md, "The Alloy stand-in"):

- internal/component/common/loki/client/client.go: one goroutine builds batches (batch_size 1MiB,
  batch_wait 1s) and sends one at a time; sendBatch retries connection errors, 429 and 5xx with
  dskit backoff (min_backoff_period 500ms doubling to max_backoff_period 5m, jittered in
  [min, 2*min)), at most max_backoff_retries (10) attempts, then DROPS the batch ("final error
  sending batch"); any other 4xx is dropped at once. While it retries it reads nothing more.
- dskit backoff/backoff.go: Wait() counts the retry first and sleeps only while retries < max,
  so 10 attempts have 9 sleeps: 255.5 s to 511 s of waiting before a batch is lost.
- loki/source/docker/internal/dockertarget/target.go, loki/write/write.go, client/manager.go:
  every channel is unbuffered, so the tailer blocks and the lines not yet read stay in Docker's
  log file; the position moves as a line is handed on, before it is delivered (a batch in flight
  is lost on a restart).
- No WAL: `loki.write`'s `wal` block is experimental and off unless configured (infra does not).

Not modelled: protobuf+snappy (JSON pushes), per-tenant batches, max_streams, line size limits,
HTTP/2, the positions sync period (written after each batch), second-granularity positions
(nanoseconds here: no line is shipped twice), discovery's refresh interval (every loop).
"""
import calendar, http.client, json, os, random, re, socket, threading, time, urllib.parse

from standin_lib import die, docker_get, log, serve

# client/config.go and loki/write/types.go GetDefaultEndpointOptions at v1.10.2.
DEFAULTS = {"batch_wait": 1.0, "batch_size": 1 << 20, "remote_timeout": 10.0,
            "min_backoff_period": 0.5, "max_backoff_period": 300.0, "max_backoff_retries": 10}
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
SIZES = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1000, "MB": 10**6, "GB": 10**9}


def duration(name, text):
    """A Go duration ("500ms", "1m30s"); anything else is refused, as Alloy refuses the config."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        die(f"loki.write endpoint: {name} = {text!r} is not a duration")
    return sum(float(n) * UNITS[u] for n, u in parts)


def endpoint_options(cfg_text):
    """The first endpoint block of loki.write: the url and the options the retry path reads."""
    m = re.search(r'loki\.write\s+"[^"]*"\s*\{.*?endpoint\s*\{([^{}]*)\}', cfg_text, re.S)
    if not m:
        die("no loki.write endpoint block")
    body, opts = m.group(1), dict(DEFAULTS)
    url = re.search(r'\burl\s*=\s*"([^"]+)"', body)
    if not url:
        die("loki.write endpoint: url is required")
    opts["url"] = url.group(1)
    for key, raw in re.findall(r'\b(\w+)\s*=\s*("[^"]*"|\d+)', body):
        val = raw.strip('"')
        if key in ("batch_wait", "remote_timeout", "min_backoff_period", "max_backoff_period"):
            opts[key] = duration(key, val)
        elif key == "max_backoff_retries":
            opts[key] = int(val)  # 0: retry for ever (dskit: "zero means infinite retries")
        elif key == "batch_size":
            s = re.fullmatch(r"(\d+)(B|KiB|MiB|GiB|KB|MB|GB)", val)
            if not s:
                die(f"loki.write endpoint: batch_size = {val!r} is not a size")
            opts[key] = int(s.group(1)) * SIZES[s.group(2)]
    return opts


class Stats:
    """The loki_write_* counters upstream exposes on /metrics (client.go NewMetrics)."""

    def __init__(self, host):
        self.host, self.lock = host, threading.Lock()
        self.c = {"loki_write_sent_entries_total": 0, "loki_write_dropped_entries_total": 0,
                  "loki_write_batch_retries_total": 0}

    def add(self, name, n):
        with self.lock:
            self.c[name] += n

    def text(self):
        with self.lock:
            return "".join(f'{k}{{host="{self.host}",tenant=""}} {v}\n' for k, v in self.c.items())


def read_backlog(positions, limit):
    """Lines of every running container after its position, up to `limit` bytes (the first
    always fits). Returns (streams, new positions, entry count)."""
    streams, moved, size, count, full = [], {}, 0, 0, False
    host = socket.gethostname()
    for c in json.loads(docker_get("/containers/json")):
        pos = int(str(positions.get(c["Id"], "0")).replace(".", ""))  # older files kept "s.nnnnnnnnn"
        since = f"{pos // 10**9}.{pos % 10**9:09d}"
        raw = docker_get(f"/containers/{c['Id']}/logs?stdout=1&stderr=1&timestamps=1&since={since}")
        values = []
        while len(raw) >= 8 and not full:  # the multiplexed stream: 8-byte header per frame
            n = int.from_bytes(raw[4:8], "big")
            for line in raw[8 : 8 + n].decode("utf-8", "replace").splitlines():
                ts, _, text = line.partition(" ")
                m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", ts)
                if not m:
                    continue
                secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
                ns = int(f"{secs}{(m.group(2) or '').ljust(9, '0')[:9]}")
                if ns <= pos:
                    continue
                if size and size + len(text) > limit:  # the rest waits for the next batch
                    full = True
                    break
                values.append([str(ns), text])
                size += len(text)
                moved[c["Id"]] = str(ns)
            raw = raw[8 + n :]
        if values:
            count += len(values)
            streams.append({"stream": {"container": c["Names"][0].lstrip("/"),
                                       "compose_project": c["Labels"].get("com.docker.compose.project", ""),
                                       "host": host, "source": "docker"}, "values": values})
        if full:
            break
    return streams, moved, count


def post(opts, body):
    """One push: (status, error); status -1 for a connection-level error, as client.go send()."""
    url = urllib.parse.urlparse(opts["url"])
    try:
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=opts["remote_timeout"])
        conn.request("POST", url.path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read()[:1024].decode("utf-8", "replace")
        conn.close()
        return r.status, None if r.status // 100 == 2 else f"server returned HTTP status {r.status}: {text}"
    except OSError as e:
        return -1, str(e)


def send_batch(opts, streams, count, stats):
    """client.go sendBatch with dskit backoff: retry or drop, never keep a batch for ever."""
    body = json.dumps({"streams": streams})
    lo, mx = opts["min_backoff_period"], opts["max_backoff_period"]
    hi, retries = min(2 * lo, mx), 0
    while True:
        status, err = post(opts, body)
        if err is None:
            stats.add("loki_write_sent_entries_total", count)
            return
        if status > 0 and status != 429 and status // 100 != 5:
            break  # "Only retry 429s, 500s and connection-level errors."
        log(f"error sending batch, will retry status={status} error={err}")
        stats.add("loki_write_batch_retries_total", 1)
        retries += 1
        sleep = lo if lo >= hi else lo + random.random() * (hi - lo)
        if hi < mx:
            lo, hi = min(2 * lo, mx), min(2 * hi, mx)
        if opts["max_backoff_retries"] and retries >= opts["max_backoff_retries"]:
            break
        time.sleep(sleep)
    log(f"final error sending batch status={status} error={err}: dropped {count} entries")
    stats.add("loki_write_dropped_entries_total", count)


def alloy(args):
    cfg = next((a for a in args if a.endswith(".alloy")), None)
    if not cfg or not os.path.exists(cfg):
        die(f"config file missing: {cfg}")
    opts = endpoint_options(open(cfg).read())
    if not opts["url"].endswith("/loki/api/v1/push"):
        die(f"loki.write endpoint url {opts['url']} is not a Loki push URL")
    storage = next((a.split("=", 1)[1] for a in args if a.startswith("--storage.path=")), "/var/lib/alloy/data")
    os.makedirs(storage, exist_ok=True)
    pos_file = os.path.join(storage, "standin-positions.json")
    positions = json.load(open(pos_file)) if os.path.exists(pos_file) else {}
    stats = Stats(urllib.parse.urlparse(opts["url"]).netloc)
    log(f"shipping docker container logs of {socket.gethostname()} to {opts['url']} "
        f"(batch_size {opts['batch_size']}, retries {opts['max_backoff_retries']}, "
        f"backoff {opts['min_backoff_period']}s..{opts['max_backoff_period']}s)")
    serve(12345, {
        ("GET", "/-/ready"): lambda q, b, h: (200, "Alloy is ready."),
        ("GET", "/metrics"): lambda q, b, h: (200, stats.text()),
    })
    while True:
        try:
            streams, moved, count = read_backlog(positions, opts["batch_size"])
        except OSError as e:  # the Docker socket, not the link to Loki
            log(f"docker: {e}")
            streams, count = [], 0
        if not count:
            time.sleep(opts["batch_wait"])
            continue
        # The position moves when the lines are handed on (target.go), before delivery.
        positions.update(moved)
        json.dump(positions, open(pos_file, "w"))
        send_batch(opts, streams, count, stats)

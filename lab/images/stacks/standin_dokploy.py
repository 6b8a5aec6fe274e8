"""LAB STAND-IN for Dokploy v0.30.2 (dokploy/dokploy). NOT the real product.

Models what infra depends on, read from Dokploy's sources at v0.30.2 (docs/lab.md has the table):
- the start sequence of the image's CMD (Dockerfile): wait-for-postgres (TCP, 120 s), then the
  migration, which REALLY authenticates to PostgreSQL with the URL resolved exactly as
  packages/server/src/db/constants.ts does: a wrong password (or the legacy fallback when no
  variable names the secret) exits 1, so swarm restarts the task (a crash loop, as upstream);
- the auth secret as packages/server/src/lib/auth-secret.ts resolves it; STRICTER than upstream,
  which only warns: the stand-in refuses the public legacy default, so a test catches it;
- createDefaultTraefikConfig (packages/server/src/setup/traefik-setup.ts): the production default
  traefik.yml is written only when none exists (a directory in its place is removed first);
- better-auth's email endpoints under /api/auth with Dokploy's hook (packages/server/src/lib/auth.ts):
  the first sign-up becomes the owner, any later one is refused "Admin is already created";
- the REST API infra calls with an API key (API key, SSH key, servers): standin_dokploy_api.py;
- the tRPC procedures settings.health, settings.readTraefikConfig, settings.updateTraefikConfig
  (apps/dokploy/server/api/routers/settings.ts), the last two for the owner's session only.
"""
import base64, hashlib, hmac, json, os, secrets, socket, struct, sys, time, urllib.parse

from standin_lib import die, log, serve, forever

LEGACY_DB_URL = "postgres://dokploy:amukds4wi9001583845717ad2@{host}:5432/dokploy"  # constants.ts
LEGACY_AUTH_SECRET = "better-auth-secret-123456789"  # auth-secret.ts HARDCODED_LEGACY_SECRET
TRAEFIK = "/etc/dokploy/traefik"
COOKIE = "better-auth.session_token"

# getDefaultTraefikConfig() with NODE_ENV=production, as the yaml package stringifies it.
DEFAULT_TRAEFIK = """global:
  sendAnonymousUsage: false
providers:
  swarm:
    exposedByDefault: false
    watch: true
  docker:
    exposedByDefault: false
    watch: true
    network: dokploy-network
  file:
    directory: /etc/dokploy/traefik/dynamic
    watch: true
entryPoints:
  web:
    address: :80
  websecure:
    address: :443
    http3:
      advertisedPort: 443
    http:
      tls:
        certResolver: letsencrypt
api:
  insecure: true
certificatesResolvers:
  letsencrypt:
    acme:
      email: test@localhost.com
      storage: /etc/dokploy/traefik/dynamic/acme.json
      httpChallenge:
        entryPoint: web
"""


def read_secret(path):
    """constants.ts readSecret: the file's content trimmed; unreadable is fatal."""
    try:
        return open(path).read().strip()
    except OSError:
        die(f"Cannot read secret at {path}")


def database_url(env):
    """constants.ts, branch for branch."""
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"]
    if env.get("POSTGRES_PASSWORD_FILE"):
        pw = urllib.parse.quote(read_secret(env["POSTGRES_PASSWORD_FILE"]), safe="-_.!~*'()")  # encodeURIComponent
        user, db = env.get("POSTGRES_USER", "dokploy"), env.get("POSTGRES_DB", "dokploy")
        host, port = env.get("POSTGRES_HOST", "dokploy-postgres"), env.get("POSTGRES_PORT", "5432")
        return f"postgres://{user}:{pw}@{host}:{port}/{db}"
    log("[DEPRECATED DATABASE CONFIG] using the legacy hardcoded database credentials")
    return LEGACY_DB_URL.format(host="dokploy-postgres" if env.get("NODE_ENV") == "production" else "localhost")


def auth_secret(env):
    """auth-secret.ts; upstream falls back to the public default with a warning, the stand-in refuses."""
    secret = env.get("BETTER_AUTH_SECRET") or (
        read_secret(env["BETTER_AUTH_SECRET_FILE"]) if env.get("BETTER_AUTH_SECRET_FILE") else None
    )
    if not secret or secret == LEGACY_AUTH_SECRET:
        die("[DEPRECATED AUTH CONFIG] no BETTER_AUTH_SECRET(_FILE): sessions would be signed with the public "
            "default (upstream only warns; the LAB STAND-IN refuses)")
    return secret


class PG:
    """A minimal PostgreSQL v3 client: startup, cleartext/md5/SCRAM-SHA-256 auth, simple queries."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.user, self.pw = urllib.parse.unquote(u.username or ""), urllib.parse.unquote(u.password or "")
        self.s = socket.create_connection((u.hostname, u.port or 5432), timeout=10)
        params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in
                          (("user", self.user), ("database", u.path.lstrip("/") or self.user)))
        body = struct.pack("!i", 196608) + params + b"\0"
        self.s.sendall(struct.pack("!i", len(body) + 4) + body)
        self.auth()

    def send(self, kind, payload):
        self.s.sendall(kind + struct.pack("!i", len(payload) + 4) + payload)

    def recv(self):
        head = self.exact(5)
        return head[:1], self.exact(struct.unpack("!i", head[1:])[0] - 4)

    def exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise OSError("connection closed by the server")
            buf += chunk
        return buf

    @staticmethod
    def error(payload):
        fields = dict((f[:1], f[1:].decode(errors="replace")) for f in payload.split(b"\0") if f)
        return f"{fields.get(b'S', 'ERROR')}: {fields.get(b'M', '?')}"

    def auth(self):
        nonce = scram = None
        while True:
            kind, p = self.recv()
            if kind == b"E":
                raise PermissionError(self.error(p))
            if kind == b"Z":
                return
            if kind != b"R":
                continue
            code = struct.unpack("!i", p[:4])[0]
            if code == 3:
                self.send(b"p", self.pw.encode() + b"\0")
            elif code == 5:
                inner = hashlib.md5((self.pw + self.user).encode()).hexdigest().encode()
                self.send(b"p", b"md5" + hashlib.md5(inner + p[4:8]).hexdigest().encode() + b"\0")
            elif code == 10:
                nonce = base64.b64encode(secrets.token_bytes(18)).decode()
                first = f"n=,r={nonce}".encode()
                msg = b"SCRAM-SHA-256\0" + struct.pack("!i", len(first) + 3) + b"n,," + first
                self.send(b"p", msg)
                scram = first
            elif code == 11:
                server_first = p[4:].decode()
                attrs = dict(a.split("=", 1) for a in server_first.split(","))
                salted = hashlib.pbkdf2_hmac("sha256", self.pw.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
                client_key = hmac.new(salted, b"Client Key", "sha256").digest()
                final = f"c=biws,r={attrs['r']}"
                auth_msg = f"{scram.decode()},{server_first},{final}".encode()
                sig = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, "sha256").digest()
                proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
                self.send(b"p", f"{final},p={proof}".encode())

    def query(self, sql):
        self.send(b"Q", sql.encode() + b"\0")
        rows, err = [], None
        while True:
            kind, p = self.recv()
            if kind == b"D":
                n, off, row = struct.unpack("!h", p[:2])[0], 2, []
                for _ in range(n):
                    ln = struct.unpack("!i", p[off:off + 4])[0]
                    off += 4
                    row.append(None if ln < 0 else p[off:off + ln].decode())
                    off += max(ln, 0)
                rows.append(row)
            elif kind == b"E":
                err = self.error(p)
            elif kind == b"Z":
                if err:
                    raise OSError(err)
                return rows

    def close(self):
        self.send(b"X", b"")
        self.s.close()


def lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def wait_for_postgres(url):
    """apps/dokploy/wait-for-postgres.ts: TCP to the URL's host and port, POSTGRES_WAIT_TIMEOUT (120 s)."""
    u = urllib.parse.urlparse(url)
    end = time.time() + int(os.environ.get("POSTGRES_WAIT_TIMEOUT", "120000")) / 1000
    while True:
        try:
            socket.create_connection((u.hostname, u.port or 5432), timeout=3).close()
            return
        except OSError as e:
            if time.time() > end:
                die(f"[wait-for-postgres] {u.hostname}:{u.port or 5432} unreachable: {e}")
            time.sleep(2)


def migrate(url):
    """migration.mjs: a wrong password is fatal here, before the server starts."""
    try:
        db = PG(url)
        db.query("CREATE TABLE IF NOT EXISTS standin_member (email text PRIMARY KEY, pw text NOT NULL, role text NOT NULL)")
        db.close()
    except (OSError, PermissionError) as e:
        die(f"migration failed: {e}")
    log("migration: database reachable and authenticated")


def create_default_traefik_config():
    main = os.path.join(TRAEFIK, "traefik.yml")
    os.makedirs(TRAEFIK, exist_ok=True)
    if os.path.isdir(main):
        log("Found traefik.yml as directory, removing it...")
        os.system(f"rm -rf '{main}'")
    elif os.path.isfile(main):
        log("Main config already exists")
        return
    open(main, "w").write(DEFAULT_TRAEFIK)
    log("Traefik config created successfully")


def main():
    env = dict(os.environ)
    env.setdefault("NODE_ENV", "production")  # the image's Dockerfile sets it
    secret = auth_secret(env)
    url = database_url(env)
    wait_for_postgres(url)
    migrate(url)
    create_default_traefik_config()
    os.makedirs(os.path.join(TRAEFIK, "dynamic"), exist_ok=True)
    sessions = {}

    def hashpw(pw, salt=None):
        salt = salt or secrets.token_hex(8)
        return f"{salt}${hashlib.pbkdf2_hmac('sha256', pw.encode(), salt.encode(), 10000).hex()}"

    def db_rows(sql):
        db = PG(url)
        try:
            return db.query(sql)
        finally:
            db.close()

    def session_cookie(email):
        token = secrets.token_urlsafe(24)
        sessions[token] = email
        sig = base64.b64encode(hmac.new(secret.encode(), token.encode(), "sha256").digest()).decode()
        return token, {"Set-Cookie": f"{COOKIE}={token}.{sig}; Path=/; HttpOnly; SameSite=Lax"}

    def owner_of(headers):
        """The signed session cookie of the owner, or None."""
        for part in (headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            token, _, sig = value.rpartition(".")
            if name == COOKIE and token in sessions:
                want = base64.b64encode(hmac.new(secret.encode(), token.encode(), "sha256").digest()).decode()
                if hmac.compare_digest(want, urllib.parse.unquote(sig)):
                    return sessions[token]
        return None

    def body_json(body):
        try:
            return json.loads(body or b"{}")
        except ValueError:
            return {}

    def sign_up(q, body, headers):
        b = body_json(body)
        email, pw = str(b.get("email", "")).lower().strip(), str(b.get("password", ""))
        if "@" not in email:
            return 400, {"code": "INVALID_EMAIL", "message": "Invalid email"}
        if not 8 <= len(pw) <= 128:  # better-auth's default minPasswordLength/maxPasswordLength
            return 400, {"code": "PASSWORD_TOO_SHORT" if len(pw) < 8 else "PASSWORD_TOO_LONG", "message": "Invalid password length"}
        if db_rows("SELECT email FROM standin_member WHERE role = 'owner'"):
            return 400, {"code": "FAILED_TO_CREATE_USER", "message": "Admin is already created"}
        db_rows(f"INSERT INTO standin_member VALUES ({lit(email)}, {lit(hashpw(pw))}, 'owner')")
        log(f"owner created: {email}")
        token, cookie = session_cookie(email)  # autoSignIn on self-hosted
        return 200, {"token": token, "user": {"email": email, "role": "owner"}}, cookie

    def sign_in(q, body, headers):
        b = body_json(body)
        email, pw = str(b.get("email", "")).lower().strip(), str(b.get("password", ""))
        rows = db_rows(f"SELECT pw FROM standin_member WHERE email = {lit(email)}")
        if not rows or not hmac.compare_digest(hashpw(pw, rows[0][0].split("$")[0]), rows[0][0]):
            return 401, {"code": "INVALID_EMAIL_OR_PASSWORD", "message": "Invalid email or password"}
        token, cookie = session_cookie(email)
        return 200, {"redirect": False, "token": token, "user": {"email": email}}, cookie

    def trpc(data):
        return 200, {"result": {"data": {"json": data}}}

    unauthorized = (401, {"error": {"json": {"message": "UNAUTHORIZED", "code": -32001}}})

    def read_traefik(q, body, headers):
        return trpc(open(os.path.join(TRAEFIK, "traefik.yml")).read()) if owner_of(headers) else unauthorized

    def update_traefik(q, body, headers):
        if not owner_of(headers):
            return unauthorized
        text = (body_json(body).get("json") or {}).get("traefikConfig")
        if not isinstance(text, str):
            return 400, {"error": {"json": {"message": "traefikConfig: Required"}}}
        open(os.path.join(TRAEFIK, "traefik.yml"), "w").write(text)  # writeMainConfig
        return trpc(True)

    import standin_dokploy_api  # the REST API infra calls with an API key (its own module)
    api = standin_dokploy_api.routes(db_rows, lit, owner_of)
    serve(int(env.get("PORT", 3000)), {
        **api,
        ("GET", "/"): lambda q, b, h: (200, "Dokploy (LAB STAND-IN)"),
        ("GET", "/api/trpc/settings.health"): lambda q, b, h: trpc({"ok": True}),
        ("POST", "/api/auth/sign-up/email"): sign_up,
        ("POST", "/api/auth/sign-in/email"): sign_in,
        ("GET", "/api/trpc/settings.readTraefikConfig"): read_traefik,
        ("POST", "/api/trpc/settings.updateTraefikConfig"): update_traefik,
    })
    forever()


if __name__ == "__main__":
    sys.exit(main())

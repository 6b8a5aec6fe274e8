"""LAB STAND-IN for metabase/metabase (v0.64.1). NOT the real product.

Models the calls infra makes and what Metabase refuses, read from metabase/metabase (the stored
snapshots listed in docs/lab.md, "The Metabase stand-in"): src/metabase/server/routes.clj
(/api/health, the 503 while initialising), src/metabase/setup/api.clj + setup/settings.clj
(POST /api/setup, setup-token, has-user-setup), src/metabase/util/password.clj +
util/malli/schema.clj (ValidPassword), src/metabase/warehouses/api.clj (GET/POST/PUT
/api/database, test-connection-details, upsert-sensitive-fields), the secrets' mask
**MetabasePass**, bin/docker/run_metabase.sh (file_env: the *_FILE variables) and
docs/configuring-metabase/environment-variables.md. Its state lives in the REAL PostgreSQL given
by MB_DB_* (tables named as Metabase's own: core_user, core_session, metabase_database, setting),
so infra's probes read what a real Metabase would have written.
"""
import base64, hashlib, hmac, json, os, re, secrets, sys, threading, time, uuid

from standin_lib import die, log, run_sql, serve

MASK = "**MetabasePass**"  # secret/protected-password
INIT_SECONDS = 8  # real Metabase takes ~1-3 min to initialise; long enough to be seen, short for tests
# zxcvbn's list (resources/common_passwords.txt) has ~12k entries; a sample that meets the
# default complexity, so "common" is refused as upstream does (docs/lab.md says it is a sample).
COMMON = {"password1", "passw0rd", "abc123", "123456", "1234567", "12345678", "123456789", "qwerty1",
          "qwerty123", "letmein1", "welcome1", "monkey1", "dragon1", "iloveyou1", "admin123", "metabase1"}


def file_env(name):
    """bin/docker/run_metabase.sh file_env: VAR or VAR_FILE, both set is fatal."""
    val, path = os.environ.get(name), os.environ.get(f"{name}_FILE")
    if val and path:
        die(f"error: both {name} and {name}_FILE are set (but are exclusive)")
    if path:
        try:
            return open(path).read().rstrip("\n")
        except OSError as e:
            die(f"cannot read {name}_FILE={path}: {e}")
    return val


def env_bool(name, default):
    v = os.environ.get(name)
    return default if v is None else v.strip().lower() == "true"


def config():
    kind = os.environ.get("MB_DB_TYPE", "h2")
    # Real Metabase defaults to H2 in the container (lost on `docker rm`); STRICTER: the stand-in
    # refuses, so a missing setting fails loudly instead of passing on an embedded database.
    if kind != "postgres":
        die(f"MB_DB_TYPE is {kind!r}: the stand-in models only postgres (real Metabase would use embedded H2)")
    if os.environ.get("MB_DB_CONNECTION_URI") or os.environ.get("MB_DB_CONNECTION_URI_FILE"):
        die("MB_DB_CONNECTION_URI is not modelled by the stand-in (infra sets MB_DB_HOST/PORT/DBNAME/USER/PASS)")
    if os.environ.get("MB_ENCRYPTION_SECRET_KEY_FILE"):
        # run_metabase.sh has no file_env for it: real Metabase would silently store secrets in clear.
        die("MB_ENCRYPTION_SECRET_KEY_FILE is not read by Metabase (run_metabase.sh file_env list)")
    key = os.environ.get("MB_ENCRYPTION_SECRET_KEY")
    if key is not None and len(key) < 16:
        die("MB_ENCRYPTION_SECRET_KEY must be at least 16 characters")
    db = {"host": os.environ.get("MB_DB_HOST"), "port": int(os.environ.get("MB_DB_PORT") or 5432),
          "dbname": os.environ.get("MB_DB_DBNAME"), "user": file_env("MB_DB_USER"),
          "password": file_env("MB_DB_PASS")}
    missing = [k for k in ("host", "dbname", "user") if not db[k]]
    if missing:
        die(f"MB_DB_TYPE=postgres but {', '.join('MB_DB_' + m.upper() for m in missing)} unset")
    return {"db": db, "key": key, "port": int(os.environ.get("MB_JETTY_PORT") or 3000)}


# ---- pure rules (test/unit/metabase-standin.run.test.ts runs these without a database) ----

def password_problem(pw, length=None, complexity="normal"):
    """util/password.clj is-valid?: :normal is total >= 6 and digit >= 1, then not common."""
    total = length or (8 if complexity == "strong" else 6)
    if not isinstance(pw, str) or len(pw) < total or (complexity != "weak" and not re.search(r"\d", pw)):
        return "password is too common."
    if complexity != "weak" and pw.lower() in COMMON:
        return "password is too common."
    return None


def masked(details):
    """Database to-json: sensitive fields (postgres: password) are replaced by the mask."""
    return {k: (MASK if k == "password" and v else v) for k, v in details.items()}


def merged_details(stored, incoming):
    """warehouses/api.clj upsert-sensitive-fields: merge over the stored; the mask keeps the stored."""
    out = dict(stored)
    for k, v in incoming.items():
        out[k] = stored.get(k) if (k == "password" and v == MASK) else v
    return out


def setup_errors(body, token):
    """POST /api/setup's schema (defendpoint validates every parameter before the body runs)."""
    user, prefs = body.get("user") or {}, body.get("prefs") or {}
    errors = {}
    if not isinstance(body.get("token"), str) or not token or not hmac.compare_digest(body["token"], token):
        errors["token"] = "Token does not match the setup token."
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(user.get("email", ""))):
        errors["email"] = "value must be a valid email address."
    if (why := password_problem(user.get("password"), int(os.environ.get("MB_PASSWORD_LENGTH") or 0) or None,
                                os.environ.get("MB_PASSWORD_COMPLEXITY", "normal"))):
        errors["password"] = why
    if not str(prefs.get("site_name", "")).strip():
        errors["site_name"] = "value must be a non-blank string."
    return errors


def seal(key, text):
    """Details at rest: encrypted when MB_ENCRYPTION_SECRET_KEY is set (NOT Metabase's AES format:
    a SHA-256 keystream + HMAC, enough that the password is not stored in clear)."""
    if not key:
        return text
    nonce = secrets.token_bytes(16)
    data = text.encode()
    stream = b"".join(hashlib.sha256(key.encode() + nonce + i.to_bytes(4, "big")).digest()
                      for i in range(len(data) // 32 + 1))
    ct = bytes(a ^ b for a, b in zip(data, stream))
    mac = hmac.new(key.encode(), nonce + ct, "sha256").digest()
    return base64.b64encode(mac + nonce + ct).decode()


def unseal(key, stored):
    if not key or stored.lstrip().startswith("{"):
        return stored
    raw = base64.b64decode(stored)
    mac, nonce, ct = raw[:32], raw[32:48], raw[48:]
    if not hmac.compare_digest(mac, hmac.new(key.encode(), nonce + ct, "sha256").digest()):
        raise ValueError("details cannot be decrypted with this MB_ENCRYPTION_SECRET_KEY")
    stream = b"".join(hashlib.sha256(key.encode() + nonce + i.to_bytes(4, "big")).digest()
                      for i in range(len(ct) // 32 + 1))
    return bytes(a ^ b for a, b in zip(ct, stream)).decode()


def hash_password(pw, salt):
    # Real: bcrypt of salt+password (util/password.clj); the stand-in: PBKDF2 (stdlib only).
    return "pbkdf2$" + hashlib.pbkdf2_hmac("sha256", (salt + pw).encode(), salt.encode(), 20_000).hex()


# ---- the server ----

def connect(d, sslmode="prefer"):
    import psycopg2  # Debian's python3-psycopg2, in this stand-in's image only

    return psycopg2.connect(host=d.get("host"), port=int(d.get("port") or 5432), dbname=d.get("dbname"),
                            user=d.get("user"), password=d.get("password") or "", sslmode=sslmode,
                            connect_timeout=5)


def can_connect(details, ssl):
    """driver.u/can-connect-with-details?: a connection and SELECT 1; the error message, or None."""
    try:
        conn = connect(details, "require" if ssl else "disable")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
        return None
    except Exception as e:  # noqa: BLE001 - any driver error is the answer's message
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def test_connection_details(details):
    """POST: opportunistic SSL first (unless ssl is already true), then the details as given."""
    if details.get("ssl") is not True and can_connect(details, True) is None:
        return {**details, "ssl": True}, None
    err = can_connect(details, details.get("ssl") is True)
    return (details, None) if err is None else (None, {"message": err, "errors": {"dbname": err}})


class Metabase:
    def __init__(self, cfg):
        self.cfg, self.ready, self.started = cfg, False, time.time()

    def q(self, sql, args=()):
        return run_sql(connect(self.cfg["db"]), sql, args)

    def init(self):
        for attempt in range(30):
            try:
                self.q("SELECT 1")
                break
            except Exception as e:  # noqa: BLE001
                log(f"application database not reachable yet ({e}); retry {attempt + 1}/30")
                time.sleep(1)
        else:
            # This runs in a thread: sys.exit (die) would end the thread only, not the process.
            log("fatal: Unable to connect to the Metabase postgres application database")
            os._exit(1)
        self.q("""CREATE TABLE IF NOT EXISTS setting (key varchar(254) PRIMARY KEY, value text NOT NULL);
        CREATE TABLE IF NOT EXISTS core_user (id serial PRIMARY KEY, email varchar(254) NOT NULL UNIQUE,
          first_name varchar(254), last_name varchar(254), password varchar(254), password_salt varchar(254),
          is_superuser boolean NOT NULL DEFAULT false, is_active boolean NOT NULL DEFAULT true,
          date_joined timestamptz NOT NULL DEFAULT now(), last_login timestamptz);
        CREATE TABLE IF NOT EXISTS core_session (id varchar(254) PRIMARY KEY,
          user_id integer NOT NULL REFERENCES core_user(id), created_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE IF NOT EXISTS metabase_database (id serial PRIMARY KEY, name varchar(254) NOT NULL,
          engine varchar(254) NOT NULL, details text NOT NULL, creator_id integer,
          created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())""")
        # setup/settings.clj: the token is made on first launch while no user exists.
        if not self.has_user():
            self.q("INSERT INTO setting (key, value) VALUES ('setup-token', %s) ON CONFLICT DO NOTHING",
                   (str(uuid.uuid4()),))
        time.sleep(max(0.0, INIT_SECONDS - (time.time() - self.started)))
        self.ready = True
        log("Metabase Initialization COMPLETE (stand-in)")

    def has_user(self):
        return bool(self.q("SELECT 1 FROM core_user LIMIT 1"))

    def setting(self, key):
        rows = self.q("SELECT value FROM setting WHERE key = %s", (key,))
        return rows[0][0] if rows else None

    def user_of(self, headers):
        sid = headers.get("X-Metabase-Session") or ""
        m = re.search(r"metabase\.SESSION=([^;]+)", headers.get("Cookie", ""))
        sid = sid or (m.group(1) if m else "")
        rows = sid and self.q("SELECT u.id, u.is_superuser FROM core_session s JOIN core_user u ON u.id = s.user_id "
                              "WHERE s.id = %s AND u.is_active", (sid,))
        return rows[0] if rows else None

    def new_session(self, user_id):
        sid = str(uuid.uuid4())
        self.q("INSERT INTO core_session (id, user_id) VALUES (%s, %s)", (sid, user_id))
        self.q("UPDATE core_user SET last_login = now() WHERE id = %s", (user_id,))
        return sid

    def database_json(self, row):
        db_id, name, engine, details = row
        return {"id": db_id, "name": name, "engine": engine, "details": masked(json.loads(unseal(self.cfg["key"], details)))}

    def databases(self):
        return [self.database_json(r) for r in self.q(
            "SELECT id, name, engine, details FROM metabase_database ORDER BY lower(name), lower(engine)")]


def body_of(b):
    try:
        v = json.loads(b or b"{}")
        return v if isinstance(v, dict) else {}
    except ValueError:
        return {}


def routes(mb):
    def health(path, q, b, h):
        if not mb.ready:
            return 503, {"status": "initializing", "progress": round(min(0.99, (time.time() - mb.started) / INIT_SECONDS), 2)}
        try:
            mb.q("SELECT 1")
            return 200, {"status": "ok"}
        except Exception:  # noqa: BLE001
            return 503, {"status": "Unable to get app-db connection"}

    def properties(path, q, b, h):
        has_user = mb.has_user()
        tracking = os.environ.get("MB_ANON_TRACKING_ENABLED")
        return 200, {
            # Hidden once a user exists (the CVE-2023-38646 fix); the row stays, as upstream's.
            "setup-token": None if has_user else mb.setting("setup-token"),
            "has-user-setup": has_user,
            "anon-tracking-enabled": (tracking.lower() == "true") if tracking is not None else mb.setting("anon-tracking-enabled") == "true",
            "check-for-updates": env_bool("MB_CHECK_FOR_UPDATES", True),
            "site-name": mb.setting("site-name") or "Metabase",
            "password-complexity": {"total": 6, "digit": 1},
            "version": {"tag": "v0.64.1", "stand-in": "LAB STAND-IN, not the real product"},
        }

    def setup(path, q, b, h):
        body = body_of(b)
        errors = setup_errors(body, mb.setting("setup-token"))
        if errors:
            return 400, {"errors": errors}
        if mb.has_user():
            return 403, {"message": "The /api/setup route can only be used to create the first user, however a user currently exists."}
        user, salt = body["user"], str(uuid.uuid4())
        rows = mb.q("INSERT INTO core_user (email, first_name, last_name, password, password_salt, is_superuser) "
                    "VALUES (%s, %s, %s, %s, %s, true) RETURNING id",
                    (user["email"], user.get("first_name"), user.get("last_name"), hash_password(user["password"], salt), salt))
        for k, v in (("site-name", body["prefs"]["site_name"]), ("admin-email", user["email"]), ("anon-tracking-enabled", "true")):
            mb.q("INSERT INTO setting (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (k, v))
        return 200, {"id": mb.new_session(rows[0][0])}

    def login(path, q, b, h):
        body = body_of(b)
        rows = mb.q("SELECT id, password, password_salt FROM core_user WHERE lower(email) = lower(%s) AND is_active",
                    (str(body.get("username", "")),))
        if not rows or not hmac.compare_digest(hash_password(str(body.get("password", "")), rows[0][2]), rows[0][1]):
            return 401, {"errors": {"password": "did not match stored password"}}
        return 200, {"id": mb.new_session(rows[0][0])}

    def logout(path, q, b, h):
        if not mb.user_of(h):
            return 401, "Unauthenticated"
        mb.q("DELETE FROM core_session WHERE id = %s", (h.get("X-Metabase-Session", ""),))
        return 204, ""

    def admin(h):
        u = mb.user_of(h)
        if not u:
            return 401, "Unauthenticated"
        if not u[1]:
            return 403, "You don't have permissions to do that."
        return None

    def list_dbs(path, q, b, h):
        if not mb.user_of(h):
            return 401, "Unauthenticated"
        data = mb.databases()
        return 200, {"data": data, "total": len(data)}

    def add_db(path, q, b, h):
        if (refused := admin(h)):
            return refused
        body = body_of(b)
        if not str(body.get("name", "")).strip():
            return 400, {"errors": {"name": "value must be a non-blank string."}}
        if body.get("engine") != "postgres":
            return 400, {"errors": {"engine": "value must be a valid database engine."}}
        if not isinstance(body.get("details"), dict):
            return 400, {"errors": {"details": "Value must be a map."}}
        details, err = test_connection_details(body["details"])
        if err:
            return 400, err
        rows = mb.q("INSERT INTO metabase_database (name, engine, details, creator_id) VALUES (%s, 'postgres', %s, %s) "
                    "RETURNING id, name, engine, details", (body["name"], seal(mb.cfg["key"], json.dumps(details)), mb.user_of(h)[0]))
        return 200, mb.database_json(rows[0])

    def put_db(path, q, b, h):
        if (refused := admin(h)):
            return refused
        rows = mb.q("SELECT id, name, engine, details FROM metabase_database WHERE id = %s", (int(path.rsplit("/", 1)[1]),))
        if not rows:
            return 404, "Not found."
        body = body_of(b)
        stored = json.loads(unseal(mb.cfg["key"], rows[0][3]))
        details = merged_details(stored, body["details"]) if isinstance(body.get("details"), dict) else stored
        # Tested only when details (or the engine) changed; PUT does no opportunistic SSL.
        if details != stored and (err := can_connect(details, details.get("ssl") is True)):
            return 400, {"message": err}
        name = str(body.get("name") or rows[0][1])
        rows = mb.q("UPDATE metabase_database SET name = %s, details = %s, updated_at = now() WHERE id = %s "
                    "RETURNING id, name, engine, details", (name, seal(mb.cfg["key"], json.dumps(details)), rows[0][0]))
        return 200, mb.database_json(rows[0])

    table = [
        ("GET", r"/api/health", health, False),
        ("GET", r"/api/session/properties", properties, True),
        ("POST", r"/api/setup", setup, True),
        ("POST", r"/api/session", login, True),
        ("DELETE", r"/api/session", logout, True),
        ("GET", r"/api/database", list_dbs, True),
        ("POST", r"/api/database", add_db, True),
        ("PUT", r"/api/database/\d+", put_db, True),
    ]

    class Router:
        """standin_lib.serve asks routes.get((method, path)): matched here with path patterns."""

        def get(self, key):
            method, path = key
            for m, pattern, fn, gated in table:
                if m == method and re.fullmatch(pattern, path):
                    def call(q, b, h, fn=fn, gated=gated):
                        # server/routes.clj: every /api route but health answers 503 while initialising.
                        if gated and not mb.ready:
                            return 503, "Metabase is still initializing. Please sit tight..."
                        return fn(path, q, b, h)
                    return call
            return None

    return Router()


def metabase(args):
    cfg = config()
    mb = Metabase(cfg)
    log(f"application database postgres://{cfg['db']['user']}@{cfg['db']['host']}:{cfg['db']['port']}/{cfg['db']['dbname']}; "
        f"encryption {'on' if cfg['key'] else 'OFF (details stored in clear)'}; "
        f"anon tracking env={os.environ.get('MB_ANON_TRACKING_ENABLED')} check-for-updates env={os.environ.get('MB_CHECK_FOR_UPDATES')}")
    # Jetty answers first (health 503 "initializing"), then the application database is set up.
    serve(cfg["port"], routes(mb))
    init = threading.Thread(target=mb.init)
    init.start()
    init.join()
    while True:
        time.sleep(3600)

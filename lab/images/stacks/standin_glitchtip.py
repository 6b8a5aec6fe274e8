"""LAB STAND-IN for glitchtip/glitchtip (6.x). NOT the real product.

Models the parts of GlitchTip's contract that infra depends on, read from glitchtip-backend
(settings.py, apps/users/utils.py, glitchtip/api/api.py) and Django (middleware/csrf.py,
contrib/auth/management/commands/createsuperuser.py, contrib/auth/hashers.py); docs/lab.md
lists each behaviour with its source and what is not modelled. Users live in the REAL
PostgreSQL of the stack, in `users_user` (the real table of app `users`, model `User`), so infra's
probe reads what a real GlitchTip would have written.
"""
import base64, hashlib, hmac, json, os, secrets, sys, time, urllib.parse

from standin_lib import die, env_or_file, forever, log, run_sql, serve, valkey_ping

# Django's pbkdf2_sha256 format; the count is stored in each hash, as Django does. Django 6.0
# uses 1.2M rounds; the stand-in fewer, so a login costs milliseconds on a shared 2-core machine.
ITERATIONS = 20_000
SESSION = "/_allauth/browser/v1/auth/session"
LOGIN = "/_allauth/browser/v1/auth/login"
SIGNUP = "/_allauth/browser/v1/auth/signup"


def env_bool(name, default):
    v = os.environ.get(name)
    return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")


def settings():
    """settings.py at import: what every process (migrate, web, worker, manage.py) refuses."""
    key = env_or_file("SECRET_KEY")
    # Real 6.x falls back to "change_me" with a RuntimeWarning; Django refuses an empty key.
    # STRICTER than upstream: infra always sets SECRET_KEY_FILE, so a missing key is its bug.
    if not key or key == "change_me":
        die("SECRET_KEY is not set (the stand-in refuses GlitchTip's 'change_me' fallback)")
    domain = urllib.parse.urlparse(os.environ.get("GLITCHTIP_DOMAIN", "http://localhost:8000"))
    if domain.scheme not in ("http", "https"):
        die("ImproperlyConfigured: GLITCHTIP_DOMAIN must start with http or https")
    db = env_or_file("DATABASE_URL") or "postgres://postgres:postgres@postgres:5432/postgres"
    trusted = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
    return {
        "db": db,
        "trusted": trusted,
        "registration": env_bool("ENABLE_USER_REGISTRATION", True),
        "org_creation": env_bool("ENABLE_OPEN_USER_REGISTRATION", env_bool("ENABLE_ORGANIZATION_CREATION", False)),
    }


def connect(url):
    import psycopg2  # Debian's python3-psycopg2, installed in this stand-in only

    u = urllib.parse.urlparse(url)
    return psycopg2.connect(
        host=u.hostname, port=u.port or 5432, user=urllib.parse.unquote(u.username or ""),
        password=urllib.parse.unquote(u.password or ""), dbname=u.path.lstrip("/"), connect_timeout=5,
    )


def query(cfg, sql, args=()):
    return run_sql(connect(cfg["db"]), sql, args)


def make_password(raw):
    salt = secrets.token_urlsafe(16)[:22]
    dk = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt}${base64.b64encode(dk).decode()}"


def check_password(raw, encoded):
    try:
        algo, n, salt, want = encoded.split("$", 3)
    except ValueError:
        return False  # "!…": set_unusable_password()
    if algo != "pbkdf2_sha256":
        return False
    dk = hashlib.pbkdf2_hmac("sha256", raw.encode(), salt.encode(), int(n))
    return hmac.compare_digest(base64.b64encode(dk).decode(), want)


def migrate(cfg):
    # A subset of the real users_user columns: the ones infra reads and the stand-in uses.
    query(cfg, """CREATE TABLE IF NOT EXISTS users_user (
        id bigserial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz,
        is_superuser boolean NOT NULL, email varchar(254) NOT NULL UNIQUE,
        is_staff boolean NOT NULL, is_active boolean NOT NULL, created timestamptz NOT NULL DEFAULT now())""")
    log("migrations: users_user ready (the real image runs Django migrate and maintain_partitions)")


def registration_open(cfg):
    # apps/users/utils.py: ENABLE_USER_REGISTRATION or not User.objects.exists()
    return cfg["registration"] or not query(cfg, "SELECT 1 FROM users_user LIMIT 1")


def manage(argv):
    """./manage.py createsuperuser --noinput --email E (password: DJANGO_SUPERUSER_PASSWORD)."""
    cfg = settings()
    if argv[:1] != ["createsuperuser"] or "--noinput" not in argv:
        die(f"manage.py: the stand-in knows only `createsuperuser --noinput --email E`, not {argv}")
    email = next((a.split("=", 1)[1] for a in argv if a.startswith("--email=")), None)
    if email is None and "--email" in argv:
        email = argv[argv.index("--email") + 1]
    email = email or os.environ.get("DJANGO_SUPERUSER_EMAIL")
    if not email:
        print("CommandError: You must use --email with --noinput.", file=sys.stderr)
        sys.exit(1)
    if query(cfg, "SELECT 1 FROM users_user WHERE email = %s", (email,)):
        print("CommandError: Error: That email address is already taken.", file=sys.stderr)
        sys.exit(1)
    raw = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
    # Django: no password in --noinput mode means an unusable one (nobody can log in).
    pw = make_password(raw) if raw else "!" + secrets.token_urlsafe(30)
    query(cfg, "INSERT INTO users_user (password, is_superuser, email, is_staff, is_active) VALUES (%s, true, %s, true, true)", (pw, email))
    print("Superuser created successfully.")


def csrf_refusal(cfg, headers):
    """django/middleware/csrf.py for an unsafe method, as GlitchTip receives it from cloudflared:
    plain HTTP (GlitchTip sets no SECURE_PROXY_SSL_HEADER), so Django's own origin is http://Host."""
    origin = headers.get("Origin")
    if origin is not None:
        good = f"http://{headers.get('Host', '')}"
        trusted = origin == good or origin in cfg["trusted"] or any(
            t.startswith(("http://*.", "https://*.")) and origin.startswith(t.split("*.")[0])
            and origin.endswith("." + t.split("*.", 1)[1]) for t in cfg["trusted"])
        if not trusted:
            return f"Origin checking failed - {origin} does not match any trusted origins."
    cookies = dict(c.strip().split("=", 1) for c in headers.get("Cookie", "").split(";") if "=" in c)
    if "csrftoken" not in cookies:
        return "CSRF cookie not set."
    token = headers.get("X-CSRFToken")
    if not token:
        return "CSRF token missing."
    if not hmac.compare_digest(token, cookies["csrftoken"]):
        return "CSRF token incorrect."
    return None


def web(cfg, valkey):
    def forbidden(why):
        log(f"Forbidden (CSRF): {why}")
        return 403, f"Forbidden (403)\nCSRF verification failed. Request aborted.\n{why}\n"

    def health(q, b, h):
        try:
            query(cfg, "SELECT 1")
            ok = not valkey or valkey_ping(valkey)
        except Exception as e:  # noqa: BLE001 - any database error is "unhealthy"
            log(f"health: database: {e}")
            ok = False
        return (200, {"ok": True}) if ok else (503, {"ok": False})

    def api_settings(q, b, h):
        # glitchtip/api/api.py get_settings (camelCase), reduced to what the stand-in models.
        return 200, {
            "enableUserRegistration": registration_open(cfg),
            "enableOrganizationCreation": cfg["org_creation"],
            "version": "LAB STAND-IN",
        }

    def session(q, b, h):
        return 401, {"status": 401, "meta": {"is_authenticated": False}}, {
            "Set-Cookie": f"csrftoken={secrets.token_hex(16)}; Path=/; SameSite=Lax"}

    def body_of(b):
        try:
            return json.loads(b or b"{}")
        except ValueError:
            return {}

    def login(q, b, h):
        if (why := csrf_refusal(cfg, h)):
            return forbidden(why)
        data = body_of(b)
        rows = query(cfg, "SELECT id, password, is_superuser FROM users_user WHERE email = %s AND is_active", (data.get("email", ""),))
        if not rows or not check_password(str(data.get("password", "")), rows[0][1]):
            return 400, {"status": 400, "errors": [{
                "message": "The email address and/or password you specified are not correct.",
                "code": "email_password_mismatch", "param": "password"}]}
        query(cfg, "UPDATE users_user SET last_login = now() WHERE id = %s", (rows[0][0],))
        user = {"id": rows[0][0], "email": data["email"], "is_superuser": rows[0][2]}
        return 200, {"status": 200, "data": {"user": user}, "meta": {"is_authenticated": True}}, {
            "Set-Cookie": f"sessionid={secrets.token_hex(16)}; Path=/; HttpOnly; SameSite=Lax"}

    def signup(q, b, h):
        if (why := csrf_refusal(cfg, h)):
            return forbidden(why)
        if not registration_open(cfg):
            return 403, {"status": 403, "errors": [{"message": "Signup is closed.", "code": "signup_closed"}]}
        data = body_of(b)
        email, pw = data.get("email", ""), str(data.get("password", ""))
        if not email or len(pw) < 8 or query(cfg, "SELECT 1 FROM users_user WHERE email = %s", (email,)):
            return 400, {"status": 400, "errors": [{"message": "invalid signup", "code": "invalid"}]}
        query(cfg, "INSERT INTO users_user (password, is_superuser, email, is_staff, is_active) VALUES (%s, false, %s, false, true)", (make_password(pw), email))
        return 200, {"status": 200, "meta": {"is_authenticated": True}}

    serve(int(os.environ.get("PORT", 8000)), {
        ("GET", "/_health/"): health,
        ("GET", "/api/settings/"): api_settings,
        ("GET", SESSION): session,
        ("POST", LOGIN): login,
        ("POST", SIGNUP): signup,
        ("GET", "/"): lambda q, b, h: (200, "GlitchTip (LAB STAND-IN)"),
    })
    forever()


def glitchtip(args):
    cfg = settings()
    valkey = os.environ.get("VALKEY_URL", "")
    mail = urllib.parse.urlparse(os.environ.get("EMAIL_URL", ""))
    # settings.py applies EMAIL_URL only when the variable itself is set (EMAIL_URL_FILE is not read).
    log(f"GLITCHTIP_DOMAIN={os.environ.get('GLITCHTIP_DOMAIN')} CSRF_TRUSTED_ORIGINS={cfg['trusted']} "
        f"registration={'open' if cfg['registration'] else 'closed'} "
        f"mail={f'{mail.scheme}://{mail.hostname}:{mail.port}' if mail.scheme else 'none (nothing is sent)'}")
    if any("migrate" in a for a in args):
        try:
            migrate(cfg)
        except Exception as e:  # noqa: BLE001 - Django's migrate exits 1 on any database error
            die(f"migrate: {e}")
        sys.exit(0)
    if any("worker" in a for a in args):
        while True:
            log(f"worker heartbeat; valkey {'ok' if valkey_ping(valkey) else 'DOWN'}")
            time.sleep(30)
    web(cfg, valkey)

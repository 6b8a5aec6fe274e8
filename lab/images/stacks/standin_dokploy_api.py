"""LAB STAND-IN for Dokploy v0.30.2's REST API (the part infra calls). NOT the real product.

Read from Dokploy's sources at v0.30.2 (docs/lab.md has the table):
- apps/dokploy/pages/api/[...trpc].ts: every /api/<router>.<procedure> goes through
  validateRequest (packages/server/src/lib/auth.ts) first; no user -> 401 {"message":"Unauthorized"};
- validateRequest: an `x-api-key` header is verified by better-auth's apiKey plugin and, when
  present, decides alone (a wrong key is refused even with a valid session cookie); the key's
  metadata.organizationId is the session's organisation; without the header, the session cookie;
- user.createApiKey (routers/user.ts, services/user.ts createApiKey): a session's call, name 1-32
  characters (lib/api-keys.ts), metadata.organizationId of an organisation the user belongs to
  (else 403 "You are not a member of this organization"); the key is returned once, kept hashed;
- sshKey.generate / create / all (routers/ssh-key.ts, db/validations sshKeyCreate patterns,
  utils/filesystem/ssh.ts generateSSHKey: ssh2's generateKeyPairSync, comment "dokploy"; here
  ssh-keygen makes the same OpenSSH formats); create returns nothing, `all` returns whole rows,
  private keys included, as upstream does;
- server.create / update / remove / all / validate (routers/server.ts, db/schema/server.ts
  apiCreateServer: name, description, ipAddress, port, username, sshKeyId, serverType required);
  validate REALLY connects over SSH with the stored private key to ipAddress:port as username and
  runs setup/server-validate.ts's checks (docker, swarm, docker group), so a wrong user, address
  or an unauthorised key fails as upstream does ("Authentication failed: …" / "SSH connection
  error: …", a BAD_REQUEST).
Everything is kept in the stand-in's real PostgreSQL, so it survives a restart of the service.
"""
import hashlib, json, os, re, secrets, subprocess, tempfile, time

from standin_lib import log

RSA_PUB = re.compile(r"^ssh-rsa\s+([A-Za-z0-9+/=]+)\s*(.*)?\s*$")
ED_PUB = re.compile(r"^ssh-ed25519\s+([A-Za-z0-9+/=]+)\s*(.*)?\s*$")
RSA_PRIV = re.compile(r"^-----BEGIN RSA PRIVATE KEY-----\n([A-Za-z0-9+/=\n]+)-----END RSA PRIVATE KEY-----\s*$")
ED_PRIV = re.compile(r"^-----BEGIN OPENSSH PRIVATE KEY-----\n([A-Za-z0-9+/=\n]+)-----END OPENSSH PRIVATE KEY-----\s*$")
UNAUTHORIZED = (401, {"message": "Unauthorized"})  # pages/api/[...trpc].ts
SERVER_COLS = ["serverId", "name", "description", "ipAddress", "port", "username", "appName",
               "enableDockerCleanup", "createdAt", "organizationId", "serverStatus", "serverType", "sshKeyId"]
KEY_COLS = ["sshKeyId", "privateKey", "publicKey", "name", "description", "createdAt", "organizationId"]

# setup/server-validate.ts, the checks whose answer infra reads, in the same shell.
VALIDATE = r"""
command_exists() { command -v "$@" > /dev/null 2>&1; }
if command_exists docker; then d="$(docker --version | awk '{print $3}' | sed 's/,//') true"; else d="0.0.0 false"; fi
if docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null | grep -q 'active'; then sw=true; else sw=false; fi
if [ -d /etc/dokploy ]; then md=true; else md=false; fi
if [ "$(id -u)" -eq 0 ]; then pm=root; elif sudo -n true 2>/dev/null; then pm=sudo; else pm=none; fi
if groups | grep -qw docker; then dg=true; else dg=false; fi
echo "{\"docker\": {\"version\": \"${d% *}\", \"enabled\": ${d#* }}, \"isSwarmInstalled\": $sw, \"isMainDirectoryInstalled\": $md, \"privilegeMode\": \"$pm\", \"dockerGroupMember\": $dg}"
"""


def nanoid():
    return secrets.token_urlsafe(16)[:21]


def bad(message):
    return 400, {"message": message, "code": "BAD_REQUEST"}


def invalid(field, message="Required"):
    """trpc-openapi's answer to input that fails the zod schema."""
    return 400, {"message": "Input validation failed", "code": "BAD_REQUEST",
                 "issues": [{"path": [field], "message": message}]}


def routes(db_rows, lit, owner_of):
    db_rows("""CREATE TABLE IF NOT EXISTS standin_org (id text PRIMARY KEY, owner text NOT NULL UNIQUE);
      CREATE TABLE IF NOT EXISTS standin_apikey (id text PRIMARY KEY, hash text NOT NULL, name text, email text, org text);
      CREATE TABLE IF NOT EXISTS standin_sshkey ("sshKeyId" text PRIMARY KEY, "privateKey" text, "publicKey" text,
        name text, description text, "createdAt" text, "organizationId" text);
      CREATE TABLE IF NOT EXISTS standin_server ("serverId" text PRIMARY KEY, name text, description text,
        "ipAddress" text, port int, username text, "appName" text, "enableDockerCleanup" boolean, "createdAt" text,
        "organizationId" text, "serverStatus" text, "serverType" text, "sshKeyId" text)""")

    def org_of(email):
        rows = db_rows(f"SELECT id FROM standin_org WHERE owner = {lit(email)}")
        if rows:
            return rows[0][0]
        db_rows(f"INSERT INTO standin_org VALUES ({lit(nanoid())}, {lit(email)}) ON CONFLICT DO NOTHING")
        return db_rows(f"SELECT id FROM standin_org WHERE owner = {lit(email)}")[0][0]

    def session(headers):
        """validateRequest: (email, organisation) or None."""
        key = headers.get("x-api-key")
        if key:
            h = hashlib.sha256(key.encode()).hexdigest()
            rows = db_rows(f"SELECT email, org FROM standin_apikey WHERE hash = {lit(h)}")
            return (rows[0][0], rows[0][1]) if rows and rows[0][1] else None
        email = owner_of(headers)
        return (email, org_of(email)) if email else None

    def body_of(body):
        try:
            b = json.loads(body or b"{}")
            return b if isinstance(b, dict) else {}
        except ValueError:
            return {}

    def authed(fn):
        def handler(q, body, headers):
            s = session(headers)
            return fn(s, q, body_of(body)) if s else UNAUTHORIZED
        return handler

    def rows_as(cols, table, where):
        quoted = ", ".join(f'"{c}"' for c in cols)
        out = []
        for r in db_rows(f"SELECT {quoted} FROM {table} WHERE {where}"):
            d = dict(zip(cols, r))
            for k in ("port",):
                if k in d and d[k] is not None:
                    d[k] = int(d[k])
            if "enableDockerCleanup" in d:
                d["enableDockerCleanup"] = d["enableDockerCleanup"] == "t"
            out.append(d)
        return out

    def organizations(s, q, b):
        return 200, [{"id": s[1], "name": "My Organization", "ownerId": s[0], "members": [{"userId": s[0], "role": "owner"}]}]

    def create_api_key(s, q, b):
        name, meta = b.get("name"), b.get("metadata")
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            return invalid("name", "Name must be at most 32 characters" if isinstance(name, str) and name else "Name is required")
        if not isinstance(meta, dict) or not isinstance(meta.get("organizationId"), str):
            return invalid("metadata")
        if meta["organizationId"] != org_of(s[0]):
            return 403, {"message": "You are not a member of this organization", "code": "FORBIDDEN"}
        key, kid = secrets.token_urlsafe(48)[:64], nanoid()
        db_rows(f"INSERT INTO standin_apikey VALUES ({lit(kid)}, {lit(hashlib.sha256(key.encode()).hexdigest())}, "
                f"{lit(name)}, {lit(s[0])}, {lit(meta['organizationId'])})")
        log(f"api key {name} created for {s[0]}")
        return 200, {"id": kid, "name": name, "key": key, "start": key[:6], "enabled": True}

    def generate(s, q, b):
        kind = b.get("type") or "rsa"
        if kind not in ("rsa", "ed25519"):
            return invalid("type", "Invalid enum value")
        with tempfile.TemporaryDirectory() as d:
            args = ["-t", "rsa", "-b", "4096", "-m", "PEM"] if kind == "rsa" else ["-t", "ed25519"]
            subprocess.run(["ssh-keygen", "-q", *args, "-N", "", "-C", "dokploy", "-f", f"{d}/k"], check=True)
            return 200, {"privateKey": open(f"{d}/k").read(), "publicKey": open(f"{d}/k.pub").read().strip()}

    def create_key(s, q, b):
        for f in ("name", "privateKey", "publicKey", "organizationId"):
            if not isinstance(b.get(f), str) or (f == "name" and not b[f]):
                return invalid(f)
        if not (RSA_PUB.match(b["publicKey"]) or ED_PUB.match(b["publicKey"])):
            return invalid("publicKey", "Invalid public key format")
        if not (RSA_PRIV.match(b["privateKey"]) or ED_PRIV.match(b["privateKey"])):
            return invalid("privateKey", "Invalid private key format")
        # The router replaces organizationId by the session's (routers/ssh-key.ts).
        db_rows(f"INSERT INTO standin_sshkey VALUES ({lit(nanoid())}, {lit(b['privateKey'])}, {lit(b['publicKey'])}, "
                f"{lit(b['name'])}, {lit(b.get('description') or '')}, {lit(str(time.time_ns()))}, {lit(s[1])})")
        return 200, None

    def keys(s, q, b):
        return 200, rows_as(KEY_COLS, "standin_sshkey", f'"organizationId" = {lit(s[1])} ORDER BY "createdAt" DESC')

    def server_input(b, need_id=False):
        """apiCreateServer / apiUpdateServer: every picked field required (`.required()`)."""
        fields = ["name", "description", "ipAddress", "port", "username", "sshKeyId", "serverType"]
        for f in (["serverId"] if need_id else []) + fields:
            if f not in b or b[f] is None and f != "sshKeyId":
                return invalid(f)
        if not b["name"]:
            return invalid("name", "String must contain at least 1 character(s)")
        if not isinstance(b["port"], int):
            return invalid("port", "Expected number")
        if b["serverType"] not in ("deploy", "build"):
            return invalid("serverType", "Invalid enum value")
        return None

    def servers(s, q, b):
        return 200, [dict(r, totalSum=0) for r in rows_as(SERVER_COLS, "standin_server", f'"organizationId" = {lit(s[1])} ORDER BY "createdAt" DESC')]

    def server_one(s, sid):
        rows = rows_as(SERVER_COLS, "standin_server", f'"serverId" = {lit(sid)}')
        if not rows:
            return None, (404, {"message": "Server not found", "code": "NOT_FOUND"})
        if rows[0]["organizationId"] != s[1]:
            return None, (401, {"message": "You are not authorized to access this server", "code": "UNAUTHORIZED"})
        return rows[0], None

    def create_server(s, q, b):
        err = server_input(b)
        if err:
            return err
        sid = nanoid()
        db_rows(f"INSERT INTO standin_server VALUES ({lit(sid)}, {lit(b['name'])}, {lit(b['description'])}, {lit(b['ipAddress'])}, "
                f"{int(b['port'])}, {lit(b['username'])}, {lit('server-' + nanoid()[:6].lower())}, {bool(b.get('enableDockerCleanup', True))}, "
                f"{lit(str(time.time_ns()))}, {lit(s[1])}, 'active', "
                f"{lit(b['serverType'])}, {lit(b['sshKeyId']) if b['sshKeyId'] else 'NULL'})")
        log(f"server {b['name']} created: {b['username']}@{b['ipAddress']}:{b['port']}")
        return 200, server_one(s, sid)[0]

    def update_server(s, q, b):
        err = server_input(b, need_id=True)
        if err:
            return err
        row, err = server_one(s, b["serverId"])
        if err:
            return err
        db_rows(f"UPDATE standin_server SET name = {lit(b['name'])}, description = {lit(b['description'])}, "
                f"\"ipAddress\" = {lit(b['ipAddress'])}, port = {int(b['port'])}, username = {lit(b['username'])}, "
                f"\"serverType\" = {lit(b['serverType'])}, \"enableDockerCleanup\" = {bool(b.get('enableDockerCleanup', True))}, "
                f"\"sshKeyId\" = {lit(b['sshKeyId']) if b['sshKeyId'] else 'NULL'} WHERE \"serverId\" = {lit(b['serverId'])}")
        return 200, server_one(s, b["serverId"])[0]

    def remove_server(s, q, b):
        row, err = server_one(s, str(b.get("serverId") or ""))
        if err:
            return err
        db_rows(f"DELETE FROM standin_server WHERE \"serverId\" = {lit(row['serverId'])}")
        return 200, row

    def validate(s, q, b):
        row, err = server_one(s, (q.get("serverId") or [""])[0])
        if err:
            return err
        keyrow = db_rows(f'SELECT "privateKey" FROM standin_sshkey WHERE "sshKeyId" = {lit(row["sshKeyId"] or "")}')
        if not keyrow:
            return bad("No SSH Key found")
        with tempfile.TemporaryDirectory() as d:
            kf = os.path.join(d, "id")
            with open(os.open(kf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(keyrow[0][0])
            # ssh2 pins no host key (Dokploy's Client has no hostVerifier): neither does this.
            r = subprocess.run(["ssh", "-i", kf, "-p", str(row["port"]), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=8",
                                "-o", "LogLevel=ERROR", f"{row['username']}@{row['ipAddress']}", "sh -s"],
                               input=VALIDATE, capture_output=True, text=True, timeout=30)
        if r.returncode == 255:
            msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "connection failed"
            if "Permission denied" in msg:
                return bad("Authentication failed: Invalid SSH private key. ❌ Error: All configured authentication methods failed client-authentication")
            return bad(f"SSH connection error: {msg}")
        try:
            return 200, json.loads(r.stdout.strip())
        except ValueError as e:
            return bad(f"Failed to parse output: {e}")

    return {
        ("GET", "/api/organization.all"): authed(organizations),
        ("POST", "/api/user.createApiKey"): authed(create_api_key),
        ("POST", "/api/sshKey.generate"): authed(generate),
        ("POST", "/api/sshKey.create"): authed(create_key),
        ("GET", "/api/sshKey.all"): authed(keys),
        ("POST", "/api/server.create"): authed(create_server),
        ("POST", "/api/server.update"): authed(update_server),
        ("POST", "/api/server.remove"): authed(remove_server),
        ("GET", "/api/server.all"): authed(servers),
        ("GET", "/api/server.validate"): authed(validate),
    }

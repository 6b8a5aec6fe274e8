#!/bin/sh
# Build the rootfs image of a REAL PostgreSQL from Debian packages.
# usage: build-postgres-rootfs.sh ROOTFS_TAG MAJOR SUITE MIRROR
# (trixie ships postgresql-17, sid ships postgresql-18.)
set -eu
tag=$1 major=$2 suite=$3 mirror=$4
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /var/tmp/infra-lab-pg.XXXXXX)
trap 'rm -rf "$dir" "$dir.log"' EXIT INT TERM

echo "debootstrap $suite with postgresql-$major"
debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 ||
  { tail -n 30 "$dir.log" >&2; exit 1; }

. "$here/trim-rootfs.sh"
trim_rootfs "$dir"
# Images are copied by every inner engine: drop what a database container never runs.
# JIT is optional in PostgreSQL (a missing llvmjit.so just disables it); LLVM is ~100 MB.
rm -rf "$dir"/usr/lib/postgresql/*/lib/llvmjit* "$dir"/usr/lib/postgresql/*/lib/bitcode \
  "$dir"/usr/lib/x86_64-linux-gnu/libLLVM* "$dir"/usr/lib/x86_64-linux-gnu/libz3* \
  "$dir"/usr/include "$dir"/usr/share/postgresql/*/man "$dir"/var/cache/apt \
  "$dir"/usr/lib/x86_64-linux-gnu/perl/*/auto/Encode/JP "$dir"/usr/lib/x86_64-linux-gnu/perl/*/auto/Encode/KR \
  "$dir"/usr/lib/x86_64-linux-gnu/perl/*/auto/Encode/CN "$dir"/usr/lib/x86_64-linux-gnu/perl/*/auto/Encode/TW \
  "$dir"/usr/lib/x86_64-linux-gnu/gconv "$dir"/usr/share/i18n "$dir"/usr/share/zsh "$dir"/usr/share/bash-completion
# The Debian cluster made by the package postinst is not the image's: the entrypoint inits PGDATA.
rm -rf "$dir/var/lib/postgresql/$major" "$dir/etc/postgresql/$major"
: >"$dir/etc/machine-id"

echo "importing as $tag"
tar -C "$dir" --numeric-owner -c . | docker import -c 'LABEL infra.lab=1' - "$tag" >/dev/null

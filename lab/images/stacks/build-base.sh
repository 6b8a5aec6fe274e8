#!/bin/sh
# Build the base of the stack images: the lab host rootfs (Debian 13, python3) plus Debian's
# REAL valkey-server, trimmed, committed once. usage: build-base.sh HOST_IMAGE TAG
set -eu
host=$1 tag=$2
here=$(cd "$(dirname "$0")/.." && pwd)
name=infra-lab-build-stack-base
docker rm -f "$name" >/dev/null 2>&1 || true
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT INT TERM
docker run --name "$name" --label infra.lab=1 -i --entrypoint sh "$host" -s <<SCRIPT
set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valkey-server >/dev/null
$(cat "$here/trim-rootfs.sh")
trim_rootfs /
systemctl disable valkey-server >/dev/null 2>&1 || true
SCRIPT
docker commit -c 'CMD ["/bin/sh"]' -c 'LABEL infra.lab=1' "$name" "$tag" >/dev/null

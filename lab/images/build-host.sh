#!/bin/sh
# Build the lab host image: a "freshly ordered VPS" of Debian SUITE.
# usage: build-host.sh IMAGE_TAG SUITE MIRROR
# Nothing can be pulled, so the rootfs comes from debootstrap and is imported.
set -eu
tag=$1 suite=$2 mirror=$3
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /var/tmp/infra-lab-host.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM

echo "debootstrap $suite (minbase + systemd, sshd, python3)"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2,ca-certificates,curl,gnupg,python3 \
  "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"

echo "trimming rootfs"
. "$here/trim-rootfs.sh"
trim_rootfs "$dir"

# A container cannot load kernel modules; the unit would fail and leave the
# host "degraded" for a reason no real VPS has.
ln -sf /dev/null "$dir/etc/systemd/system/systemd-modules-load.service"
# Every host must get its own host keys (like a real VPS); the lab writes
# fresh ones into each container before it first boots.
rm -f "$dir"/etc/ssh/ssh_host_*
# systemd generates a machine id per container when this is empty.
: >"$dir/etc/machine-id"
# Inert until docker.io is installed: the inner engine cannot disable IPv6
# on its containers' interfaces inside this sandbox without it (LAB.md).
mkdir -p "$dir/etc/systemd/system/docker.service.d"
printf '[Service]\nEnvironment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\n' \
  >"$dir/etc/systemd/system/docker.service.d/lab-ipv6.conf"

echo "importing as $tag"
tar -C "$dir" --numeric-owner -c . | docker import \
  -c 'CMD ["/sbin/init"]' \
  -m "infra lab host ($suite)" --change 'LABEL infra.lab=1' - "$tag" >/dev/null

#!/bin/sh
# infra-lab-services: the lab's stand-in for the upstream apt repositories
# (HTTP on :8099, files from /srv/apt) and for Docker Hub (a registry on :5000
# that the hosts' engines use as a mirror).
set -eu
docker-registry serve /etc/infra-lab/registry.yml &
cd /srv/apt
exec python3 -m http.server 8099 --bind 0.0.0.0

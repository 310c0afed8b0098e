#!/usr/bin/env bash
# Installs and starts what Faasbox needs on a Debian 12 machine with no internet but Debian's
# packages: a Docker engine with no bridge (every container runs with NetworkMode none),
# a container registry, nats-server, busybox-static (the test images' rootfs), docker-compose
# (test/deploy.int.test.ts validates deploy/compose.yaml with it) and chromium (test/docs.e2e.test.ts
# opens /docs in it, headless, through playwright-core).
# Idempotent: what is installed or running already is left alone. Needs root.
set -euo pipefail

packages=(docker.io docker-registry nats-server busybox-static curl docker-compose chromium)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's package starts a registry service on :5000 where systemd runs; the tests and the
# quick start run their own on loopback instead.
if ! docker info >/dev/null 2>&1; then
  echo "== starting dockerd"
  mkdir -p /var/log/faasbox
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/faasbox/dockerd.log 2>&1 &
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/faasbox/dockerd.log" >&2; exit 1; }
fi
echo "== docker $(docker version --format '{{.Server.Version}}') ready"

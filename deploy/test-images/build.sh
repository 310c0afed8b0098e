#!/usr/bin/env bash
# Builds the small images the integration tests run, from Debian's busybox-static, without any
# network beyond loopback: a rootfs made here is turned into images with `docker import` and
# pushed to the registry given as $1 (e.g. 127.0.0.1:5000). The local tags are removed afterwards,
# so that a test's first run exercises the real pull path.
#
#   deploy/test-images/build.sh 127.0.0.1:5000
#
# Idempotent: an image the registry already holds is left as it is.
set -euo pipefail

registry="${1:?usage: build.sh REGISTRY_ADDRESS (e.g. 127.0.0.1:5000)}"
busybox="${BUSYBOX:-/bin/busybox}"

# name:tag and the default command (JSON array) of each image; all share one rootfs.
images=(
  'faasbox/busybox:1|["sh"]'
  'faasbox/echo:1|["cat"]'
)

if [[ ! -x "$busybox" ]] || ! "$busybox" --list >/dev/null 2>&1; then
  echo "build.sh: $busybox is missing or not a busybox binary (apt-get install busybox-static)" >&2
  exit 1
fi
# The rootfs must run with no shared libraries, since it holds nothing else.
if command -v ldd >/dev/null && ldd "$busybox" 2>&1 | grep -q '=>'; then
  echo "build.sh: $busybox is dynamically linked; the images need busybox-static" >&2
  exit 1
fi

in_registry() { # name tag
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -I \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/$1/manifests/$2")
  [[ "$status" == 200 ]]
}

build_rootfs() { # dir
  local root="$1"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  local applet
  for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
rootfs_tar="$workdir/rootfs.tar"

for entry in "${images[@]}"; do
  image="${entry%%|*}"
  cmd="${entry#*|}"
  name="${image%:*}"
  tag="${image##*:}"
  ref="$registry/$image"
  if in_registry "$name" "$tag"; then
    echo "build.sh: $ref already in the registry"
    continue
  fi
  if [[ ! -f "$rootfs_tar" ]]; then
    build_rootfs "$workdir/rootfs"
    tar -C "$workdir/rootfs" --numeric-owner --owner=0 --group=0 -cf "$rootfs_tar" .
  fi
  docker import --change "CMD $cmd" --change 'ENV PATH=/bin' "$rootfs_tar" "$ref" >/dev/null
  docker push --quiet "$ref" >/dev/null
  docker image rm "$ref" >/dev/null
  echo "build.sh: pushed $ref (CMD $cmd) and removed the local tag"
done

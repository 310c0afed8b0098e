#!/usr/bin/env bash
# Builds the small images the integration tests run, from Debian's busybox-static and one static
# program of ours (probe.c, built here with gcc), without any network beyond loopback: each
# rootfs made here is turned into an image with `docker import` and pushed to the registry given
# as $1 (e.g. 127.0.0.1:5000). The local tags are removed afterwards,
# so that a test's first run exercises the real pull path.
#
#   deploy/test-images/build.sh 127.0.0.1:5000
#
# Idempotent: an image the registry already holds is left as it is.
set -euo pipefail

registry="${1:?usage: build.sh REGISTRY_ADDRESS (e.g. 127.0.0.1:5000)}"
busybox="${BUSYBOX:-/bin/busybox}"
here=$(cd "$(dirname "$0")" && pwd)

# name:tag, the default command (JSON array) and the rootfs of each image:
#   busybox          busybox-static and its applets, /tmp 1777 as in most distributions' images
#   busybox-tmp0755  the same with /tmp 0755 root, as a bare `docker import` of a rootfs often has
#   probe            scratch: /probe alone, no shell, no libc, no /tmp
images=(
  'faasbox/busybox:1|["sh"]|busybox'
  'faasbox/echo:1|["cat"]|busybox'
  'faasbox/busybox-tmp0755:1|["sh"]|busybox-tmp0755'
  'faasbox/probe:1|["/probe"]|probe'
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

build_rootfs() { # dir kind
  local root="$1" kind="$2"
  mkdir -p "$root"
  if [[ "$kind" == probe ]]; then
    gcc -static -O2 -o "$root/probe" "$here/probe.c"
    return
  fi
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
  if [[ "$kind" == busybox-tmp0755 ]]; then chmod 0755 "$root/tmp"; else chmod 1777 "$root/tmp"; fi
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

for entry in "${images[@]}"; do
  IFS='|' read -r image cmd kind <<<"$entry"
  name="${image%:*}"
  tag="${image##*:}"
  ref="$registry/$image"
  if in_registry "$name" "$tag"; then
    echo "build.sh: $ref already in the registry"
    continue
  fi
  rootfs_tar="$workdir/$kind.tar"
  if [[ ! -f "$rootfs_tar" ]]; then
    build_rootfs "$workdir/$kind" "$kind"
    tar -C "$workdir/$kind" --numeric-owner --owner=0 --group=0 -cf "$rootfs_tar" .
  fi
  docker import --change "CMD $cmd" --change 'ENV PATH=/bin' "$rootfs_tar" "$ref" >/dev/null
  docker push --quiet "$ref" >/dev/null
  docker image rm "$ref" >/dev/null
  echo "build.sh: pushed $ref (CMD $cmd) and removed the local tag"
done

#!/usr/bin/env bash
# Builds the in-container agent (faasbox-agent.c) into bin/faasbox-agent: static, since it runs
# as PID 1 of images that may hold no libc. Run by `npm ci`/`npm install` (postinstall) and by
# `npm run build:agent`; a binary newer than its source is left as it is.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source="$here/faasbox-agent.c"
binary="$here/bin/faasbox-agent"

if [[ -x "$binary" && "$binary" -nt "$source" ]]; then
  exit 0
fi
if ! command -v gcc >/dev/null; then
  echo "worker/agent/build.sh: gcc is missing; the worker's agent is built from source (apt-get install gcc libc6-dev)" >&2
  exit 1
fi
# A static link needs libc.a, which only libc6-dev ships: without it gcc fails with a bare
# "cannot find -lc".
libc=$(gcc -print-file-name=libc.a)
if [[ "$libc" != /* || ! -f "$libc" ]]; then
  echo "worker/agent/build.sh: the static C library (libc.a) is missing; the agent is linked static (apt-get install libc6-dev)" >&2
  exit 1
fi
mkdir -p "$here/bin"
# Built under another name and renamed, so that a failed build leaves no half-written binary
# that the next run would take as newer than the source.
gcc -static -Os -Wall -Wextra -Werror -o "$binary.tmp" "$source"
mv "$binary.tmp" "$binary"
echo "worker/agent/build.sh: built $binary"

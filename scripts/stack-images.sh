#!/usr/bin/env bash
# Local stand-ins for the three Docker Hub images the production stack names
# (python:3.11-slim-bookworm, postgres:15-bookworm, redis:7-bookworm), for machines that reach the
# Debian mirror but not Docker Hub. Used by the stack test (tests/stack); an operator whose server
# reaches Docker Hub never needs this.
#
#   scripts/stack-images.sh          builds what is missing, then prints three lines
#                                    PYTHON_IMAGE=… POSTGRES_IMAGE=… REDIS_IMAGE=… (for .env)
#
# 1. A Debian bookworm root filesystem made by debootstrap from the Debian mirror apt is configured
#    with on this machine (read from /etc/apt/sources.list and sources.list.d at run time), turned
#    into an image with `docker import`.
# 2. From it, the stand-ins in tests/stack/images/*, built from Debian's packages. The python one
#    trusts this machine's CA bundle (containers reach the registries through its TLS proxy).
#
# Images are tagged with a hash of tests/stack/images/, this script and the CA bundle: a second run
# reuses them (they are the cache the stack test keeps between runs); stale tags are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
REPO_PREFIX=shikaku-standin

log() { echo "stack-images: $*" >&2; }

for tool in docker debootstrap; do
  command -v "$tool" >/dev/null || { log "$tool not found (scripts/install.sh installs it)"; exit 1; }
done
[ -r "$CA_BUNDLE" ] || { log "no CA bundle at $CA_BUNDLE"; exit 1; }

key="$(
  {
    find tests/stack/images -type f | LC_ALL=C sort | xargs sha256sum
    sha256sum scripts/stack-images.sh "$CA_BUNDLE" | cut -d' ' -f1
  } | sha256sum | cut -c1-16
)"

have() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt uses on this machine: the first bookworm entry of its sources (one-line or
# deb822 format). Nothing about the host is written into the repository.
debian_mirror() {
  python3 - <<'PY'
import glob, re, sys
files = sorted(glob.glob("/etc/apt/sources.list") + glob.glob("/etc/apt/sources.list.d/*.list")
               + glob.glob("/etc/apt/sources.list.d/*.sources"))
for path in files:
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.split()
            if "deb" in fields.get("types", []) and "bookworm" in fields.get("suites", []) \
                    and fields.get("enabled", ["yes"])[0] != "no" and fields.get("uris"):
                print(fields["uris"][0]); sys.exit(0)
    else:
        for line in text.splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == "bookworm":
                print(parts[1]); sys.exit(0)
sys.exit("no bookworm entry in apt's sources")
PY
}

base="$REPO_PREFIX/bookworm:$key"
if ! have "$base"; then
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d /tmp/shikaku-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap bookworm (minbase) from apt's configured Debian mirror into $rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    exit 1
  }
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  # apt inside the containers: no recommends, no docs (as Debian's own slim images)
  printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/01norecommends"
  log "docker import $base"
  tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

declare -A built
for name in python postgres redis; do
  image="$REPO_PREFIX/$name:$key"
  if ! have "$image"; then
    ctx="$(mktemp -d /tmp/shikaku-standin.XXXXXX)"
    cp -r "tests/stack/images/$name/." "$ctx/"
    [ "$name" = python ] && cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
    log "docker build $image"
    if ! docker build -q --build-arg "BASE_IMAGE=$base" -t "$image" "$ctx" >/dev/null; then
      rm -rf "$ctx"
      log "building $image failed"
      exit 1
    fi
    rm -rf "$ctx"
  fi
  built[$name]="$image"
done

# Stale stand-ins (another key) are removed so that the cache does not grow with every change.
docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$REPO_PREFIX/" | grep -v ":$key\$" |
  xargs -r docker image rm >/dev/null 2>&1 || true

echo "PYTHON_IMAGE=${built[python]}"
echo "POSTGRES_IMAGE=${built[postgres]}"
echo "REDIS_IMAGE=${built[redis]}"
cd "$ROOT"

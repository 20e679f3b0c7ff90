#!/usr/bin/env bash
# Build the docker lab images: drdrill/gateway:local and drdrill/db:local.
#
#   scripts/images.sh            build what is missing or out of date (fast no-op otherwise)
#   FORCE=1 scripts/images.sh    rebuild both images (the base image is kept)
#   BASE=1  scripts/images.sh    also rebuild the local debian:bookworm-slim base (needs debootstrap, root)
#
# The Dockerfiles in fixtures/docker/ are ordinary (`FROM debian:bookworm-slim` + apt-get).
# On machines without an image registry, the base image is made locally: debootstrap a minbase
# bookworm from the apt mirror this machine already uses, WITH the lab's packages included (docker
# build containers cannot reach the mirror on such machines), `docker import` it and tag it
# debian:bookworm-slim. The Dockerfiles skip apt-get when the packages are already there.
#
# Env: MIRROR (default: the bookworm mirror from /etc/apt/sources.list*), DOCKER (default: docker).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ctx="$root/fixtures/docker"
DOCKER=${DOCKER:-docker}
BASE_TAG=debian:bookworm-slim
GW_TAG=drdrill/gateway:local
DB_TAG=drdrill/db:local
# Union of both images' packages: the local base carries them all (one shared layer).
GW_PKGS="strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins iproute2 nftables iptables openssh-server"
DB_PKGS="mariadb-server mariadb-client iproute2 openssh-server"

log() { printf 'images: %s\n' "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 2; }

"$DOCKER" info >/dev/null 2>&1 || die "the docker backend needs a running Docker engine ($DOCKER info failed)"

have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
label() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# mirror prints the first bookworm (non-security) mirror URI from the apt sources, one-line or deb822.
mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    case "$f" in
    *.sources)
      awk 'BEGIN{RS=""; FS="\n"}
           { uri=""; ok=0
             for (i=1;i<=NF;i++) {
               if ($i ~ /^URIs:/)   { split($i,a,/[ \t]+/); uri=a[2] }
               if ($i ~ /^Suites:/) { if ($i ~ /[ \t]bookworm([ \t]|$)/) ok=1 }
             }
             if (ok && uri != "") { print uri; exit } }' "$f"
      ;;
    *)
      awk '$1=="deb" { n=2; if ($2 ~ /^\[/) { while ($n !~ /\]$/) n++; n++ }
                       if ($(n+1)=="bookworm") { print $n; exit } }' "$f"
      ;;
    esac
  done | head -n1
}

build_base() {
  command -v debootstrap >/dev/null || die "no $BASE_TAG image and no debootstrap to make one (apt-get install debootstrap, or docker pull $BASE_TAG where a registry is reachable)"
  [ "$(id -u)" = 0 ] || die "making the local $BASE_TAG base needs root (debootstrap)"
  local m=${MIRROR:-$(mirror)}
  [ -n "$m" ] || die "no bookworm mirror found in /etc/apt/sources.list*; set MIRROR=http://..."
  tmp=$(mktemp -d /var/tmp/drdrill-rootfs.XXXXXX)
  trap cleanup_rootfs EXIT
  local pkgs=$want_pkgs
  log "debootstrap --variant=minbase --include=$pkgs bookworm <rootfs> $m"
  debootstrap --variant=minbase --include="$pkgs" bookworm "$tmp/rootfs" "$m" >"$tmp/debootstrap.log" 2>&1 ||
    { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  # Slim it down like the official -slim images; keep apt working for the Dockerfiles' fallback.
  rm -rf "$tmp/rootfs"/var/cache/apt/archives/*.deb "$tmp/rootfs"/var/lib/apt/lists/* \
    "$tmp/rootfs"/usr/share/doc/* "$tmp/rootfs"/usr/share/man/* "$tmp/rootfs"/usr/share/info/* \
    "$tmp/rootfs"/usr/share/locale/* \
    "$tmp/rootfs"/var/log/*.log "$tmp/rootfs"/var/lib/mysql/*
  log "docker import -> $BASE_TAG"
  tar -C "$tmp/rootfs" --numeric-owner -c . |
    "$DOCKER" import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' -c "LABEL org.drdrill.base-pkgs=$pkgs" \
      -m "drdrill local bookworm minbase with the lab packages" - "$BASE_TAG" >/dev/null
  cleanup_rootfs; trap - EXIT
}

# cleanup_rootfs removes the debootstrap dir. A debootstrap that died can leave /proc, /sys (or a
# bind-mounted /dev) mounted inside it: unmount those first and never cross a file system.
cleanup_rootfs() {
  [ -n "${tmp:-}" ] && [ -d "$tmp" ] || return 0
  awk -v t="$tmp/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  rm -rf --one-file-system "$tmp"
}

start=$(date +%s)
want_pkgs=$(printf '%s\n' $GW_PKGS $DB_PKGS | sort -u | paste -sd, -)
if [ "${BASE:-0}" = 1 ] || ! have "$BASE_TAG"; then
  build_base
elif base_pkgs=$(label "$BASE_TAG" org.drdrill.base-pkgs) && [ -n "$base_pkgs" ] && [ "$base_pkgs" != "$want_pkgs" ]; then
  log "$BASE_TAG is our local base but with other packages: rebuilding it"
  build_base
else
  log "$BASE_TAG present, not rebuilding it (BASE=1 to force)"
fi

# A source hash of the build context is stored as a label: unchanged sources and existing
# images mean nothing to do.
src=$(cd "$ctx" && find . -path ./testdata -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
base_id=$("$DOCKER" image inspect -f '{{.Id}}' "$BASE_TAG")
for img in gateway db; do
  tag=drdrill/$img:local
  if [ "${FORCE:-0}" != 1 ] && have "$tag" && [ "$(label "$tag" org.drdrill.src)" = "$src" ] &&
    [ "$(label "$tag" org.drdrill.base)" = "$base_id" ]; then
    log "$tag up to date"
    continue
  fi
  log "docker build $tag"
  old=$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  "$DOCKER" build -q -f "$ctx/$img.Dockerfile" \
    --label org.drdrill.src="$src" --label org.drdrill.base="$base_id" -t "$tag" "$ctx" >/dev/null ||
    die "docker build of $tag failed"
  # The previous build is now untagged: drop it unless a container still uses it.
  if [ -n "$old" ] && [ "$old" != "$("$DOCKER" image inspect -f '{{.Id}}' "$tag")" ]; then
    "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
  fi
done
log "done in $(($(date +%s) - start))s: $("$DOCKER" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(drdrill/|debian:bookworm-slim)' | paste -sd' ' -)"

#!/usr/bin/env bash
# Installs the Debian packages the embedded lab needs, only when missing
# (unbound: the failover lab's aws-dns; bind9-dnsutils: dig, for its tests;
# chromium and a font: the headless-browser test of report.html).
# Usage: scripts/deps.sh [--check]   (--check: report, install nothing)
set -euo pipefail
pkgs=(strongswan-charon strongswan-swanctl libcharon-extra-plugins mariadb-server mariadb-client iproute2 nftables util-linux debootstrap openssh-server sudo unbound bind9-dnsutils chromium fonts-dejavu-core fontconfig)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${1:-}" = --check ]; then
  echo "missing packages: ${missing[*]}; fix: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing packages: ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's mariadb-server tries to start the service; there is no init here and
# the lab runs its own servers, so forbid service starts during the install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.drdrill
chmod +x /usr/sbin/policy-rc.d.drdrill
if [ ! -e /usr/sbin/policy-rc.d ]; then ln -s policy-rc.d.drdrill /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d /usr/sbin/policy-rc.d.drdrill' EXIT; fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

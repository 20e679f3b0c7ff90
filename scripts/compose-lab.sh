#!/usr/bin/env bash
# The drdrill lab with docker-compose (docker-compose.yml at the repo root).
#
#   scripts/compose-lab.sh up      render configs into $LAB_DIR, start the four containers, load the VPN
#                                  (swanctl --load-all in each gateway), set up GTID replication and the schema
#   scripts/compose-lab.sh check   end-to-end check: IKE ESTABLISHED / CHILD INSTALLED, Slave_IO_Running Yes,
#                                  a row inserted on aws-db shows up on onprem-db
#   scripts/compose-lab.sh status  containers, SAs and replica threads
#   scripts/compose-lab.sh render  only write the configs into $LAB_DIR (for a plain `docker-compose up`)
#   scripts/compose-lab.sh target  print a drdrill target file for the running compose lab
#                                  (drdrill run vpn-outage --target compose.yaml --yes)
#   scripts/compose-lab.sh down    remove containers and networks, then $LAB_DIR (idempotent)
#
# Env: LAB_DIR (default /tmp/drdrill-compose; absolute: it is mounted at the same path in the containers),
#      COMPOSE_PROJECT_NAME (default drdrill), COMPOSE (default: `docker compose` if present, else docker-compose).
# Configs have the shapes of the original shell prototype; the datadirs are initialised by the db
# containers' entrypoint (no MariaDB needed on the host). Every command runs inside the containers; the host
# only sees the unix sockets in $LAB_DIR/<site>/. No lab address is dialled from the host.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_DIR=${LAB_DIR:-/tmp/drdrill-compose}
case "$LAB_DIR" in /*) ;; *) LAB_DIR=$(realpath -m "$LAB_DIR") ;; esac
export LAB_DIR
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-drdrill}
if [ -z "${COMPOSE:-}" ]; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
DEADLINE=${DEADLINE:-60} # seconds, for every wait below
sites="aws onprem"
PSK=lab-only-psk-0123456789 # lab only; never printed
REPL_PW=lab-repl

say() { printf 'compose-lab: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }
compose() { $COMPOSE -f "$root/docker-compose.yml" "$@"; }
# cid SERVICE: the running container of a service (docker ps is much faster than `compose ps`).
cid() { docker ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --filter "label=com.docker.compose.service=$1"; }
# x HOST CMD...: run CMD in the lab host's container
x() { local c; c=$(cid "$1") && [ -n "$c" ] || die "no running container for $1 (scripts/compose-lab.sh up)"; shift; docker exec "$c" "$@"; }
sql() { x "$1-db" mariadb -S "$LAB_DIR/$1/mysqld.sock" -N -e "$2"; }
vici() { local s=$1; shift; x "$s-gw" swanctl "$@" --uri "unix://$LAB_DIR/$s/charon.vici"; }
io() { x onprem-db mariadb -S "$LAB_DIR/onprem/mysqld.sock" -e 'SHOW REPLICA STATUS\G' | awk '/Slave_IO_Running:/{print $2}'; }

# wait_for WHAT CMD...: poll CMD every 0.1 s until it succeeds, at most $DEADLINE s.
wait_for() {
  local what=$1 end=$((SECONDS + DEADLINE)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { say "timed out after ${DEADLINE}s waiting for $what"; return 1; }
    sleep 0.1
  done
}

render() { # site local remote lts rts id rid db-ip server-id
  local d="$LAB_DIR/$1"
  mkdir -p "$d"
  cat >"$d/strongswan.conf" <<EOF
charon {
  load_modular = no
  load = random nonce aes sha1 sha2 hmac pem pkcs1 x509 revocation constraints pubkey gmp curve25519 kdf openssl kernel-libipsec kernel-netlink socket-default vici updown
  filelog { log { path = $d/charon.log
    default = 1
    ike = 2 } }
  plugins { vici { socket = unix://$d/charon.vici } }
}
EOF
  cat >"$d/swanctl.conf" <<EOF
connections { onprem-aws { version = 2
    local_addrs = $2
    remote_addrs = $3
    proposals = aes256-sha256-modp2048
    dpd_delay = 2s
    local { auth = psk
      id = $6 }
    remote { auth = psk
      id = $7 }
    children { onprem-aws { local_ts = $4
        remote_ts = $5
        esp_proposals = aes256-sha256
        dpd_action = restart } } } }
secrets { ike-1 { id-1 = $6
    id-2 = $7
    secret = "$PSK" } }
EOF
  chmod 600 "$d/swanctl.conf"
  cat >"$d/my.cnf" <<EOF
[mysqld]
datadir=$d/data
tmpdir=$d/tmp
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
bind-address=$8
server-id=$9
log-bin=$d/data/binlog
binlog-format=ROW
user=root
skip-name-resolve
EOF
  [ "$1" = onprem ] && printf 'read-only=1\nrelay-log=%s/data/relay\n' "$d" >>"$d/my.cnf"
  return 0
}

need_images() {
  local i
  for i in drdrill/gateway:local drdrill/db:local; do
    docker image inspect "$i" >/dev/null 2>&1 || die "image $i is missing: run \`make images\` first"
  done
}

render_all() {
  mkdir -p "$LAB_DIR"
  touch "$LAB_DIR/.drdrill-compose" # marks the dir as ours for `down`
  render aws 198.51.100.1 198.51.100.2 10.20.0.0/16 192.168.64.0/24 aws.lab onprem.lab 10.20.11.123 1
  render onprem 198.51.100.2 198.51.100.1 192.168.64.0/24 10.20.0.0/16 onprem.lab aws.lab 192.168.64.15 2
}

up() {
  need_images
  render_all
  compose up -d --no-build >/dev/null
  for s in $sites; do
    wait_for "$s-gw VICI socket $LAB_DIR/$s/charon.vici" vici "$s" --stats
    wait_for "$s-db MySQL socket $LAB_DIR/$s/mysqld.sock" sql "$s" 'SELECT 1'
  done
  wait_for "hostfw rules (docker logs of hostfw say ready)" hostfw_ready
  for s in $sites; do
    # swanctl's own plugin/credential-dir chatter goes to a log; shown only on failure.
    vici "$s" --load-all --file "$LAB_DIR/$s/swanctl.conf" >"$LAB_DIR/$s/swanctl.out" 2>&1 ||
      { cat "$LAB_DIR/$s/swanctl.out" >&2; die "swanctl --load-all failed on $s-gw"; }
  done
  if ! vici aws --list-sas 2>/dev/null | grep -q INSTALLED; then # `up` on a running lab: keep its SAs
    vici aws --initiate --child onprem-aws >"$LAB_DIR/aws/initiate.out" 2>&1 ||
      { cat "$LAB_DIR/aws/initiate.out" >&2; die "swanctl --initiate failed on aws-gw"; }
  fi
  sql aws "CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '$REPL_PW'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';"
  sql onprem "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='10.20.11.123', MASTER_USER='repl', MASTER_PASSWORD='$REPL_PW', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1; SET GLOBAL slave_net_timeout=3; START SLAVE;"
  wait_for "replica IO thread Yes on onprem-db" io_is Yes
  sql aws "CREATE DATABASE IF NOT EXISTS testdb; CREATE TABLE IF NOT EXISTS testdb.ping (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(50), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);"
  say "up: sockets aws $LAB_DIR/aws/{charon.vici,mysqld.sock}, onprem $LAB_DIR/onprem/{charon.vici,mysqld.sock}"
}
io_is() { [ "$(io)" = "$1" ]; }
hostfw_ready() { docker logs "$(cid hostfw)" 2>&1 | grep -q 'drdrill-hostfw: ready'; }

check() {
  local sas marker
  sas=$(vici aws --list-sas 2>/dev/null)
  grep -q 'ESTABLISHED' <<<"$sas" || die "check: IKE SA not ESTABLISHED on aws-gw"
  grep -q 'INSTALLED' <<<"$sas" || die "check: CHILD SA not INSTALLED on aws-gw"
  say "aws-gw: $(grep -m1 -o 'onprem-aws: #[0-9]*, ESTABLISHED[^,]*' <<<"$sas"), CHILD $(grep -m1 -o 'INSTALLED, [A-Za-z-]*' <<<"$sas")"
  [ "$(io)" = Yes ] || die "check: Slave_IO_Running is '$(io)', not Yes"
  say "onprem-db: Slave_IO_Running Yes"
  marker="compose-check-$$-$RANDOM"
  sql aws "INSERT INTO testdb.ping(msg) VALUES ('$marker')"
  wait_for "row '$marker' on onprem-db" row_on_onprem "$marker"
  say "row '$marker' inserted on aws-db is on onprem-db: check passed"
}
row_on_onprem() { [ "$(sql onprem "SELECT COUNT(*) FROM testdb.ping WHERE msg='$1'")" = 1 ]; }

status() {
  compose ps
  for s in $sites; do echo "== $s-gw"; vici "$s" --list-sas 2>/dev/null || true; done
  echo "== onprem-db"; x onprem-db mariadb -S "$LAB_DIR/onprem/mysqld.sock" -e 'SHOW REPLICA STATUS\G' |
    grep -E 'Slave_(IO|SQL)_Running:|Seconds_Behind|Last_IO_Error' || true
}

down() {
  # hostfw needs its SIGTERM to remove its rules: stop it first, with time to do so.
  compose stop --timeout 5 hostfw >/dev/null 2>&1 || true
  compose down --remove-orphans --timeout 1 >/dev/null 2>&1 || compose down --remove-orphans >/dev/null
  if [ -f "$LAB_DIR/.drdrill-compose" ]; then
    # Files written in the containers are root's: fall back to a container when we are not root.
    rm -rf --one-file-system "$LAB_DIR" 2>/dev/null ||
      docker run --rm --entrypoint rm -v "$LAB_DIR:$LAB_DIR" drdrill/db:local -rf --one-file-system "$LAB_DIR/aws" "$LAB_DIR/onprem"
    rm -rf "$LAB_DIR"
  fi
  say "down"
}

# cname SERVICE: the running container's name.
cname() { docker ps --format '{{.Names}}' --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" --filter "label=com.docker.compose.service=$1"; }

# target: a drdrill.target/v1 file for this lab. Hosts are reached with docker exec
# (via docker://NAME) and the unix sockets under $LAB_DIR; charon runs with its
# defaults for retransmission (4 s x 1.8, 5 tries). gateway-crash is not offered:
# charon is the gateway container's main process.
target() {
  local s n role
  for s in aws-gw aws-db onprem-gw onprem-db; do
    n=$(cname "$s"); [ -n "$n" ] || die "no running container for $s (scripts/compose-lab.sh up)"
  done
  cat <<EOF
# drdrill target file for the docker-compose lab at $LAB_DIR (project $COMPOSE_PROJECT_NAME).
schema: drdrill.target/v1
name: compose-$COMPOSE_PROJECT_NAME
safety:
  allow_destructive: true   # a throwaway lab; drdrill run still needs --yes
  max_fault: 2m
workload: {database: drdrill, table: ping}   # drdrill's own table (compose made a seed-era testdb.ping)
sites:
EOF
  for s in aws onprem; do
    role=replica; [ "$s" = aws ] && role=primary
    cat <<EOF
  $s:
    role: $role
    gateway:
      via: docker://$(cname "$s-gw")
      vici: unix://$LAB_DIR/$s/charon.vici
      connection: onprem-aws
      exec: direct
      retransmit: {timeout: 4s, base: 1.8, tries: 5}
    db:
      via: docker://$(cname "$s-db")
      socket: $LAB_DIR/$s/mysqld.sock
      user: root
EOF
  done
}

case "${1:-}" in
up) up ;;
target) target ;;
render) render_all; say "configs in $LAB_DIR" ;;
check) check ;;
status) status ;;
down) down ;;
*) echo "usage: $0 up|check|status|render|target|down" >&2; exit 2 ;;
esac

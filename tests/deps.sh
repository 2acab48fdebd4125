#!/usr/bin/env bash
# Installs every Debian package flightrec needs to build, test and demo,
# when missing.  --check only lists the missing ones (exit 1 if any).
set -euo pipefail
pkgs=(
  # build
  build-essential clang llvm pkg-config bpftool
  libbpf-dev libelf-dev zlib1g-dev libzstd-dev libsqlite3-dev libpcap-dev
  libjansson-dev libcurl4-openssl-dev libssl-dev
  # tools the tests and the demo drive
  sqlite3 zstd iproute2 procps psmisc util-linux python3 jq
  nginx-light redis-server redis-tools dnsmasq-base dnsutils curl wrk
  kcat  # Kafka client (librdkafka) for tests/unit/kafka_kcat.sh
  tcpdump tshark openssl bc
  # MySQL and PostgreSQL peers (issue 14)
  mariadb-server mariadb-client libdbd-mariadb-perl postgresql-15 postgresql-client-15
  python3-psycopg2 libdbd-pg-perl
  # HTTP/2 and gRPC peers (issue 13), and libnghttp2 for the HPACK oracle test
  nghttp2-server nghttp2-client nghttp2-proxy python3-grpcio libnghttp2-dev
  # ClickHouse, the engine of export-clickhouse (issue 20)
  clickhouse-server
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${1:-} == --check ]]; then
  ((${#missing[@]} == 0)) || { echo "missing: ${missing[*]}"; exit 1; }
  exit 0
fi
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) != 0 ]]; then
  echo "flightrec: these Debian packages are missing: ${missing[*]}" >&2
  echo "flightrec: run 'make deps' as root (or install them with apt-get)" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages with services must not start them here: tests start their own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

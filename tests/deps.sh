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
  strace  # which thread syncs a closed segment (tests/e2e/test_record_ring.sh)
  iptables  # packet loss for tests/e2e/test_record_tcp.sh (this kernel has no sch_netem)
  # MySQL and PostgreSQL peers (issue 14)
  mariadb-server mariadb-client libdbd-mariadb-perl postgresql-15 postgresql-client-15
  python3-psycopg2 libdbd-pg-perl
  python3-protobuf  # the OTLP/JSON check of export-otlp (tests/unit/otlp_check.py)
  # HTTP/2 and gRPC peers (issue 13), and libnghttp2 for the HPACK oracle test
  nghttp2-server nghttp2-client nghttp2-proxy python3-grpcio libnghttp2-dev
  # deploy (issue 19): the image is imported and run with podman (runc:
  # crun refuses hosts with controllers in both cgroup v1 and v2); the
  # DaemonSet is read with python3-yaml; nodejs runs the manifest check
  podman runc python3-yaml nodejs
  # the HTML report's browser test (issue 18): headless chromium driven by
  # chromedriver's WebDriver API from python3's standard library
  chromium chromium-driver
  # the recorder on Debian 12's own 6.1 kernel under qemu (tests/qemu/run.sh; the
  # kernel package itself is fetched there with apt-get download, into build/)
  qemu-system-x86 busybox-static
  # ClickHouse, the engine of export-clickhouse (issue 20)
  clickhouse-server
  # TLS plaintext (issue 17): capstone disassembles Go's crypto/tls functions
  # to find their RET instructions (the recorder links it); golang-go builds
  # the Go HTTPS peers of tests/e2e/test_tls_more_e2e.sh
  libcapstone-dev golang-go
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Debian's nodejs comes without npm (the manifest check installs its npm
# packages with it); a nodejs that bundles npm needs no more
command -v npm >/dev/null || missing+=(npm)
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

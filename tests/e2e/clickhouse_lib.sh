# tests/e2e/clickhouse_lib.sh - a local ClickHouse cluster "fr" of two
# shards on loopback (Debian's clickhouse-server), for test_clickhouse.sh
# and tests/bench/clickhouse.sh.  Source it from bash.
#
#   ch_conf DIR PORT0 N   writes DIR/chN/config.xml: shard N listens on HTTP
#                         PORT0+2N and TCP PORT0+2N+1, data under DIR/chN
#                         (mark cache: $CH_MARK_CACHE bytes, default 256 MiB)
#   ch_start DIR PORT0 N  starts shard N in the background (pid in CH_STARTED)
#                         and waits until it answers; 0, or 1 after printing
#                         the end of its log
ch_conf() {
	local d=$1/ch$3 p=$2 n=$3
	mkdir -p "$d/data" "$d/tmp"
	cat >"$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$d/log</log><errorlog>$d/err.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$((p + n * 2))</http_port>
  <tcp_port>$((p + n * 2 + 1))</tcp_port>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>${CH_MARK_CACHE:-268435456}</mark_cache_size>
  <remote_servers><fr>
    <shard><replica><host>127.0.0.1</host><port>$((p + 1))</port></replica></shard>
    <shard><replica><host>127.0.0.1</host><port>$((p + 3))</port></replica></shard>
  </fr></remote_servers>
</yandex>
XML
}

ch_start() {
	local d=$1/ch$3 i
	clickhouse-server --config-file="$d/config.xml" >"$d/out" 2>&1 &
	CH_STARTED=$!
	for i in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$(($2 + $3 * 2))/?query=SELECT+1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$d/out" "$d/err.log" 2>/dev/null | tail -5
	return 1
}

#!/usr/bin/env bash
# Runs every libFuzzer harness built by `make fuzz` for SECONDS each
# (default 600), seeded with its saved corpus (tests/fuzz/corpus/<harness>/
# and its subfolders).  New inputs go to build/fuzz/work/<harness>/, crashes
# to build/fuzz/artifacts/; nothing in the tree changes.  Keep a find by
# copying it into the saved corpus under a name that says what it caught.
# Prints per harness: executions, new inputs, crashes; exit 1 on a crash.
set -uo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build/fuzz}
secs=${FUZZ_SECONDS:-600}
mkdir -p "$dir/work" "$dir/artifacts"
crashed=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	bin=$dir/$name
	[[ -x $bin ]] || { echo "FAIL $name: not built (make fuzz)"; crashed=1; continue; }
	mkdir -p "$dir/work/$name"
	mapfile -t seeds < <(find "tests/fuzz/corpus/$name" -type d 2>/dev/null)
	before=$(find "$dir/work/$name" -type f | wc -l)
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$name-" "$dir/work/$name" "${seeds[@]}" >"$dir/$name.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/$name.log" | tail -1)
	new=$(( $(find "$dir/work/$name" -type f | wc -l) - before ))
	if ((rc != 0)); then
		crashed=1
		echo "FAIL $name: ${execs:-?} executions in ${secs}s, crash: $(ls -t "$dir/artifacts/$name-"* 2>/dev/null | head -1) (log $dir/$name.log)"
	else
		echo "ok   $name: ${execs:-?} executions in ${secs}s, $new new inputs, no crash"
	fi
done
exit $crashed

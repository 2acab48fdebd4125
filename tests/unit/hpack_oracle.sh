#!/usr/bin/env bash
# hpack_oracle.sh - our HPACK decoder against libnghttp2's inflater (the
# independent decoder, Debian's libnghttp2-dev) on every header block of
# every capture in ../shared/captures/{http2,grpc}: the same header lists,
# field by field (tests/unit/oracle/hpack_oracle.c; the live traffic of
# tests/e2e/test_http2_e2e.sh is checked the same way there).  Directions
# that begin mid-connection cannot be decoded by nghttp2 and are counted
# apart (their placeholders are checked against tshark by
# pcap_oracle_analyze.sh).  Last line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ORACLE=${FR_ASAN:-build/asan}/hpack-oracle
[[ -x $ORACLE ]] || ORACLE=${FR_BUILD:-build}/hpack-oracle
CAPS=${FR_CAPTURES:-../shared/captures}
pass=0 fail=0
shopt -s nullglob
caps=("$CAPS"/http2/*.pcap "$CAPS"/grpc/*.pcap)
if ((${#caps[@]} == 0)); then
  echo "FAIL no captures in $CAPS/http2 or $CAPS/grpc"; fail=1
elif out=$("$ORACLE" "${caps[@]}" 2>&1) && [[ $out == *" 0 differ"* ]]; then
  echo "ok   ${#caps[@]} captures: ${out##*hpack-oracle: }"; pass=1
else
  echo "FAIL ${#caps[@]} captures:"; echo "$out" | tail -40; fail=1
fi
echo "hpack_oracle: $pass passed, $fail failed"
((fail == 0))

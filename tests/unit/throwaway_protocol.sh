#!/usr/bin/env bash
# throwaway_protocol.sh - a protocol is its file, one registry line and its
# corpus cases.  A copy of the tree gets the throwaway echo protocol
# (tests/unit/throwaway/echo.c as analyze/protocols/echo.c), one line
# P(echo) in analyze/registry.c and its case (tests/unit/throwaway/echo-lines
# as tests/corpus/echo/lines), and nothing else; then the split-invariance
# test, the fuzz replay, the corpus check, the dump and the help text must
# cover it.  Without its case, the split test must fail.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
b=${FR_ASAN:-build/asan}
tmp=$(mktemp -d /tmp/fr-throwaway.XXXXXX); [[ ${KEEP:-} ]] || trap 'rm -rf "$tmp"' EXIT
repo=$tmp/repo
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
t() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
finish() { echo "throwaway-protocol: $pass passed, $fail failed"; ((fail == 0)); exit; }

# The copy: the working tree's files (mtimes kept), the built objects when
# there are some, and ../shared beside it (the corpus's captures).
mkdir -p "$repo"
git ls-files -co --exclude-standard -z | tar -c --null -T - -f - | tar -x -C "$repo" -f -
[[ -d ../shared ]] && ln -s "$(cd ../shared && pwd)" "$tmp/shared"
if [[ -d $b ]]; then mkdir -p "$repo/$(dirname "$b")" && cp -a "$b" "$repo/$b"; fi

# The protocol: its file, one registry line, its case.
cp tests/unit/throwaway/echo.c "$repo/analyze/protocols/echo.c"
sed -i 's|^\t/\* end \*/$|\tP(echo)      \\\n&|' "$repo/analyze/registry.c"
mkdir -p "$repo/tests/corpus/echo" && cp -r tests/unit/throwaway/echo-lines "$repo/tests/corpus/echo/lines"

# ... and nothing else: every other file of the copy is as in the tree.
sums() { find . -path ./build -prune -o -type f -print0 | xargs -0 sha256sum | sed 's|  \./|  |' | sort; }
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 sha256sum | sort) > "$tmp/tree.sums"
(cd "$repo" && sums) > "$tmp/copy.sums"
changed=$(comm -13 "$tmp/tree.sums" "$tmp/copy.sums" | sed 's/^[0-9a-f]*  //' | sort | tr '\n' ' ')
want="analyze/protocols/echo.c analyze/registry.c $(cd "$repo" && find tests/corpus/echo -type f | sort | tr '\n' ' ')"
t "the copy differs from the tree in echo.c, registry.c and the case only" test "$changed" = "$want"
n=$(diff "$root/analyze/registry.c" "$repo/analyze/registry.c" | grep -c '^[<>]')
t "registry.c: one line added" bash -c "[[ $n == 1 ]] && grep -q '^[[:space:]]*P(echo)' '$repo/analyze/registry.c'"

if ! make -C "$repo" --no-print-directory -s BUILD="$b" SAN=1 unit fuzz-replay "$b/flightrec" > "$tmp/build.log" 2>&1; then
  bad "build with the echo protocol"; tail -20 "$tmp/build.log"; finish
fi
ok "build with the echo protocol"
cd "$repo"

# The split test over the smallest case of each protocol's folder and
# echo's: what this test checks is that echo is covered (and that a
# protocol without a case fails), not the other cases' splits, which the
# unit suite checks over the whole corpus (a minute under ASan, twice here).
mini=$tmp/mini-corpus
for d in tests/corpus/*/; do
  c=$(for k in "$d"*/; do [[ -e $k/case.txt ]] && echo "$(du -sb "$k" | cut -f1) $k"; done | sort -n | head -1 | cut -d' ' -f2)
  [[ -n $c ]] && mkdir -p "$mini/$(basename "$d")" && cp -a "$c" "$mini/$(basename "$d")/"
done
FR_CORPUS=$mini "$b/test-unit" split_invariance > "$tmp/split" 2>&1
grep '^# split' "$tmp/split"
t "split invariance covers echo's case" grep -qE '^# split: .*echo: [1-9][0-9]* in 1 cases\), 0 failed' "$tmp/split"
t "split invariance passes" grep -q '^ok   split_invariance' "$tmp/split"

bash tests/fuzz/replay.sh "$b/fuzz-replay" > "$tmp/fuzz" 2>&1
t "fuzz replay runs every saved input through echo too" \
  grep -qE '^ok   fuzz_proto \([0-9]+ inputs, each input through [a-z0-9 ]* echo\)' "$tmp/fuzz"
t "fuzz replay passes" grep -q ', 0 failed$' "$tmp/fuzz"

ncases=$(find tests/corpus -name case.txt | wc -l)
"$b/flightrec" corpus check tests/corpus > "$tmp/corpus" 2>&1
t "corpus check passes echo's case" grep -q '^ok   tests/corpus/echo/lines$' "$tmp/corpus"
t "corpus check passes every case ($ncases)" grep -q "^corpus: $ncases passed, 0 failed" "$tmp/corpus"

"$b/flightrec" analyze -q tests/corpus/echo/lines/echo.pcap -o "$tmp/e.db" 2>/dev/null
t "the dump has the echo table" bash -c "'$b/flightrec' dump '$tmp/e.db' | grep -q '^# echo$'"
t "analyze --help lists echo" bash -c "'$b/flightrec' analyze --help | grep -q 'echo (echo)'"
t "corpus --help lists echo" bash -c "'$b/flightrec' corpus --help | grep -q 'Protocols:.* echo'"

# A protocol without its case is not done: the split test says so.
rm -rf tests/corpus/echo "$mini/echo"
FR_CORPUS=$mini "$b/test-unit" split_invariance > "$tmp/split2" 2>&1
t "without its case, split invariance fails and says why" \
  bash -c "grep -q '^FAIL split_invariance' '$tmp/split2' && grep -q 'registered protocol(s) without a corpus case' '$tmp/split2'"
finish

#!/usr/bin/env bash
# `make test-deploy`: the manifests validated offline (deploy/check: the
# Kubernetes API schema and types from npm's kubernetes-models, installed
# once into build/deploy-check at the versions deploy/check/package.json
# pins), then the image built and run under podman (test_podman.sh).  Kept
# out of `make test` for its time (the image build alone takes 1-2 min);
# .ci/run calls both.  Prints "N passed, N failed" per suite and in all.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${FR_BUILD:-build}
pass=0 fail=0
sum() { # log
	local line; line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		pass=$((pass + BASH_REMATCH[1])) fail=$((fail + BASH_REMATCH[2]))
	else
		fail=$((fail + 1))
	fi
}
t0=$SECONDS
echo "== deploy-check (manifests, offline)"
D=$BUILD/deploy-check
mkdir -p "$D"
if ! cmp -s deploy/check/package.json "$D/package.json" || [[ ! -d $D/node_modules ]]; then
	command -v npm >/dev/null || { echo "npm missing: install it (Debian: apt-get install npm)"; echo "deploy-check: 0 passed, 1 failed"; }
	cp deploy/check/package.json "$D/" &&
		(cd "$D" && npm install --no-audit --no-fund --silent >npm.log 2>&1) ||
		{ echo "FAIL npm install (see $D/npm.log)"; }
fi
cp deploy/check/validate.mjs "$D/"
node "$D/validate.mjs" deploy/kubernetes/*.yaml >"$D/out.log" 2>&1
grep -v '^ok ' "$D/out.log"
sum "$D/out.log"
echo "   ($((SECONDS - t0)) s)"
t1=$SECONDS
echo "== test_podman"
bash tests/deploy/test_podman.sh >"$BUILD/test_podman.log" 2>&1
grep -E '^# |FAIL|passed, [0-9]+ failed' "$BUILD/test_podman.log"
sum "$BUILD/test_podman.log"
echo "   ($((SECONDS - t1)) s)"
echo
echo "deploy: $pass passed, $fail failed ($((SECONDS - t0)) s)"
((fail == 0))

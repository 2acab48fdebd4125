#!/usr/bin/env bash
# deploy/collect.sh PATTERN OUTDIR - the snapshots of one incident from every
# node: for each recorder pod of the DaemonSet, the snapshot directories
# matching PATTERN (a shell glob on their names, e.g. '*-cluster_checkout-500s')
# are copied into OUTDIR/<node>/ through the Kubernetes API, authenticated
# as kubectl is (`kubectl exec ... tar`, what `kubectl cp` does; the image
# has tar).  Then: flightrec analyze OUTDIR/*/* -o incident.db
set -euo pipefail
[[ $# == 2 ]] || { echo "usage: $0 PATTERN OUTDIR" >&2; exit 2; }
pattern=$1 out=$2
kubectl -n flightrec get pods -l app.kubernetes.io/name=flightrec \
	-o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}' |
while read -r pod node; do
	mkdir -p "$out/$node"
	if kubectl -n flightrec exec "$pod" -c recorder -- tar -C /var/lib/flightrec/snapshots \
		--wildcards -cf - "$pattern" | tar -C "$out/$node" -xf -; then
		echo "$node: $(ls "$out/$node" | wc -l) snapshot(s)"
	else
		echo "$node: nothing matching $pattern" >&2
	fi
done

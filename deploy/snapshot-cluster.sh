#!/usr/bin/env bash
# deploy/snapshot-cluster.sh REASON - a snapshot on every node at once: writes
# the ConfigMap flightrec/flightrec-trigger with a new id, which every
# recorder polls every 2 s (--cluster-trigger); each takes a snapshot
# "cluster <REASON>" whose MARK has the time asked here.  Uses kubectl and
# its credentials (the ConfigMap is the only thing it writes).
set -euo pipefail
[[ $# == 1 && $1 != -* ]] || { echo "usage: $0 REASON" >&2; exit 2; }
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kubectl -n flightrec create configmap flightrec-trigger --from-literal=reason="$1" \
	--from-literal=id="$(date +%s%N)" --from-literal=requested="$now" \
	--dry-run=client -o yaml | kubectl apply -f -
echo "requested at $now: snapshots named <utc>-cluster_${1//[^A-Za-z0-9._-]/_} on every node"

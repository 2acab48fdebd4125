#!/usr/bin/env bash
# kubectl_standin.sh - what `flightrec collect` asks of kubectl, for the
# e2e tests: `kubectl --kubeconfig F -n NS exec POD -c CONTAINER -- CMD...`
# runs CMD as the recorder container of POD would, with POD's ring (the
# directory $KUBECTL_STANDIN_PODS/POD links to) mounted at
# /var/lib/flightrec in a private mount namespace (the kubelet's exec
# stream is not imitated: stdout and stderr are the command's own).  Its
# arguments are appended to $KUBECTL_STANDIN_PODS/argv.log, one line per
# call.  Anything else is refused (exit 2).
set -uo pipefail
echo "$*" >>"$KUBECTL_STANDIN_PODS/argv.log"
ns= pod= ctr=
while (($#)); do
	case $1 in
	--kubeconfig) shift 2 ;;
	-n) ns=$2; shift 2 ;;
	exec) pod=$2; shift 2 ;;
	-c) ctr=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "kubectl_standin: unexpected argument $1" >&2; exit 2 ;;
	esac
done
[[ -n $ns && -n $pod && -n $ctr && $# -gt 0 ]] || { echo "kubectl_standin: not an exec" >&2; exit 2; }
ring=$(readlink -f "$KUBECTL_STANDIN_PODS/$pod") && [[ -d $ring ]] ||
	{ echo "Error from server (NotFound): pods \"$pod\" not found" >&2; exit 1; }
exec unshare -m --propagation private sh -c \
	'mount -t tmpfs tmpfs /var/lib && mkdir /var/lib/flightrec && mount --bind "$0" /var/lib/flightrec && exec "$@"' \
	"$ring" "$@"

#!/usr/bin/env bash
# deploy/image/build.sh - the flightrec container image, from Debian's
# packages only: the two programs built here, tar (for `kubectl cp`), every
# shared library they
# link (from the Debian packages installed on this machine, listed with
# their package and version in $BUILD/image/PACKAGES), the dynamic loader,
# and a minimal /etc.  No base image and no registry: the root filesystem
# is a tar imported with `podman import`.  Also writes an OCI archive
# ($BUILD/image/flightrec.oci.tar) to load into a cluster's runtime.
#
#   deploy/image/build.sh [TAG]    (default localhost/flightrec:<version>)
#
# Needs: a build (make), podman.  Prints the tag on its last line.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
VERSION=$(sed -n 's/^#define FLIGHTREC_VERSION "\(.*\)"/\1/p' formats/cli.h)
TAG=${1:-localhost/flightrec:$VERSION}
OUT=$BUILD/image
ROOT=$OUT/rootfs
BINS=("$BUILD/flightrec" "$BUILD/flightrec-record")
TOOLS=(/bin/tar) # for `kubectl cp` (collecting snapshots)
for b in "${BINS[@]}" "${TOOLS[@]}"; do [[ -x $b ]] || { echo "build.sh: $b missing: run make first" >&2; exit 1; }; done
command -v podman >/dev/null || { echo "build.sh: podman missing (tests/deps.sh installs it)" >&2; exit 1; }

rm -rf "$ROOT" "$OUT/PACKAGES.tools"
mkdir -p "$ROOT"/{usr/bin,etc,tmp,var/lib/flightrec}
chmod 1777 "$ROOT/tmp"
cp "${BINS[@]}" "${TOOLS[@]}" "$ROOT/usr/bin/"
# the Debian package of a file (dpkg knows a path with or without /usr)
package_of() {
	local real; real=$(readlink -f "$1")
	local p; p=$(dpkg -S "$1" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null ||
		dpkg -S "/usr$real" 2>/dev/null) || { echo "build.sh: $1 is not from a Debian package: refused" >&2; return 1; }
	p=${p%%:*}
	echo "$1 $p $(dpkg-query -W -f='${Version}' "$p")"
}
for t in "${TOOLS[@]}"; do
	package_of "$t" >>"$OUT/PACKAGES.tools" || exit 1
done
# every library the programs load, and the loader, at the paths ldd names
mapfile -t libs < <(ldd "${BINS[@]}" "${TOOLS[@]}" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | sort -u)
: >"$OUT/PACKAGES"
for l in "${libs[@]}"; do
	cp --parents -L "$l" "$ROOT/"
	package_of "$l" >>"$OUT/PACKAGES" || exit 1
done
cat >"$ROOT/etc/passwd" <<'P'
root:x:0:0:root:/:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
cat >"$ROOT/etc/group" <<'G'
root:x:0:
flightrec:x:2000:
nogroup:x:65534:
G
echo 'passwd: files
group: files' >"$ROOT/etc/nsswitch.conf"
cat "$OUT/PACKAGES.tools" >>"$OUT/PACKAGES"
rm "$OUT/PACKAGES.tools"
tar -C "$ROOT" --numeric-owner --owner=0 --group=0 -cf "$OUT/rootfs.tar" .
podman import --quiet \
	--change 'ENTRYPOINT ["/usr/bin/flightrec-record"]' \
	--change 'CMD ["--help"]' \
	--change "LABEL org.opencontainers.image.title=flightrec org.opencontainers.image.version=$VERSION" \
	"$OUT/rootfs.tar" "$TAG" >/dev/null
rm -f "$OUT/flightrec.oci.tar"
podman save --quiet --format oci-archive -o "$OUT/flightrec.oci.tar" "$TAG"
echo "# image $TAG: $(du -sh "$ROOT" | cut -f1) unpacked, ${#libs[@]} libraries from $(cut -d' ' -f2 "$OUT/PACKAGES" | sort -u | wc -l) Debian packages"
echo "$TAG"

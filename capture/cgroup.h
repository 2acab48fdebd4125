/* cgroup.h - container and pod identity from cgroup paths (pure functions,
 * unit-tested), and cgroup id -> path resolution on cgroup v2. */
#ifndef FLIGHTREC_CGROUP_H
#define FLIGHTREC_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/* Finds the container id in a cgroup path written by the kubelet, Docker
 * or a CRI runtime, with the systemd or the cgroupfs driver:
 *   .../cri-containerd-<64 hex>.scope   .../crio-<64 hex>.scope
 *   .../docker-<64 hex>.scope           .../kubepods/burstable/pod<uid>/<64 hex>
 *   /docker/<64 hex>                    .../libpod-<64 hex>.scope
 * Writes the id (NUL-terminated) into out and returns its length, or 0 when
 * the path holds none (out is then ""). */
size_t fr_cgroup_container_id(const char *path, char *out, size_t outlen);

/* Finds the pod UID: "kubepods-burstable-pod<uid with _>.slice" (systemd)
 * or "/pod<uid>/" (cgroupfs).  Writes the UID with dashes, returns its
 * length, or 0. */
size_t fr_cgroup_pod_uid(const char *path, char *out, size_t outlen);

/* Path (relative to the cgroup v2 mount, starting with "/") of the cgroup
 * whose id is id, by a cached walk of the hierarchy; NULL if not found.
 * The returned string stays valid until fr_cgroup_fini(). */
const char *fr_cgroup_path(uint64_t id);
/* Mount point of cgroup v2 ("/sys/fs/cgroup" or ".../unified"), or NULL. */
const char *fr_cgroup_root(void);
/* The id of the cgroup directory at PATH (absolute, or relative to the
 * cgroup v2 mount), or 0. */
uint64_t fr_cgroup_id_of(const char *path);
void fr_cgroup_fini(void);

#endif

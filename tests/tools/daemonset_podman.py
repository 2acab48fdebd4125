#!/usr/bin/python3
"""daemonset_podman.py - a container of the DaemonSet in a manifest, as the
arguments of `podman run`: the same capabilities, host PID namespace,
seccomp profile, user, read-only root, host paths and command line (env
values from fieldRef spec.nodeName and from the file's ConfigMaps, $(VAR)
expanded as the kubelet does), so that a test runs exactly what the
manifest says.  Host paths can be moved (--host-path /var/lib/flightrec=DIR)
for a test.  Prints JSON: {"podman": [...], "image": ..., "command": [...],
"liveness": [...]}.

  daemonset_podman.py MANIFEST CONTAINER --node NAME [--host-path FROM=TO]...
"""
import argparse
import json
import re
import sys

import yaml  # Debian's python3-yaml


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("container")
    ap.add_argument("--node", required=True)
    ap.add_argument("--host-path", action="append", default=[])
    a = ap.parse_args()
    moved = dict(h.split("=", 1) for h in a.host_path)
    docs = [d for d in yaml.safe_load_all(open(a.manifest)) if d]
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    c = next(c for c in spec["containers"] if c["name"] == a.container)
    sc = c.get("securityContext", {})
    out = []
    if spec.get("hostPID"):
        out.append("--pid=host")
    caps = sc.get("capabilities", {})
    out += ["--cap-drop=" + x.lower() for x in caps.get("drop", [])]
    out += ["--cap-add=" + x for x in caps.get("add", [])]
    if sc.get("seccompProfile", {}).get("type") == "Unconfined":
        out += ["--security-opt", "seccomp=unconfined"]
    if sc.get("privileged"):
        sys.exit("the container is privileged: refused")
    if sc.get("allowPrivilegeEscalation") is False:
        out += ["--security-opt", "no-new-privileges"]
    if sc.get("readOnlyRootFilesystem"):
        out.append("--read-only")
    if "runAsUser" in sc:
        out += ["--user", "%d:%d" % (sc["runAsUser"], sc.get("runAsGroup", 0))]
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        hp = vols[m["name"]]["hostPath"]["path"]
        hp = moved.get(hp, hp)
        out += ["-v", "%s:%s%s" % (hp, m["mountPath"], ":ro" if m.get("readOnly") else "")]
    env = {}
    for e in c.get("env", []):
        vf = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = e["value"]
        elif vf.get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[e["name"]] = a.node
        elif "configMapKeyRef" in vf:
            r = vf["configMapKeyRef"]
            env[e["name"]] = cms[r["name"]][r["key"]]
        else:
            sys.exit("env %s: a source this tool does not know" % e["name"])
    for k, v in env.items():
        out += ["-e", "%s=%s" % (k, v)]
    expand = lambda s: re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), s)
    cmd = [expand(x) for x in c.get("command", []) + c.get("args", [])]
    live = c.get("livenessProbe", {}).get("exec", {}).get("command", [])
    json.dump({"podman": out, "image": c["image"], "command": cmd, "liveness": live}, sys.stdout)


main()

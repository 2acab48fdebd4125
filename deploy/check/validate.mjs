// validate.mjs - offline validation of Kubernetes manifests, without an API
// server: each object is checked (1) against the JSON schema of its kind
// (kubernetes-models, generated from the Kubernetes OpenAPI spec: types,
// required fields, formats), (2) by the TypeScript compiler against the
// kind's type, which also rejects fields the API does not know (a typo such
// as `readOnlyRootFileSystem`, which the server would drop silently), and
// (3) for references inside the file: volume mounts name volumes, env
// values from a ConfigMap name a key it has, $(VAR) in args names an env
// var of the container, the selector matches the template's labels.
//   node validate.mjs FILE.yaml...   exit 0 when every object passes
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
let failed = 0;
const fail = (where, msg) => { console.log(`FAIL ${where}: ${msg}`); failed++; };
const modPath = (o) => {
  const [g, v] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["", o.apiVersion];
  return `kubernetes-models/${g ? g + "/" : ""}${v}/${o.kind}`;
};

const objs = [];
for (const f of process.argv.slice(2)) {
  for (const d of parseAllDocuments(readFileSync(f, "utf8"))) {
    if (d.errors.length) { fail(f, d.errors[0].message); continue; }
    const o = d.toJS();
    if (o) objs.push({ file: f, o });
  }
}

// (1) the schema
for (const { file, o } of objs) {
  const where = `${file} ${o.kind}/${o.metadata?.name}`;
  try {
    const m = await import(modPath(o));
    new m[o.kind](o).validate();
    console.log(`ok ${where}: schema`);
  } catch (e) {
    fail(where, e.message.split("\n").slice(0, 4).join(" "));
  }
}

// (2) the types: object literals typed as the kind's interface
const dir = here; /* the imports resolve in its node_modules */
let ts = "";
objs.forEach(({ o }, i) => {
  ts += `import type { I${o.kind} as T${i} } from "${modPath(o)}";\n`;
  ts += `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};\n`;
});
writeFileSync(join(dir, "check.ts"), ts);
writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
  compilerOptions: { noEmit: true, strict: true, module: "nodenext", moduleResolution: "nodenext", types: [] },
  files: ["check.ts"] }));
try {
  execFileSync(join(here, "node_modules/.bin/tsc"), ["-p", join(dir, "tsconfig.json")], { cwd: here, stdio: "pipe" });
  console.log(`ok ${objs.length} objects: types (no unknown fields)`);
} catch (e) {
  fail("types", (e.stdout || "").toString().split("\n").filter((l) => l.includes("error")).slice(0, 5).join(" | ") || e.message);
}

// (3) references inside the file
const cms = new Map(objs.filter(({ o }) => o.kind === "ConfigMap")
  .map(({ o }) => [`${o.metadata.namespace}/${o.metadata.name}`, o.data || {}]));
for (const { file, o } of objs) {
  const spec = o.spec?.template?.spec;
  if (!spec) continue;
  const where = `${file} ${o.kind}/${o.metadata.name}`;
  const labels = o.spec.template.metadata?.labels || {};
  for (const [k, v] of Object.entries(o.spec.selector?.matchLabels || {}))
    if (labels[k] !== v) fail(where, `selector ${k}=${v} does not match the template's labels`);
  const vols = new Set((spec.volumes || []).map((v) => v.name));
  for (const c of spec.containers) {
    for (const m of c.volumeMounts || [])
      if (!vols.has(m.name)) fail(where, `container ${c.name} mounts volume ${m.name}, which is not defined`);
    const env = new Set((c.env || []).map((e) => e.name));
    for (const e of c.env || []) {
      const r = e.valueFrom?.configMapKeyRef;
      if (r && !(cms.get(`${o.metadata.namespace}/${r.name}`) || {})[r.key])
        fail(where, `env ${e.name}: ConfigMap ${r.name} has no key ${r.key}`);
    }
    for (const a of [...(c.command || []), ...(c.args || [])])
      for (const [, v] of a.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g))
        if (!env.has(v)) fail(where, `container ${c.name}: $(${v}) names no env var`);
  }
  console.log(`ok ${where}: references`);
}
console.log(`deploy-check: ${objs.length * 2 + 1 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

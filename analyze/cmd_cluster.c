/* cmd_cluster.c - the two cluster commands of flightrec, run from a
 * person's machine with their kubeconfig (or in a pod, with its service
 * account):
 *
 *   flightrec snapshot --cluster REASON: a snapshot on every node at once.
 *   One JSON merge PATCH of the ConfigMap the recorders poll
 *   (flightrec/flightrec-trigger, --cluster-trigger of the DaemonSet) with
 *   a new data.id, the reason and the time asked; each recorder takes a
 *   snapshot "cluster REASON" whose MARK holds that time.  Through the API
 *   server with libcurl (formats/kubeclient.c).
 *
 *   flightrec collect PATTERN OUTDIR: the snapshots of one incident from
 *   every node, into OUTDIR/NODE/.  The recorder pods are listed through
 *   the API (libcurl); each pod's snapshot directories matching PATTERN
 *   are copied as `kubectl cp` does it: `kubectl exec POD -c recorder --
 *   tar -C /var/lib/flightrec/snapshots -cf - ...` into `tar -x`.  The
 *   exec is kubectl's because pods/exec is a streaming upgrade
 *   (WebSocket or SPDY) that Debian 12's libcurl does not speak; kubectl
 *   gets the same --kubeconfig, so both steps use one identity. */
#define _GNU_SOURCE
#include "../formats/cli.h"
#include "../formats/kubeclient.h"
#include "flightrec.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SNAP_DIR "/var/lib/flightrec/snapshots" /* in the recorder container */

/* server/api/v1/namespaces/NS/WHAT (NS escaped) into url; -1 if too long. */
static int ns_url(struct fr_kubeclient *kc, const char *ns, const char *what, char *url, size_t len)
{
	char *e = curl_easy_escape(NULL, ns, 0);
	int n = e ? snprintf(url, len, "%s/api/v1/namespaces/%s/%s", fr_kubeclient_server(kc), e, what) : -1;
	curl_free(e);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The snapshot name's reason part, as the recorder makes it (ring.c):
 * "cluster REASON", 64 bytes at most, [A-Za-z0-9._-] kept, others '_'. */
static void snap_suffix(const char *reason, char *out, size_t len)
{
	char r[80];
	snprintf(r, sizeof(r), "cluster %s", reason);
	snprintf(out, len, "%.64s", r);
	for (char *s = out; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			*s = '_';
}

static void snapshot_usage(FILE *f)
{
	fprintf(f, "usage: flightrec snapshot --cluster REASON [--kubeconfig FILE] [--trigger NAMESPACE/NAME]\n"
		   "\n"
		   "A snapshot on every node at once: writes a new id, REASON and the time into\n"
		   "the ConfigMap every recorder polls (--cluster-trigger of the DaemonSet;\n"
		   "default flightrec/flightrec-trigger, which deploy/kubernetes/flightrec.yaml\n"
		   "creates) with one JSON merge PATCH through the Kubernetes API.  Each\n"
		   "recorder then takes a snapshot named <utc>-cluster_REASON within ~2 s.\n"
		   "Credentials: the kubeconfig FILE (server, CA, token or client certificate),\n"
		   "else $KUBECONFIG, else ~/.kube/config, else the pod's service account.  RBAC:\n"
		   "patch on that ConfigMap (the Role flightrec-operator of the manifest).\n"
		   "On one node only: flightrec-record snapshot DIR --reason REASON.\n"
		   "Exit codes: 0 written, 1 the API refused or failed, 2 usage.\n");
}

/* The kubeconfig to use: --kubeconfig, $KUBECONFIG (its first file),
 * ~/.kube/config if it exists, else NULL (in-cluster). */
static const char *pick_kubeconfig(const char *opt, char *buf, size_t len)
{
	if (opt)
		return opt;
	const char *env = getenv("KUBECONFIG");
	if (env && *env) {
		snprintf(buf, len, "%.*s", (int)strcspn(env, ":"), env);
		return buf;
	}
	const char *home = getenv("HOME");
	if (home && snprintf(buf, len, "%s/.kube/config", home) < (int)len && access(buf, R_OK) == 0)
		return buf;
	return NULL;
}

int cmd_snapshot(int argc, char **argv)
{
	static const struct option lo[] = {{"cluster", required_argument, 0, 'c'},
					   {"kubeconfig", required_argument, 0, 'k'},
					   {"trigger", required_argument, 0, 't'},
					   {"help", no_argument, 0, 'h'},
					   {0, 0, 0, 0}};
	const char *reason = NULL, *kcfg = NULL, *trigger = "flightrec/flightrec-trigger";
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': reason = optarg; break;
		case 'k': kcfg = optarg; break;
		case 't': trigger = optarg; break;
		case 'h': snapshot_usage(stdout); return EXIT_OK;
		default: snapshot_usage(stderr); return EXIT_USAGE;
		}
	}
	const char *slash = strchr(trigger, '/');
	if (!reason || !*reason || strlen(reason) > 200 || optind != argc || !slash || slash == trigger ||
	    !slash[1] || strchr(slash + 1, '/')) {
		snapshot_usage(stderr);
		return EXIT_USAGE;
	}
	char kbuf[4096], err[1024], url[2048], ns[256];
	struct fr_kubeclient *kc = fr_kubeclient_new(pick_kubeconfig(kcfg, kbuf, sizeof(kbuf)), err, sizeof(err));
	if (!kc) {
		fprintf(stderr, "flightrec snapshot: %s\n", err);
		return EXIT_USAGE;
	}
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - trigger), trigger);
	char *name = curl_easy_escape(NULL, slash + 1, 0), what[600];
	snprintf(what, sizeof(what), "configmaps/%s", name ? name : "");
	curl_free(name);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char id[32], when[32];
	snprintf(id, sizeof(id), "%lld%09ld", (long long)ts.tv_sec, ts.tv_nsec);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&ts.tv_sec));
	json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "data", "reason", reason, "id", id, "requested", when);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char *out = NULL;
	size_t outlen;
	long status;
	int rc = EXIT_DAMAGED;
	if (!text || ns_url(kc, ns, what, url, sizeof(url))) {
		fprintf(stderr, "flightrec snapshot: out of memory or name too long\n");
	} else if (fr_kubeclient_request(kc, "PATCH", url, "application/merge-patch+json", text, &out, &outlen,
					 &status, err, sizeof(err))) {
		fprintf(stderr, "flightrec snapshot: %s%s\n", err,
			status == 404 ? " (no such ConfigMap: apply deploy/kubernetes/flightrec.yaml, which "
					"creates it, or name yours with --trigger)"
			: status == 403 ? " (RBAC: you need patch on that ConfigMap: the Role flightrec-operator)"
					: "");
	} else {
		char suffix[80];
		snap_suffix(reason, suffix, sizeof(suffix));
		printf("requested at %s (id %s): every recorder polling %s takes a snapshot "
		       "<utc>-%s within ~2 s\n"
		       "collect them with: flightrec collect '*-%s' DIR\n",
		       when, id, trigger, suffix, suffix);
		rc = EXIT_OK;
	}
	free(out);
	free(text);
	json_decref(body);
	fr_kubeclient_free(kc);
	return rc;
}

/* ---- collect ------------------------------------------------------------- */

struct collect {
	const char *kubectl, *kubeconfig, *ns, *container, *pattern, *out;
};

/* Runs a (stdout into buf, at most len - 1 bytes, NUL-terminated) when b
 * is NULL, else a | b; returns a's exit status if it failed, else b's
 * (-1: could not run). */
static int run(char *const a[], char *const b[], char *buf, size_t len)
{
	int fd[2];
	if (pipe(fd) < 0)
		return -1;
	pid_t pa = fork();
	if (pa == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execvp(a[0], a);
		fprintf(stderr, "flightrec collect: cannot run %s: %s\n", a[0], strerror(errno));
		_exit(127);
	}
	pid_t pb = pa > 0 && b ? fork() : 0;
	if (b && pb == 0) {
		dup2(fd[0], 0);
		close(fd[0]);
		close(fd[1]);
		execvp(b[0], b);
		fprintf(stderr, "flightrec collect: cannot run %s: %s\n", b[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	size_t n = 0;
	ssize_t k;
	if (!b)
		while (n + 1 < len && (k = read(fd[0], buf + n, len - 1 - n)) > 0)
			n += (size_t)k;
	if (buf)
		buf[n] = 0;
	close(fd[0]);
	int sa = -1, sb = 0;
	if (pa > 0)
		waitpid(pa, &sa, 0);
	if (b && pb > 0)
		waitpid(pb, &sb, 0);
	else if (b)
		sb = -1;
	if (pa < 0 || sa < 0)
		return -1;
	if (!WIFEXITED(sa) || WEXITSTATUS(sa))
		return WIFEXITED(sa) ? WEXITSTATUS(sa) : 128;
	if (sb < 0)
		return -1;
	return WIFEXITED(sb) ? WEXITSTATUS(sb) : 128;
}

/* The kubectl exec command line for pod, then the command (cmd, NULL-ended)
 * into argv (room for 16 + the command's). */
static void exec_argv(const struct collect *c, const char *pod, char **cmd, char **argv)
{
	int i = 0;
	argv[i++] = (char *)c->kubectl;
	if (c->kubeconfig) {
		argv[i++] = "--kubeconfig";
		argv[i++] = (char *)c->kubeconfig;
	}
	argv[i++] = "-n";
	argv[i++] = (char *)c->ns;
	argv[i++] = "exec";
	argv[i++] = (char *)pod;
	argv[i++] = "-c";
	argv[i++] = (char *)c->container;
	argv[i++] = "--";
	while (*cmd)
		argv[i++] = *cmd++;
	argv[i] = NULL;
}

/* One pod: lists its snapshot directories (tar's verbose listing to
 * /dev/null reads no file), copies those matching the pattern into
 * dir.  Returns how many were copied, or -1 after a message. */
static int collect_pod(const struct collect *c, const char *pod, const char *dir)
{
	static char list[1 << 20];
	char *ls[] = {"tar", "-C", SNAP_DIR, "-cvf", "/dev/null", "--exclude=./*/*", ".", NULL};
	char *argv[32 + 256];
	exec_argv(c, pod, ls, argv);
	int st = run(argv, NULL, list, sizeof(list));
	if (st) {
		fprintf(stderr, "flightrec collect: %s: cannot list %s (%s exited %d)\n", pod, SNAP_DIR, c->kubectl,
			st);
		return -1;
	}
	char *cp[256 + 8] = {"tar", "-C", SNAP_DIR, "-cf", "-", "--", NULL};
	int n = 6, found = 0;
	for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "./", 2) || !line[2])
			continue;
		char *name = line + 2;
		name[strcspn(name, "/")] = 0;
		if (fnmatch(c->pattern, name, 0) == 0 && n < 256 + 6) {
			cp[n++] = name;
			found++;
		}
	}
	cp[n] = NULL;
	if (!found)
		return 0;
	char *x[] = {"tar", "-C", (char *)dir, "--no-same-owner", "-xf", "-", NULL};
	exec_argv(c, pod, cp, argv);
	st = run(argv, x, NULL, 0);
	if (st) {
		fprintf(stderr, "flightrec collect: %s: copying its snapshots failed (exit %d)\n", pod, st);
		return -1;
	}
	return found;
}

static void collect_usage(FILE *f)
{
	fprintf(f, "usage: flightrec collect PATTERN OUTDIR [--kubeconfig FILE] [--namespace NS]\n"
		   "                         [--selector LABELS] [--container NAME] [--kubectl PROGRAM]\n"
		   "\n"
		   "The snapshots of one incident from every node: the recorder pods (namespace\n"
		   "flightrec, label app.kubernetes.io/name=flightrec) are listed through the\n"
		   "Kubernetes API, and the snapshot directories of each whose names match the\n"
		   "shell pattern PATTERN (e.g. '*-cluster_checkout-500s', which `flightrec\n"
		   "snapshot --cluster` prints) are copied into OUTDIR/NODE/ as `kubectl cp`\n"
		   "does: kubectl exec ... tar (container recorder; the image has tar).\n"
		   "Credentials: as `flightrec snapshot`; kubectl is given the same\n"
		   "--kubeconfig.  RBAC: list pods and create pods/exec in that namespace (the\n"
		   "Role flightrec-operator of the manifest).  Then:\n"
		   "  flightrec analyze OUTDIR/*/* -o incident.db\n"
		   "Exit codes: 0 every running recorder gave a snapshot, 1 some gave none or\n"
		   "failed (what was copied stays), 2 usage or no recorder found.\n");
}

/* A node name as a directory name: [A-Za-z0-9._-], no leading '.'. */
static void node_dir(const char *node, char *out, size_t len)
{
	snprintf(out, len, "%s", *node ? node : "unknown-node");
	for (char *s = out; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || (*s == '.' && s != out)))
			*s = '_';
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
	const char *s = json_string_value(json_object_get(json_object_get(o, a), b));
	return s ? s : "";
}

int cmd_collect(int argc, char **argv)
{
	static const struct option lo[] = {{"kubeconfig", required_argument, 0, 'k'},
					   {"namespace", required_argument, 0, 'n'},
					   {"selector", required_argument, 0, 'l'},
					   {"container", required_argument, 0, 'c'},
					   {"kubectl", required_argument, 0, 'x'},
					   {"help", no_argument, 0, 'h'},
					   {0, 0, 0, 0}};
	struct collect c = {"kubectl", NULL, "flightrec", "recorder", NULL, NULL};
	const char *kopt = NULL, *selector = "app.kubernetes.io/name=flightrec";
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (o) {
		case 'k': kopt = optarg; break;
		case 'n': c.ns = optarg; break;
		case 'l': selector = optarg; break;
		case 'c': c.container = optarg; break;
		case 'x': c.kubectl = optarg; break;
		case 'h': collect_usage(stdout); return EXIT_OK;
		default: collect_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc - 2 || !*argv[optind] || !*argv[optind + 1]) {
		collect_usage(stderr);
		return EXIT_USAGE;
	}
	c.pattern = argv[optind];
	c.out = argv[optind + 1];
	char kbuf[4096], err[1024], url[2048], what[1024];
	c.kubeconfig = pick_kubeconfig(kopt, kbuf, sizeof(kbuf));
	struct fr_kubeclient *kc = fr_kubeclient_new(c.kubeconfig, err, sizeof(err));
	if (!kc) {
		fprintf(stderr, "flightrec collect: %s\n", err);
		return EXIT_USAGE;
	}
	char *sel = curl_easy_escape(NULL, selector, 0);
	snprintf(what, sizeof(what), "pods?labelSelector=%s", sel ? sel : "");
	curl_free(sel);
	char *body = NULL;
	size_t blen;
	long status;
	json_t *pl = NULL;
	int rc = EXIT_USAGE;
	if (ns_url(kc, c.ns, what, url, sizeof(url)) ||
	    fr_kubeclient_request(kc, "GET", url, NULL, NULL, &body, &blen, &status, err, sizeof(err))) {
		fprintf(stderr, "flightrec collect: %s\n", err);
		goto out;
	}
	pl = json_loadb(body, blen, 0, NULL);
	json_t *items = json_object_get(pl, "items");
	if (!json_array_size(items)) {
		fprintf(stderr, "flightrec collect: no pod in namespace %s matches %s\n", c.ns, selector);
		goto out;
	}
	if (mkdir(c.out, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "flightrec collect: cannot create %s: %s\n", c.out, strerror(errno));
		goto out;
	}
	rc = EXIT_OK;
	size_t i;
	json_t *p;
	json_array_foreach(items, i, p) {
		const char *pod = jstr(p, "metadata", "name"), *node = jstr(p, "spec", "nodeName");
		const char *phase = jstr(p, "status", "phase");
		if (!*pod)
			continue;
		if (strcmp(phase, "Running")) {
			fprintf(stderr, "flightrec collect: %s (node %s) is %s: skipped\n", pod, node,
				*phase ? phase : "in no phase");
			rc = EXIT_DAMAGED;
			continue;
		}
		char nd[256], dir[4096 + 256];
		node_dir(node, nd, sizeof(nd));
		snprintf(dir, sizeof(dir), "%s/%s", c.out, nd);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "flightrec collect: cannot create %s: %s\n", dir, strerror(errno));
			rc = EXIT_DAMAGED;
			continue;
		}
		int n = collect_pod(&c, pod, dir);
		if (n >= 0)
			printf("%s (%s): %d snapshot%s matching %s\n", nd, pod, n, n == 1 ? "" : "s", c.pattern);
		if (n <= 0)
			rc = EXIT_DAMAGED;
	}
	printf("then: flightrec analyze %s/*/* -o incident.db\n", c.out);
out:
	json_decref(pl);
	free(body);
	fr_kubeclient_free(kc);
	return rc;
}

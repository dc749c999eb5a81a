// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QEMU argument checks and rewriting for mpqemu-run.
 *
 * The option syntax handled is QEMU's "key=value,key=value" with an
 * optional leading implied key (the -object type, the -machine type); a
 * JSON -object cannot be checked and is reported as such.
 */
#define _GNU_SOURCE
#include "qemu_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Value of @key in "a,key=v,b" (copied into @out), or NULL. */
static const char *opt_get(const char *opts, const char *key, char *out,
			   size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = opts;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = len - klen - 1;

			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = 0;
			return out;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* The implied first item ("memory-backend-memfd" in "-object memory-..."). */
static void first_item(const char *opts, char *out, size_t outlen)
{
	size_t len = strcspn(opts, ",");

	if (memchr(opts, '=', len))
		len = 0;	/* "type=..." form: no implied item */
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, opts, len);
	out[len] = 0;
}

static bool is_opt(const char *a, const char *name)
{
	/* QEMU takes both -opt and --opt. */
	if (a[0] != '-')
		return false;
	if (a[1] == '-')
		a++;
	return !strcmp(a + 1, name);
}

static bool truthy(const char *v)
{
	return !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") ||
	       !strcmp(v, "y");
}

struct backend {
	char id[64];
	char type[64];
	bool share;
};

#define MAX_BACKENDS 32

int qa_check_shared_ram(int argc, char *const *argv, char *msg, size_t len)
{
	struct backend be[MAX_BACKENDS];
	char machine_mem[64] = "", numa_mem[MAX_BACKENDS][64], tmp[64];
	int nbe = 0, nnuma = 0;
	static const char fix[] =
		"add  -object memory-backend-memfd,id=mem,size=<RAM size>,share=on "
		"-machine <type>,memory-backend=mem  (or use it as every -numa "
		"node memdev=), or pass --no-ram-check";

	for (int i = 0; i + 1 < argc; i++) {
		const char *v = argv[i + 1];

		if (is_opt(argv[i], "object")) {
			struct backend *b;

			if (v[0] == '{') {
				snprintf(msg, len, "cannot check a JSON -object (%s); "
					 "use key=value syntax or --no-ram-check", v);
				return -1;
			}
			if (nbe == MAX_BACKENDS)
				continue;
			b = &be[nbe];
			first_item(v, b->type, sizeof(b->type));
			if (!b->type[0] && !opt_get(v, "qom-type", b->type,
						   sizeof(b->type)))
				continue;
			if (strncmp(b->type, "memory-backend-", 15))
				continue;
			if (!opt_get(v, "id", b->id, sizeof(b->id)))
				continue;
			/* memfd backends are shared unless told otherwise. */
			b->share = !strcmp(b->type, "memory-backend-memfd");
			if (opt_get(v, "share", tmp, sizeof(tmp)))
				b->share = truthy(tmp);
			nbe++;
			i++;
		} else if (is_opt(argv[i], "machine") || is_opt(argv[i], "M")) {
			opt_get(v, "memory-backend", machine_mem, sizeof(machine_mem));
			i++;
		} else if (is_opt(argv[i], "numa")) {
			if (nnuma < MAX_BACKENDS &&
			    opt_get(v, "memdev", numa_mem[nnuma], sizeof(numa_mem[0])))
				nnuma++;
			i++;
		}
	}

	if (!machine_mem[0] && !nnuma) {
		snprintf(msg, len, "guest RAM is not a shared memory backend, so the "
			 "remote cannot map it (x-pci-proxy-dev passes RAM as fds): %s",
			 fix);
		return -1;
	}
	for (int k = -1; k < nnuma; k++) {
		const char *want = k < 0 ? machine_mem : numa_mem[k];
		const struct backend *b = NULL;

		if (!want[0])
			continue;
		for (int j = 0; j < nbe; j++)
			if (!strcmp(be[j].id, want))
				b = &be[j];
		if (!b) {
			snprintf(msg, len, "guest RAM backend '%s' is not defined by "
				 "any -object memory-backend-*: %s", want, fix);
			return -1;
		}
		if (strcmp(b->type, "memory-backend-memfd") &&
		    strcmp(b->type, "memory-backend-file")) {
			snprintf(msg, len, "guest RAM backend '%s' is %s, which has no "
				 "fd to pass to the remote: %s", want, b->type, fix);
			return -1;
		}
		if (!b->share) {
			snprintf(msg, len, "guest RAM backend '%s' is not share=on, so "
				 "the remote's DMA would not reach the guest: %s",
				 want, fix);
			return -1;
		}
	}
	msg[0] = 0;
	return 0;
}

/* Append @s to the growing string *@out. */
static int sappend(char **out, size_t *olen, const char *s, size_t n)
{
	char *p = realloc(*out, *olen + n + 1);

	if (!p)
		return -1;
	memcpy(p + *olen, s, n);
	*olen += n;
	p[*olen] = 0;
	*out = p;
	return 0;
}

/*
 * Replace the placeholders in one argument; marks @used[i] for each proxy
 * whose @PROXY_FD appears.  NULL on error (@err set).
 */
static char *substitute(const char *arg, const struct qa_proxy *p, int np,
			bool *used, char *err, size_t errlen)
{
	char *out = NULL;
	size_t olen = 0;
	const char *s = arg;

	if (sappend(&out, &olen, "", 0))
		return NULL;
	while (*s) {
		const char *at = strchr(s, '@');
		const char *end;
		char name[128], num[16];
		bool mpdev;
		const char *id;
		int which = -1;
		size_t n;

		if (!at) {
			sappend(&out, &olen, s, strlen(s));
			break;
		}
		sappend(&out, &olen, s, at - s);
		end = strchr(at + 1, '@');
		n = end ? (size_t)(end - at - 1) : 0;
		if (!end || n >= sizeof(name) ||
		    (strncmp(at + 1, "PROXY_FD", 8) && strncmp(at + 1, "MPDEV_FD", 8))) {
			/* Not ours: keep the '@' and go on. */
			sappend(&out, &olen, "@", 1);
			s = at + 1;
			continue;
		}
		memcpy(name, at + 1, n);
		name[n] = 0;
		mpdev = !strncmp(name, "MPDEV_FD", 8);
		if (name[8] == 0) {
			id = NULL;
		} else if (name[8] == ':') {
			id = name + 9;
		} else {
			sappend(&out, &olen, "@", 1);
			s = at + 1;
			continue;
		}
		if (!id) {
			if (np != 1) {
				snprintf(err, errlen, "@%s@ is ambiguous with %d proxies; "
					 "use @%s:ID@", name, np, name);
				free(out);
				return NULL;
			}
			which = 0;
		} else {
			for (int i = 0; i < np; i++)
				if (!strcmp(p[i].id, id))
					which = i;
			if (which < 0) {
				snprintf(err, errlen, "placeholder @%s@ names no proxy", name);
				free(out);
				return NULL;
			}
		}
		if (mpdev && p[which].mpdev_fd < 0) {
			snprintf(err, errlen, "@%s@ used without --mpdev", name);
			free(out);
			return NULL;
		}
		snprintf(num, sizeof(num), "%d", mpdev ? p[which].mpdev_fd : p[which].fd);
		sappend(&out, &olen, num, strlen(num));
		if (!mpdev)
			used[which] = true;
		s = end + 1;
	}
	return out;
}

void qa_free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

char **qa_build_argv(const char *qemu, int argc, char *const *argv,
		     const struct qa_proxy *p, int np, const char *mpdev_prop,
		     char *err, size_t errlen)
{
	bool used[64] = { false };
	char **out;
	int n = 0;

	err[0] = 0;
	if (np > 64) {
		snprintf(err, errlen, "too many proxies");
		return NULL;
	}
	out = calloc((size_t)argc + 2 * np + 2, sizeof(*out));
	if (!out)
		goto oom;
	if (!(out[n++] = strdup(qemu)))
		goto oom;
	for (int i = 0; i < argc; i++) {
		out[n] = substitute(argv[i], p, np, used, err, errlen);
		if (!out[n]) {
			if (!err[0])
				snprintf(err, errlen, "out of memory");
			qa_free_argv(out);
			return NULL;
		}
		n++;
	}
	for (int i = 0; i < np; i++) {
		char *dev;

		if (used[i])
			continue;
		if (!(out[n++] = strdup("-device")))
			goto oom;
		if (p[i].mpdev_fd >= 0) {
			if (asprintf(&dev, "x-pci-proxy-dev,id=%s,fd=%d,%s=%d", p[i].id,
				     p[i].fd, mpdev_prop, p[i].mpdev_fd) < 0)
				goto oom;
		} else if (asprintf(&dev, "x-pci-proxy-dev,id=%s,fd=%d", p[i].id,
				    p[i].fd) < 0) {
			goto oom;
		}
		out[n++] = dev;
	}
	return out;
oom:
	snprintf(err, errlen, "out of memory");
	qa_free_argv(out);
	return NULL;
}

int qa_cmd_end(int argc, char *const *argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], ";"))
			return i;
	return -1;
}

/* Length of NAME in "NAME@..." (A-Z first, then A-Z 0-9 _), or 0. */
static size_t placeholder_len(const char *s)
{
	size_t n = 0;

	if (*s < 'A' || *s > 'Z')
		return 0;
	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
	       s[n] == '_')
		n++;
	return s[n] == '@' ? n : 0;
}

/* One argument of a remote's command line; NULL with @err set. */
static char *expand_remote_arg(const char *arg, int idx,
			       const struct qa_remote_vars *v, bool *fd_seen,
			       char *err, size_t errlen)
{
	char *out = NULL, num[16];
	size_t olen = 0;
	const char *s = arg;
	int rc = sappend(&out, &olen, "", 0);

	while (!rc && *s) {
		const char *at = strchr(s, '@');
		const char *val;
		size_t n;

		if (!at) {
			rc = sappend(&out, &olen, s, strlen(s));
			break;
		}
		rc = sappend(&out, &olen, s, at - s);
		if (rc)
			break;
		if (at[1] == '@') {
			rc = sappend(&out, &olen, "@", 1);
			s = at + 2;
			continue;
		}
		n = placeholder_len(at + 1);
		if (!n) {
			/* "user@host", "@5": not a placeholder, kept. */
			rc = sappend(&out, &olen, "@", 1);
			s = at + 1;
			continue;
		}
		if (n == 2 && !strncmp(at + 1, "FD", 2)) {
			snprintf(num, sizeof(num), "%d", v->fd);
			val = num;
			*fd_seen = true;
		} else if (n == 2 && !strncmp(at + 1, "ID", 2)) {
			val = v->id;
		} else if (n == 6 && !strncmp(at + 1, "RUNDIR", 6)) {
			if (!v->rundir) {
				snprintf(err, errlen, "remote for proxy %s: @RUNDIR@ "
					 "(argument %d, '%s') needs --run-dir",
					 v->id, idx, arg);
				free(out);
				return NULL;
			}
			val = v->rundir;
		} else {
			snprintf(err, errlen, "remote for proxy %s: unknown "
				 "placeholder @%.*s@ in argument %d, '%s' (known: "
				 "@FD@ @ID@ @RUNDIR@; write @@ for a literal @)",
				 v->id, (int)n, at + 1, idx, arg);
			free(out);
			return NULL;
		}
		rc = sappend(&out, &olen, val, strlen(val));
		s = at + 1 + n + 1;
	}
	if (rc) {
		snprintf(err, errlen, "out of memory");
		free(out);
		return NULL;
	}
	return out;
}

char **qa_build_remote_argv(int argc, char *const *argv,
			    const struct qa_remote_vars *v, char *err,
			    size_t errlen)
{
	bool fd_seen = false;
	char **out;

	err[0] = 0;
	if (argc < 1) {
		snprintf(err, errlen, "remote for proxy %s: empty command", v->id);
		return NULL;
	}
	out = calloc((size_t)argc + 1, sizeof(*out));
	if (!out) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < argc; i++) {
		out[i] = expand_remote_arg(argv[i], i, v, &fd_seen, err, errlen);
		if (!out[i]) {
			qa_free_argv(out);
			return NULL;
		}
	}
	if (!fd_seen) {
		snprintf(err, errlen, "remote for proxy %s: its command never "
			 "mentions @FD@, so it could not find its socket (e.g. "
			 "-object x-remote-object,...,fd=@FD@ or --fd @FD@)", v->id);
		qa_free_argv(out);
		return NULL;
	}
	return out;
}

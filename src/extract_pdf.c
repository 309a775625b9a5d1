/* extract_pdf.c - the text of a PDF, page by page, through pdftotext (see extract.h).
 *
 * Reading PDF is left to poppler's pdftotext (Debian package poppler-utils), run as
 * `pdftotext -layout -enc UTF-8 FILE -` with fork and exec, never a shell: the program
 * is looked up in PATH first, so a missing one is a clear message rather than a failed
 * exec. Bytes held in memory are written to a private temporary file (mkstemp) first.
 * The child gets /dev/null as stdin and no other descriptor of ours; its stdout is read
 * through a pipe up to PDF_MAX_TEXT bytes, its stderr kept (the start of it) for the
 * message, and it is killed when it runs past the timeout or the size cap.
 *
 * pdftotext ends every page with a form feed; the pages become paragraphs joined by a
 * blank line, and the offset where each starts is kept, so chunks know their page.
 * Lines lose trailing blanks and each page its leading and trailing blank lines;
 * -layout's indentation stays, because it keeps tables and columns readable. The
 * output is checked like any outside input: invalid UTF-8 becomes U+FFFD and NUL bytes
 * are dropped. A PDF without any text (a scan) is INGEST_NO_TEXT, one pdftotext cannot
 * read is INGEST_BROKEN with pdftotext's own last complaint. Knows nothing of chunks. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "extract.h"
#include "utf8.h"

#define PDF_PROGRAM "pdftotext"
#define PDF_MISSING "PDF support needs pdftotext: apt-get install poppler-utils"
#define PDF_TIMEOUT_MS 60000
#define PDF_MAX_TEXT (64 * 1024 * 1024)	/* stdout read from pdftotext */
#define PDF_MAX_STDERR 2048			/* stderr kept for the message */
#define PDF_READ_BLOCK 65536
#define PDF_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define PDF_TMP_DEFAULT "/tmp"
#define PDF_EXIT_PERMISSION 3			/* pdftotext: copying text not allowed */

static const char *hook_program;
static int hook_timeout_ms;

void extract_pdf_hook(const char *program, int timeout_ms)
{
	hook_program = program;
	hook_timeout_ms = timeout_ms;
}

/* What the child left behind. */
struct run {
	struct buf out;			/* its stdout */
	char errtext[PDF_MAX_STDERR];	/* the start of its stderr, NUL-terminated */
	size_t errlen;
	int status;			/* from waitpid */
	int timed_out;
	int too_big;
};

/* ---- finding and starting the program ---- */

static int executable(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

/* The program's path into b: as given when it holds a '/', else from PATH.
 * DC_NOTFOUND when there is none. */
static enum dc_err find_program(const char *prog, struct buf *b)
{
	const char *path = getenv("PATH"), *p, *colon;
	size_t dirlen;

	if (!path || !*path)
		path = PDF_DEFAULT_PATH;
	if (strchr(prog, '/')) {
		if (buf_appends(b, prog) != DC_OK)
			return DC_NOMEM;
		return executable(prog) ? DC_OK : DC_NOTFOUND;
	}
	for (p = path; ; p = colon + 1) {
		colon = strchr(p, ':');
		dirlen = colon ? (size_t)(colon - p) : strlen(p);
		buf_reset(b);
		/* An empty PATH entry means the current directory. */
		if (buf_append(b, dirlen ? p : ".", dirlen ? dirlen : 1) != DC_OK ||
		    buf_appends(b, "/") != DC_OK || buf_appends(b, prog) != DC_OK)
			return DC_NOMEM;
		if (executable(buf_str(b)))
			return DC_OK;
		if (!colon)
			return DC_NOTFOUND;
	}
}

/* In the child, between fork and exec: only async-signal-safe calls. Moves the three
 * descriptors above 2 first, so that none is overwritten before it is copied. */
static void child_exec(const char *prog, char *const argv[], int in, int out, int err,
		       int report)
{
	sigset_t none;
	int e;

	in = fcntl(in, F_DUPFD, 3);
	out = fcntl(out, F_DUPFD, 3);
	err = fcntl(err, F_DUPFD, 3);
	if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		goto fail;
	/* Nothing of ours (database, sockets) may reach the program. An old kernel
	 * without close_range leaves it to O_CLOEXEC, which docchat's files carry. */
	(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execv(prog, argv);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Start prog on file; *pid and the read ends of its stdout and stderr on success. */
static enum dc_err spawn(const char *prog, const char *file, pid_t *pid, int *out_fd,
			 int *err_fd, char *err, size_t errlen)
{
	char *argv[] = { (char *)PDF_PROGRAM, (char *)"-layout", (char *)"-enc",
			 (char *)"UTF-8", (char *)file, (char *)"-", NULL };
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, rep[2] = { -1, -1 }, devnull = -1;
	int child_errno = 0;
	ssize_t r;
	enum dc_err rc = DC_OK;

	*pid = -1;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 ||
	    pipe2(rep, O_CLOEXEC) != 0) {
		rc = dc_fail(err, errlen, DC_SYSTEM, "running pdftotext: %s", strerror(errno));
		goto out;
	}
	*pid = fork();
	if (*pid < 0) {
		rc = dc_fail(err, errlen, DC_SYSTEM, "running pdftotext: %s", strerror(errno));
		goto out;
	}
	if (*pid == 0)
		child_exec(prog, argv, devnull, out[1], errp[1], rep[1]);
	close_fd(&rep[1]);
	/* EOF here means exec worked (the descriptor closed on exec); else its errno. */
	do
		r = read(rep[0], &child_errno, sizeof(child_errno));
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		*pid = -1;
		rc = dc_fail(err, errlen, DC_SYSTEM, "running pdftotext: %s",
			     strerror(child_errno));
		goto out;
	}
	*out_fd = out[0];
	*err_fd = errp[0];
	out[0] = errp[0] = -1;
out:
	close_fd(&devnull);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&rep[0]);
	close_fd(&rep[1]);
	return rc;
}

/* ---- collecting its output ---- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what is ready on fd into the run; EOF closes fd. */
static enum dc_err drain(int *fd, int is_err, struct run *r)
{
	char block[PDF_READ_BLOCK];
	ssize_t n = read(*fd, block, sizeof(block));
	size_t keep;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? DC_OK : DC_SYSTEM;
	if (n == 0) {
		close_fd(fd);
		return DC_OK;
	}
	if (!is_err)
		return buf_append(&r->out, block, (size_t)n);
	keep = sizeof(r->errtext) - 1 - r->errlen;
	if (keep > (size_t)n)
		keep = (size_t)n;
	memcpy(r->errtext + r->errlen, block, keep);
	r->errlen += keep;
	r->errtext[r->errlen] = '\0';
	return DC_OK;
}

/* Collect stdout and stderr until both end, the deadline passes or stdout is too big;
 * then reap the child (killed in the last two cases). */
static enum dc_err collect(pid_t pid, int out_fd, int err_fd, int timeout_ms,
			   struct run *r, char *err, size_t errlen)
{
	struct pollfd pf[2];
	long long deadline = now_ms() + timeout_ms, left;
	int fds[2] = { out_fd, err_fd }, n, i;
	enum dc_err rc = DC_OK;

	while (fds[0] >= 0 || fds[1] >= 0) {
		left = deadline - now_ms();
		if (left <= 0) {
			r->timed_out = 1;
			break;
		}
		for (i = 0; i < 2; i++) {
			pf[i].fd = fds[i];
			pf[i].events = POLLIN;
			pf[i].revents = 0;
		}
		n = poll(pf, 2, (int)left);
		if (n < 0 && errno != EINTR) {
			rc = dc_fail(err, errlen, DC_SYSTEM, "reading pdftotext: %s", strerror(errno));
			break;
		}
		for (i = 0; n > 0 && i < 2 && rc == DC_OK; i++)
			if (fds[i] >= 0 && pf[i].revents)
				rc = drain(&fds[i], i == 1, r);
		if (rc == DC_TOOBIG) {
			r->too_big = 1;
			rc = DC_OK;
			break;
		}
		if (rc != DC_OK) {
			rc = dc_fail(err, errlen, rc, "reading pdftotext: %s", dc_strerror(rc));
			break;
		}
	}
	if (fds[0] >= 0 || fds[1] >= 0)
		kill(pid, SIGKILL);
	close_fd(&fds[0]);
	close_fd(&fds[1]);
	while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
		;
	return rc;
}

/* ---- from its output to a document ---- */

/* Append s[0..n) with invalid UTF-8 as U+FFFD and NUL bytes dropped. */
static enum dc_err append_clean(struct buf *b, const char *s, size_t n)
{
	size_t i = 0, len, good;
	unsigned long cp;
	enum dc_err rc = DC_OK;

	while (rc == DC_OK && i < n) {
		good = utf8_valid_prefix(s + i, n - i);
		/* NULs are valid UTF-8; cut the good run at the first of them. */
		len = 0;
		while (len < good && s[i + len] != '\0')
			len++;
		if (len)
			rc = buf_append(b, s + i, len);
		i += len;
		if (rc != DC_OK || i >= n)
			break;
		if (s[i] == '\0') {
			i++;
		} else {
			rc = buf_appends(b, "\xef\xbf\xbd");
			len = utf8_decode(s + i, n - i, &cp);
			i += len ? len : 1;
		}
	}
	return rc;
}

static int blank_byte(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v';
}

static enum dc_err add_page_start(struct extract_doc *doc, size_t *cap, size_t off)
{
	size_t *p;

	if (doc->npages == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		p = realloc(doc->pages, *cap * sizeof(*p));
		if (!p)
			return DC_NOMEM;
		doc->pages = p;
	}
	doc->pages[doc->npages++] = off;
	return DC_OK;
}

/* One page's text p[0..n) into b: trailing blanks off every line, blank lines at the
 * start and end dropped and runs of them made one, "\n\n" before it when it follows
 * text. Records where it starts. */
static enum dc_err add_page(struct buf *b, struct extract_doc *doc, size_t *cap,
			    const char *p, size_t n)
{
	size_t ls = 0, le, e;
	const char *nl;
	int started = 0, blank = 0;
	enum dc_err rc = DC_OK;

	while (rc == DC_OK && ls < n) {
		nl = memchr(p + ls, '\n', n - ls);
		le = nl ? (size_t)(nl - p) : n;
		for (e = le; e > ls && blank_byte(p[e - 1]); e--)
			;
		if (e == ls) {
			blank = started;
		} else if (!started) {
			if (b->len > 0)
				rc = buf_appends(b, "\n\n");
			if (rc == DC_OK)
				rc = add_page_start(doc, cap, b->len);
			started = 1;
		} else {
			rc = buf_appends(b, blank ? "\n\n" : "\n");
			blank = 0;
		}
		if (rc == DC_OK && e > ls)
			rc = append_clean(b, p + ls, e - ls);
		ls = le + 1;
	}
	if (rc == DC_OK && !started)
		rc = add_page_start(doc, cap, b->len);
	return rc;
}

/* pdftotext's output (pages ended by form feeds) into doc. */
static enum dc_err build_doc(const struct buf *raw, struct extract_doc *doc)
{
	struct buf b;
	const char *p = raw->data ? raw->data : "", *ff;
	size_t n = raw->len, ps = 0, pe, cap = 0;
	enum dc_err rc = DC_OK;

	buf_init(&b, 3 * n + 16);	/* every bad byte may become three */
	while (rc == DC_OK && ps < n) {
		ff = memchr(p + ps, '\f', n - ps);
		pe = ff ? (size_t)(ff - p) : n;
		rc = add_page(&b, doc, &cap, p + ps, pe - ps);
		ps = pe + 1;
	}
	if (rc == DC_OK && doc->npages == 0)
		rc = add_page_start(doc, &cap, 0);
	if (rc == DC_OK) {
		doc->text = buf_take(&b, &doc->len);
		if (!doc->text)
			rc = DC_NOMEM;
	}
	buf_free(&b);
	return rc;
}

static int has_text(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!blank_byte(s[i]) && s[i] != '\n' && s[i] != '\f')
			return 1;
	return 0;
}

/* The last non-empty line of pdftotext's stderr, or "" (in place). */
static const char *last_complaint(struct run *r)
{
	char *s = r->errtext, *line;
	size_t n = r->errlen;

	while (n > 0 && (s[n - 1] == '\n' || blank_byte(s[n - 1])))
		n--;
	s[n] = '\0';
	line = memrchr(s, '\n', n);
	return line ? line + 1 : s;
}

/* Turn a finished run into a document or an error naming the problem. */
static enum dc_err judge(struct run *r, int timeout_ms, struct extract_doc *out,
			 enum ingest_problem *why, char *err, size_t errlen)
{
	const char *why_text;

	if (r->timed_out) {
		*why = INGEST_BROKEN;
		return dc_fail(err, errlen, DC_BADREQ, "pdftotext gave up after %d s (a damaged "
			       "or very large PDF?)", (timeout_ms + 999) / 1000);
	}
	if (r->too_big) {
		*why = INGEST_TOO_BIG;
		return dc_fail(err, errlen, DC_TOOBIG, "the PDF's text is over %d MB",
			       PDF_MAX_TEXT / (1024 * 1024));
	}
	if (WIFSIGNALED(r->status)) {
		*why = INGEST_BROKEN;
		return dc_fail(err, errlen, DC_BADREQ, "pdftotext crashed reading it (signal %d)",
			       WTERMSIG(r->status));
	}
	why_text = last_complaint(r);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0) {
		*why = INGEST_BROKEN;
		if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == PDF_EXIT_PERMISSION)
			return dc_fail(err, errlen, DC_BADREQ, "the PDF does not allow copying "
				       "its text");
		return dc_fail(err, errlen, DC_BADREQ, "not a readable PDF: %s",
			       *why_text ? why_text : "pdftotext failed");
	}
	if (!has_text(r->out.data ? r->out.data : "", r->out.len)) {
		*why = INGEST_NO_TEXT;
		return dc_fail(err, errlen, DC_BADREQ, "no text found (a scanned PDF needs OCR "
			       "first)");
	}
	if (build_doc(&r->out, out) != DC_OK)
		return dc_fail(err, errlen, DC_NOMEM, "out of memory");
	return DC_OK;
}

/* ---- the temporary copy ---- */

static enum dc_err write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return DC_SYSTEM;
		p += w;
		n -= (size_t)w;
	}
	return DC_OK;
}

/* data into a new private file; its name into tmp (the caller unlinks it). */
static enum dc_err temp_copy(const char *data, size_t len, struct buf *tmp, char *err,
			     size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	int fd = -1;
	enum dc_err rc;

	if (!dir || !*dir)
		dir = PDF_TMP_DEFAULT;
	rc = buf_printf(tmp, "%s/docchat-pdf-XXXXXX", dir);
	if (rc != DC_OK)
		return dc_fail(err, errlen, rc, "temporary file: %s", dc_strerror(rc));
	fd = mkostemp(tmp->data, O_CLOEXEC);
	if (fd < 0) {
		rc = dc_fail(err, errlen, DC_SYSTEM, "temporary file in %s: %s", dir,
			     strerror(errno));
		buf_reset(tmp);
		return rc;
	}
	rc = write_all(fd, data, len);
	if (rc != DC_OK)
		rc = dc_fail(err, errlen, rc, "temporary file: %s", strerror(errno));
	if (close(fd) != 0 && rc == DC_OK)
		rc = dc_fail(err, errlen, DC_SYSTEM, "temporary file: %s", strerror(errno));
	return rc;
}

enum dc_err extract_pdf(const char *data, size_t len, const char *file,
			struct extract_doc *out, enum ingest_problem *why, char *err,
			size_t errlen)
{
	struct buf prog, tmp, arg;
	struct run r;
	int timeout = hook_timeout_ms > 0 ? hook_timeout_ms : PDF_TIMEOUT_MS;
	int out_fd = -1, err_fd = -1;
	pid_t pid = -1;
	enum dc_err rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	*why = INGEST_FINE;
	buf_init(&prog, 4096);
	buf_init(&tmp, 4096);
	buf_init(&arg, 4096);
	buf_init(&r.out, PDF_MAX_TEXT);
	rc = find_program(hook_program ? hook_program : PDF_PROGRAM, &prog);
	if (rc == DC_NOTFOUND) {	/* the server's fault, not the file's */
		rc = dc_fail(err, errlen, DC_SYSTEM, PDF_MISSING);
		goto out;
	}
	if (rc != DC_OK) {
		rc = dc_fail(err, errlen, rc, "out of memory");
		goto out;
	}
	if (!file) {
		rc = temp_copy(data ? data : "", data ? len : 0, &tmp, err, errlen);
		if (rc != DC_OK)
			goto out;
		file = buf_str(&tmp);
	}
	/* A name starting with '-' would read as an option. */
	rc = buf_printf(&arg, "%s%s", file[0] == '-' ? "./" : "", file);
	if (rc != DC_OK) {
		rc = dc_fail(err, errlen, rc, "file name too long");
		goto out;
	}
	rc = spawn(buf_str(&prog), buf_str(&arg), &pid, &out_fd, &err_fd, err, errlen);
	if (rc != DC_OK)
		goto out;
	rc = collect(pid, out_fd, err_fd, timeout, &r, err, errlen);
	if (rc == DC_OK)
		rc = judge(&r, timeout, out, why, err, errlen);
out:
	if (rc != DC_OK)
		extract_doc_free(out);
	if (tmp.len)
		unlink(buf_str(&tmp));
	buf_free(&r.out);
	buf_free(&arg);
	buf_free(&tmp);
	buf_free(&prog);
	return rc;
}

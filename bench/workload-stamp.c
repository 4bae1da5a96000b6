/* The workload of bench/migrate: downtime as a process inside the container
 * sees it. Linked statically (cc -static -O2) and copied into a container's
 * rootfs; started detached (setsid, stdio on /dev/null) by `ferry exec`.
 *
 *   workload-stamp run DIR MIB
 *       Fills MIB MiB of anonymous memory with a xorshift pattern (no zero
 *       pages, nothing for page deduplication) and keeps its checksum. Then
 *       stamps CLOCK_REALTIME about every millisecond. The stamps live in
 *       memory; a gap longer than 3 ms between two consecutive stamps is
 *       appended to DIR/gaps as "PREV_NS NOW_NS" (the file is opened, written
 *       and closed each time: no descriptor into the rootfs is held across a
 *       checkpoint, and no file grows every millisecond while the rootfs is
 *       being synced). The largest gap around a move is the downtime seen
 *       from inside: frozen, dumped, copied, restored and scheduled again.
 *       Writes DIR/ready ("PID\n") once set up.
 *       A new token (one line) in DIR/touch makes it read its whole buffer
 *       again, a few MiB between two stamps, and write "TOKEN ok" (or
 *       "TOKEN BAD checksum") to DIR/touched: the pages are resident right
 *       before a timed step, and the memory is verified after a restore.
 *
 *   workload-stamp echo PORT
 *       A TCP echo server on PORT (all addresses), one connection at a time:
 *       what each read returns is written back. The peer of bench/tcp-probe's
 *       "echo" client on the lab's client namespace: the downtime seen from
 *       outside the container.
 *
 *   workload-stamp prefault MIB    (on the host)
 *       Touches MIB MiB of fresh memory and exits, so that the VM's free
 *       memory is backed again before a timed step (this VM hands idle free
 *       memory back to its host; see bench/README.md).
 *
 * Plain C and libc only; no allocation after setup. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GAP_LOG_NS (3 * 1000 * 1000LL)
#define TOUCH_CHUNK (4u << 20)
#define CHECK_EVERY 20 /* stamps between two looks at DIR/touch */

static char dir[200];

static int64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
path_of (char *buf, size_t size, const char *name)
{
  snprintf (buf, size, "%s/%s", dir, name);
}

/* Written to NAME.tmp, then renamed: the bench never reads half a file. */
static void
write_file (const char *name, const char *text)
{
  char path[300], tmp[310];
  int fd;

  path_of (path, sizeof path, name);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (write (fd, text, strlen (text)) < 0)
    perror ("write");
  close (fd);
  rename (tmp, path);
}

static void
log_gap (int64_t prev, int64_t now)
{
  char path[300], line[64];
  int fd, n;

  path_of (path, sizeof path, "gaps");
  n = snprintf (line, sizeof line, "%lld %lld\n", (long long) prev, (long long) now);
  fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (write (fd, line, n) < 0)
    perror ("write");
  close (fd);
}

/* The token in DIR/touch, or "" (one line, at most size-1 bytes). */
static void
read_token (char *buf, size_t size)
{
  char path[300];
  ssize_t n;
  int fd;

  buf[0] = '\0';
  path_of (path, sizeof path, "touch");
  if ((fd = open (path, O_RDONLY | O_CLOEXEC)) < 0)
    return;
  n = read (fd, buf, size - 1);
  close (fd);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
}

static uint64_t
next (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint64_t
mix (uint64_t sum, const uint64_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    sum = (sum ^ p[i]) * 0x100000001b3ULL;
  return sum;
}

static int
run (size_t mib)
{
  size_t bytes = mib << 20, words = bytes / sizeof (uint64_t);
  static uint64_t none[1]; /* 0 MiB: an idle container, stamps only */
  uint64_t *buf = bytes ? mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : none;
  uint64_t seed = 0x9e3779b97f4a7c15ULL, want, sum = 0;
  char token[64] = "", pending[64] = "", text[128];
  size_t touch_at = 0;
  int touching = 0, tick = 0;
  int64_t prev, now;
  struct timespec ms = { 0, 1000 * 1000 };

  if (buf == MAP_FAILED)
    {
      perror ("mmap");
      return 1;
    }
  for (size_t i = 0; i < words; i++)
    buf[i] = next (&seed);
  want = mix (0, buf, words);
  read_token (token, sizeof token); /* a token left from before is not a request */
  snprintf (text, sizeof text, "%d\n", (int) getpid ());
  write_file ("ready", text);
  prev = now_ns ();
  for (;;)
    {
      nanosleep (&ms, NULL);
      now = now_ns ();
      if (now - prev > GAP_LOG_NS)
        log_gap (prev, now);
      prev = now;
      if (touching)
        {
          /* A few MiB per stamp: the stamps go on while the memory is read. */
          size_t n = TOUCH_CHUNK / sizeof (uint64_t);
          if (n > words - touch_at)
            n = words - touch_at;
          sum = mix (sum, buf + touch_at, n);
          touch_at += n;
          if (touch_at == words)
            {
              snprintf (text, sizeof text, "%s %s\n", pending, sum == want ? "ok" : "BAD checksum");
              write_file ("touched", text);
              touching = 0;
            }
          continue;
        }
      if (++tick < CHECK_EVERY)
        continue;
      tick = 0;
      read_token (pending, sizeof pending);
      if (pending[0] != '\0' && strcmp (pending, token) != 0)
        {
          strcpy (token, pending);
          touching = 1;
          touch_at = 0;
          sum = 0;
        }
    }
}

static int
prefault (size_t mib)
{
  size_t bytes = mib << 20;
  char *p = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED)
    {
      perror ("mmap");
      return 1;
    }
  for (size_t i = 0; i < bytes; i += 4096)
    p[i] = (char) i;
  munmap (p, bytes);
  return 0;
}

static int
echo (int port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
  int one = 1, s = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char buf[4096];

  if (s < 0 || setsockopt (s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
      || bind (s, (struct sockaddr *) &a, sizeof a) < 0 || listen (s, 4) < 0)
    {
      perror ("echo: listen");
      return 1;
    }
  for (;;)
    {
      int c = accept (s, NULL, NULL);
      ssize_t n;

      if (c < 0)
        continue;
      setsockopt (c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      while ((n = read (c, buf, sizeof buf)) > 0)
        if (write (c, buf, (size_t) n) != n)
          break;
      close (c);
    }
}

int
main (int argc, char **argv)
{
  if (argc == 4 && strcmp (argv[1], "run") == 0)
    {
      snprintf (dir, sizeof dir, "%s", argv[2]);
      return run ((size_t) strtoul (argv[3], NULL, 10));
    }
  if (argc == 3 && strcmp (argv[1], "prefault") == 0)
    return prefault ((size_t) strtoul (argv[2], NULL, 10));
  if (argc == 3 && strcmp (argv[1], "echo") == 0)
    return echo (atoi (argv[2]));
  fprintf (stderr, "usage: workload-stamp run DIR MIB | workload-stamp echo PORT | workload-stamp prefault MIB\n");
  return 2;
}

#include "common/signals.h"

#include <signal.h>
#include <string.h>

static const struct
{
  const char *name;
  int number;
} signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "USR1", SIGUSR1 },   { "USR2", SIGUSR2 },
  { "TERM", SIGTERM }, { "PWR", SIGPWR },   { "WINCH", SIGWINCH },   { "CONT", SIGCONT },   { "ALRM", SIGALRM },
  { "ABRT", SIGABRT }, { "TSTP", SIGTSTP }, { "URG", SIGURG },       { "PIPE", SIGPIPE },   { "CHLD", SIGCHLD },
};

/* A decimal number of at most four digits; -1 otherwise. */
static int
small_number (const char *s)
{
  int n = 0;

  if (*s == '\0' || strlen (s) > 4)
    return -1;
  for (; *s; s++)
    {
      if (!g_ascii_isdigit (*s))
        return -1;
      n = n * 10 + (*s - '0');
    }
  return n;
}

static int
parse (const char *s)
{
  int n;

  if ((n = small_number (s)) >= 0)
    return n;
  if (g_ascii_strncasecmp (s, "SIG", 3) == 0)
    s += 3;
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    if (g_ascii_strcasecmp (s, signals[i].name) == 0)
      return signals[i].number;
  if (g_ascii_strncasecmp (s, "RTMIN", 5) == 0)
    {
      if (s[5] == '\0')
        return SIGRTMIN;
      return s[5] == '+' && (n = small_number (s + 6)) >= 0 ? SIGRTMIN + n : -1;
    }
  if (g_ascii_strncasecmp (s, "RTMAX", 5) == 0)
    {
      if (s[5] == '\0')
        return SIGRTMAX;
      return s[5] == '-' && (n = small_number (s + 6)) >= 0 ? SIGRTMAX - n : -1;
    }
  return -1;
}

int
ferry_signal_parse (const char *name)
{
  int n = name ? parse (name) : -1;

  if (n < 1 || n > SIGRTMAX || n == SIGKILL || n == SIGSTOP)
    return -1;
  return n;
}

/*
 * fakeport.c — a local process posing as a WIM for test/e2e/hotplug.test.ts (docs/security.md,
 * "Watch mode"): a PTY whose slave LINK points to, answering the AT+PKCS identification (AT+GCAP,
 * AT+GSN with SERIAL, ATI-style +GMI/+GMM/+GMR, the link settings and AT+PKCSVER) like a device in
 * clear, and ERROR to everything else — it cannot answer the secure link's handshake, since it has
 * no device key. Every line it receives is appended to LOG. Runs until killed.
 *   fakeport LINK SERIAL LOG
 */
#define _XOPEN_SOURCE 600
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int master;

static void say(const char *s)
{
  size_t n = strlen(s);
  while (n) {
    ssize_t w = write(master, s, n);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void answer(const char *line, const char *serial)
{
  char out[256];
  if (!strcmp(line, "AT+GCAP"))
    say("\r\n+GCAP: +PKCS\r\n\r\nOK\r\n");
  else if (!strcmp(line, "AT+GSN")) {
    snprintf(out, sizeof out, "\r\n%s\r\n\r\nOK\r\n", serial);
    say(out);
  } else if (!strcmp(line, "AT+GMI") || !strcmp(line, "AT+GMM") || !strcmp(line, "AT+GMR"))
    say(!strcmp(line, "AT+GMR") ? "\r\n0.1\r\n\r\nOK\r\n" : "\r\nWIM\r\n\r\nOK\r\n");
  else if (!strncmp(line, "ATE0", 4))
    say("\r\nOK\r\n");
  else if (!strncmp(line, "AT+PKCSVER=", 11)) {
    snprintf(out, sizeof out, "\r\n+PKCSVER: %.16s\r\n\r\nOK\r\n", line + 11);
    say(out);
  } else if (line[0])
    say("\r\nERROR\r\n");
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: fakeport LINK SERIAL LOG\n");
    return 2;
  }
  master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) {
    perror("fakeport: posix_openpt");
    return 1;
  }
  unlink(argv[1]);
  if (symlink(ptsname(master), argv[1])) {
    perror("fakeport: symlink");
    return 1;
  }
  FILE *log = fopen(argv[3], "a");
  if (!log)
    return 1;
  setvbuf(log, NULL, _IONBF, 0);
  printf("ready %s\n", ptsname(master));
  fflush(stdout);
  char line[8192];
  size_t len = 0;
  for (;;) {
    char c;
    ssize_t r = read(master, &c, 1);
    if (r < 0) {
      usleep(20 * 1000); /* EIO while no one has the slave open */
      continue;
    }
    if (r == 0)
      continue;
    if (c == '\r' || c == '\n') {
      line[len] = 0;
      if (len)
        fprintf(log, "%s\n", line);
      answer(line, argv[2]);
      len = 0;
    } else if (len + 1 < sizeof line) {
      line[len++] = c;
    }
  }
}

/**
 * Programs bench/udp runs as servers in namespace B: the C recvmmsg/sendmmsg
 * echo (compiled with cc at start) and the Node dgram echo. Each prints "ready"
 * once bound.
 */

/**
 * recvmmsg(MSG_WAITFORONE), 64 messages a call, then sendmmsg() of the same
 * messages back to their senders (msg_name as received). argv[1] is the port.
 * The receive buffer is raised with SO_RCVBUFFORCE (root) to 8 MiB, so that a
 * scheduling stall costs no more loss than linerate's 8192-slot rx ring.
 */
export const C_ECHO = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#define VLEN 64
static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }
static char bufs[VLEN][2048];
int main(int argc, char **argv) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1, rcv = 8 << 20;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) { perror("socket"); return 1; }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv)) perror("SO_RCVBUFFORCE (continuing with the default)");
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("bind"); return 1; }
  struct sigaction s = { 0 };
  s.sa_handler = on_term; sigaction(SIGTERM, &s, 0);
  struct mmsghdr m[VLEN]; struct iovec iov[VLEN]; struct sockaddr_in from[VLEN];
  memset(m, 0, sizeof m);
  for (int i = 0; i < VLEN; i++) { iov[i].iov_base = bufs[i]; m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1; m[i].msg_hdr.msg_name = &from[i]; }
  printf("ready\n"); fflush(stdout);
  while (!stop) {
    for (int i = 0; i < VLEN; i++) { iov[i].iov_len = sizeof bufs[i]; m[i].msg_hdr.msg_namelen = sizeof from[i]; }
    int r = recvmmsg(fd, m, VLEN, MSG_WAITFORONE, NULL);
    if (r < 0) { if (errno == EINTR) continue; perror("recvmmsg"); return 1; }
    for (int i = 0; i < r; i++) iov[i].iov_len = m[i].msg_len;
    for (int done = 0; done < r;) {
      int w = sendmmsg(fd, m + done, r - done, 0);
      if (w < 0) { if (errno == EINTR) continue; if (errno == EAGAIN || errno == ENOBUFS) break; perror("sendmmsg"); return 1; }
      done += w;
    }
  }
  return 0;
}
`;

/** A Node dgram socket that sends every datagram back to its sender. */
export const nodeEcho = (port: number) => `
const s = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
s.on('message', (m, r) => s.send(m, r.port, r.address));
process.on('SIGTERM', () => process.exit(0));
s.bind(${port}, '0.0.0.0', () => console.log('ready'));
`;

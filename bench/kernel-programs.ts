/**
 * Programs bench/kernel runs as children: the C recvmmsg receiver (compiled with
 * cc at start), the Node dgram receiver, and the linerate generator script.
 * Each prints "ready" when it runs; the receivers print their count on SIGUSR2.
 */

/** A recvmmsg(MSG_WAITFORONE) loop, 64 messages a call, on one SO_REUSEPORT socket; argv[1] is the port. */
export const C_RECEIVER = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#define VLEN 64
static volatile sig_atomic_t report, stop;
static void on_usr2(int s) { (void)s; report = 1; }
static void on_term(int s) { (void)s; stop = 1; }
static char bufs[VLEN][2048];
int main(int argc, char **argv) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) { perror("socket"); return 1; }
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("bind"); return 1; }
  struct sigaction s = { 0 };
  s.sa_handler = on_usr2; sigaction(SIGUSR2, &s, 0);   /* no SA_RESTART: recvmmsg returns EINTR */
  s.sa_handler = on_term; sigaction(SIGTERM, &s, 0);
  struct mmsghdr m[VLEN]; struct iovec iov[VLEN];
  memset(m, 0, sizeof m);
  for (int i = 0; i < VLEN; i++) { iov[i].iov_base = bufs[i]; iov[i].iov_len = sizeof bufs[i]; m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1; }
  unsigned long long n = 0;
  printf("ready\n"); fflush(stdout);
  while (!stop) {
    int r = recvmmsg(fd, m, VLEN, MSG_WAITFORONE, NULL);
    if (r > 0) n += r;
    else if (r < 0 && errno != EINTR) { perror("recvmmsg"); return 1; }
    if (report) { report = 0; printf("%llu\n", n); fflush(stdout); }
  }
  printf("%llu\n", n);
  return 0;
}
`;
/** A Node dgram socket counting 'message' events, on `port`. */
export const nodeReceiver = (port: number) => `
const s = require('node:dgram').createSocket('udp4');
let n = 0;
s.on('message', () => { n++; });
process.on('SIGUSR2', () => process.stdout.write(n + '\\n'));
process.on('SIGTERM', () => { process.stdout.write(n + '\\n'); process.exit(0); });
s.bind(${port}, '0.0.0.0', () => console.log('ready'));
`;

/** The linerate generator: a null port forwarded to an af_packet port; argv: index.js, netns, interface, frame size, lcore CPU, frame hex. */
export const GEN_SCRIPT = `
const { Engine } = await import(process.argv[1]);
const [ns, ifc, size, cpu, hex] = process.argv.slice(2);
const e = await Engine.create({ lcores: [Number(cpu)], mempool: { mbufs: 16384 } });
const gen = e.addPort('gen', { driver: 'null', content: Buffer.from(hex, 'hex'), packetSize: Number(size) });
const p = e.addPort('a', { driver: 'af_packet', interface: ifc, netns: ns });
e.forward(gen, p);
await e.start();
console.log('ready');
process.on('SIGTERM', async () => { await e.stop(); await e.close(); process.exit(0); });
setInterval(() => {}, 1 << 30);
`;

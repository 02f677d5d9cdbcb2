#include "pipeline/capture/libpcap.h"

#include <dlfcn.h>

#include <mutex>

#include "core/error.h"

namespace lr::capture {

namespace {

// The few libpcap declarations we use, written from its documented ABI
// (pcap_open_dead(3PCAP), pcap_compile(3PCAP), pcap_geterr(3PCAP),
// pcap_freecode(3PCAP), pcap/bpf.h): struct bpf_program is { u_int bf_len;
// struct bpf_insn *bf_insns; } and struct bpf_insn is cbpf::Insn's layout.
struct BpfProgram {
  unsigned bf_len;
  cbpf::Insn* bf_insns;
};
struct Pcap;  // pcap_t, opaque
constexpr int kDltEn10mb = 1;                     // DLT_EN10MB: Ethernet (pcap-linktype(7), LINKTYPE_ETHERNET)
constexpr unsigned kNetmaskUnknown = 0xffffffffu;  // PCAP_NETMASK_UNKNOWN (pcap_compile(3PCAP))

struct Lib {
  void* h = nullptr;
  Pcap* (*open_dead)(int, int) = nullptr;
  int (*compile)(Pcap*, BpfProgram*, const char*, int, unsigned) = nullptr;
  void (*freecode)(BpfProgram*) = nullptr;
  char* (*geterr)(Pcap*) = nullptr;
  void (*close)(Pcap*) = nullptr;
  BpfFilterFn filter = nullptr;
};

// Debian/Ubuntu ship the runtime as libpcap.so.0.8 (package libpcap0.8), other
// distributions as libpcap.so.1; libpcap.so comes only with the -dev package.
const Lib& lib() {
  static Lib l = [] {
    Lib r;
    for (const char* name : {"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"})
      if ((r.h = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
    if (!r.h) return r;
    r.open_dead = reinterpret_cast<decltype(r.open_dead)>(dlsym(r.h, "pcap_open_dead"));
    r.compile = reinterpret_cast<decltype(r.compile)>(dlsym(r.h, "pcap_compile"));
    r.freecode = reinterpret_cast<decltype(r.freecode)>(dlsym(r.h, "pcap_freecode"));
    r.geterr = reinterpret_cast<decltype(r.geterr)>(dlsym(r.h, "pcap_geterr"));
    r.close = reinterpret_cast<decltype(r.close)>(dlsym(r.h, "pcap_close"));
    r.filter = reinterpret_cast<BpfFilterFn>(dlsym(r.h, "bpf_filter"));
    return r;
  }();
  return l;
}

}  // namespace

std::vector<cbpf::Insn> compile_filter(const std::string& expr, uint32_t snaplen) {
  const Lib& l = lib();
  if (!l.h || !l.open_dead || !l.compile || !l.freecode || !l.geterr || !l.close)
    fail("LIBPCAP_MISSING",
         "a filter expression needs libpcap, which is not installed: run `apt-get install libpcap0.8` "
         "(Fedora: `dnf install libpcap`), or give the program as raw classic BPF instead "
         "(--bpf \"N,code jt jf k,...\", as `tcpdump -ddd EXPR` prints it on another host)");
  // pcap_compile is not thread-safe before libpcap 1.8; captures start on the JS thread, but be sure.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  Pcap* p = l.open_dead(kDltEn10mb, int(snaplen > 262144 ? 262144 : snaplen));
  if (!p) fail("LIBPCAP_MISSING", "pcap_open_dead failed (out of memory?)");
  BpfProgram prog{0, nullptr};
  if (l.compile(p, &prog, expr.c_str(), 1, kNetmaskUnknown) != 0) {
    const std::string why = l.geterr(p);
    l.close(p);
    fail("CAPTURE_FILTER_INVALID", "capture filter '" + expr + "': " + why + " (syntax: man 7 pcap-filter)");
  }
  std::vector<cbpf::Insn> out(prog.bf_insns, prog.bf_insns + prog.bf_len);
  l.freecode(&prog);
  l.close(p);
  return out;
}

BpfFilterFn libpcap_bpf_filter() { return lib().filter; }

}  // namespace lr::capture

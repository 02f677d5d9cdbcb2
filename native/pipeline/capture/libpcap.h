// pcap-filter expressions to classic BPF through the host's libpcap, loaded at
// run time (dlopen): linerate has no build-time dependency on libpcap, and a
// host without it can still capture with a raw program (cbpf::parse_ddd).
#pragma once
#include <string>
#include <vector>

#include "pipeline/capture/cbpf.h"

namespace lr::capture {

// Compiles `expr` (pcap-filter(7) syntax) for Ethernet frames (DLT_EN10MB) with
// the given snaplen, optimised, as tcpdump does. Throws LIBPCAP_MISSING when no
// libpcap can be loaded, CAPTURE_FILTER_INVALID with libpcap's message when the
// expression does not compile.
std::vector<cbpf::Insn> compile_filter(const std::string& expr, uint32_t snaplen);

// libpcap's own interpreter (bpf_filter), for tests that compare ours with it;
// nullptr when libpcap is missing.
using BpfFilterFn = unsigned (*)(const cbpf::Insn* prog, const unsigned char* pkt, unsigned wire_len, unsigned buf_len);
BpfFilterFn libpcap_bpf_filter();

}  // namespace lr::capture

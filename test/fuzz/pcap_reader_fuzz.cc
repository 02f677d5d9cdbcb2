// libFuzzer target: the pcap reader (native/drivers/pcap/pcap_reader.cc) on a
// file of arbitrary bytes. Contract: it either indexes the file, every record
// lying inside the file, or throws lr::Error with one of its documented codes;
// never another exception, never a read outside the mapping.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "core/error.h"
#include "drivers/pcap/pcap_reader.h"
#include "fuzz_bed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader takes a path: an anonymous memory file named through /proc.
  const int fd = memfd_create("pcap-fuzz", MFD_CLOEXEC);
  FUZZ_ASSERT(fd >= 0);
  for (size_t done = 0; done < size;) {
    const ssize_t w = write(fd, data + done, size - done);
    FUZZ_ASSERT(w > 0);
    done += size_t(w);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    lr::pcap::PcapReader r(path);
    FUZZ_ASSERT(r.file_bytes() == size);
    uint64_t sum = 0;
    uint32_t largest = 0;
    for (size_t i = 0; i < r.records(); i++) {
      const auto& rec = r.record(i);
      FUZZ_ASSERT(rec.offset >= 24 + 16 && rec.offset + rec.len <= size);
      FUZZ_ASSERT(std::memcmp(r.data(rec), data + rec.offset, rec.len) == 0);
      for (uint32_t k = 0; k < rec.len; k++) sum += r.data(rec)[k];
      if (rec.len > largest) largest = rec.len;
    }
    FUZZ_ASSERT(largest == r.largest());
    (void)sum;
  } catch (const lr::Error& e) {
    const std::string& c = e.code();
    FUZZ_ASSERT(c == "PCAP_FORMAT" || c == "PCAP_LINKTYPE" || c == "PCAP_TRUNCATED");
  }
  close(fd);
  return 0;
}

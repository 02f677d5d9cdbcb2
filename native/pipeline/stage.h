// A stage takes a burst of mbufs and owns them from then on: it passes them on
// (to a tx buffer, a ring, another stage) or frees them. Stages run on one lcore.
#pragma once
#include <cstdint>

#include "core/mbuf.h"

namespace lr {

class Stage {
 public:
  virtual ~Stage() = default;
  virtual void process(Mbuf** mbufs, uint16_t n) = 0;
  // Drain period: push out what is buffered.
  virtual void flush() {}
  // Stop: give back what is buffered.
  virtual void drain() {}
};

}  // namespace lr

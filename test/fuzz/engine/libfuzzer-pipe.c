// libFuzzer as the engine of the kernel fuzz targets. libFuzzer (LLVM's, Debian's libfuzzer-14-dev)
// owns everything an engine does: mutation, the corpus, coverage-guided selection, minimisation,
// crash files. This glue gives it the Wasm kernels' edge counters as one inline-8bit-counter
// region and forwards each input to the Node process that runs the target (test/fuzz/engine/
// libfuzzer.ts) over two pipes:
//   fd 3 (to Node):   u32 length, the input bytes
//   fd 4 (from Node): u32 verdict (0 passed, 1 the oracle failed), then the counters (one byte each)
// A failed oracle aborts, so libFuzzer saves the input as a crash artifact. Jazzer.js's addon does
// the same job in-process, but its only prebuilt binary (4.0.0) needs glibc 2.38 (Debian 12 has 2.36).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TO_NODE 3
#define FROM_NODE 4

static uint8_t *counters;
static size_t counter_count;

extern void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop);

__attribute__((constructor)) static void register_counters(void) {
  const char *n = getenv("WNB_FUZZ_COUNTERS");
  counter_count = n == NULL ? 0 : (size_t)strtoul(n, NULL, 10);
  if (counter_count == 0) {
    fprintf(stderr, "libfuzzer-pipe: run it from test/fuzz/engine/libfuzzer.ts (WNB_FUZZ_COUNTERS unset)\n");
    exit(2);
  }
  counters = calloc(counter_count, 1);
  __sanitizer_cov_8bit_counters_init(counters, counters + counter_count);
}

static void transfer(int fd, void *buffer, size_t length, int writing) {
  uint8_t *p = buffer;
  while (length > 0) {
    ssize_t n = writing ? write(fd, p, length) : read(fd, p, length);
    if (n <= 0) {
      fprintf(stderr, "libfuzzer-pipe: the Node side went away\n");
      _exit(3);
    }
    p += n;
    length -= (size_t)n;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint32_t length = (uint32_t)size;
  transfer(TO_NODE, &length, 4, 1);
  transfer(TO_NODE, (void *)data, size, 1);
  uint32_t verdict;
  transfer(FROM_NODE, &verdict, 4, 0);
  transfer(FROM_NODE, counters, counter_count, 0);
  if (verdict != 0) abort();
  return 0;
}

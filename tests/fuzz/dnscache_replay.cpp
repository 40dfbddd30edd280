// fuzz_replay_dnscache: runs the dnscache fuzz target on each file named on the
// command line, or on a built-in corpus of malformed packets when given none.
// Lets g++ builds (no libFuzzer) exercise the target as a regular test.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

const std::vector<std::vector<uint8_t>> kCorpus = {
    {},
    {0x12},
    {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0},                      // no question
    {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1},  // compression loop
    {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 250, 0, 1, 0, 1},  // pointer out of packet
    {0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1},  // QDCOUNT 2
    {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1},      // QR set
    {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1,       // EDNS version 1
     0, 0, 41, 0x04, 0xd0, 0, 1, 0, 0, 0, 0},
    {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 'a', 'b'},     // label overflow
    // structured reply mode: 2 answers of garbage, 1 authority
    {0x01, 0xc0, 0x00, 0x80, 2, 1, 0, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1,
     0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 30, 0, 2, 0xc0, 12},
    // structured reply: NXDOMAIN with an SOA
    {0x01, 0x80, 0x00, 0x83, 0, 1, 0, 0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0, 1,
     0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5},
    // structured reply: TC set
    {0x01, 0x00, 0x02, 0x80, 0, 0, 0},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    for (const auto& input : kCorpus) LLVMFuzzerTestOneInput(input.data(), input.size());
    std::printf("replayed %zu built-in inputs\n", kCorpus.size());
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    if (!f) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    std::vector<uint8_t> input((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("replayed %d files\n", argc - 1);
  return 0;
}

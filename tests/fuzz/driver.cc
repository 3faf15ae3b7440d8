// Runs a libFuzzer-style target without libFuzzer (g++ has none): every seed file, then a
// bounded number of deterministic mutations of them (bit flips, byte changes, truncations,
// insertions, splices). Under ASan/UBSan this finds crashes and overreads in CI; a clang
// build with -fsanitize=fuzzer runs the same targets under real libFuzzer.
//   fuzz_x CORPUS_DIR [ITERATIONS]
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

std::vector<std::uint8_t> mutate(const std::vector<std::uint8_t>& seed,
                                 const std::vector<std::vector<std::uint8_t>>& all, Random& random) {
  auto data = seed;
  const int edits = 1 + static_cast<int>(random.below(4));
  for (int i = 0; i < edits; ++i) {
    switch (random.below(6)) {
    case 0:
      if (!data.empty()) {
        data[random.below(data.size())] ^= static_cast<std::uint8_t>(1U << random.below(8));
      }
      break;
    case 1:
      if (!data.empty()) {
        data[random.below(data.size())] = static_cast<std::uint8_t>(random.next());
      }
      break;
    case 2:
      data.resize(random.below(data.size() + 1));
      break;
    case 3:
      data.insert(data.begin() + static_cast<std::ptrdiff_t>(random.below(data.size() + 1)),
                  static_cast<std::uint8_t>(random.next()));
      break;
    case 4: {
      const auto& other = all[random.below(all.size())];
      const auto at = random.below(data.size() + 1);
      data.resize(at);
      data.insert(data.end(), other.begin() + static_cast<std::ptrdiff_t>(random.below(other.size() + 1)),
                  other.end());
      break;
    }
    default:
      if (!data.empty()) {
        // Interesting values for length fields.
        static const std::uint8_t values[] = {0, 1, 0x7f, 0x80, 0xff, 32, 33, 16};
        data[random.below(data.size())] = values[random.below(sizeof values)];
      }
      break;
    }
  }
  return data;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  const long iterations = argc > 2 ? std::stol(argv[2]) : 20000;
  std::vector<std::vector<std::uint8_t>> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "%s: no seeds in %s\n", argv[0], argv[1]);
    return 2;
  }
  for (const auto& seed : seeds) {
    LLVMFuzzerTestOneInput(seed.data(), seed.size());
  }
  Random random{0x9e3779b97f4a7c15ULL};
  for (long i = 0; i < iterations; ++i) {
    const auto input = mutate(seeds[random.below(seeds.size())], seeds, random);
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("%s: %zu seeds and %ld mutations, no crash\n", argv[0], seeds.size(), iterations);
  return 0;
}

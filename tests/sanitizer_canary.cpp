// Proof that the sanitizer build (ELBO_SANITIZE) really checks: each mode commits one error on purpose,
// and its ctest passes only if the sanitizer reports it (PASS_REGULAR_EXPRESSION) and the program does
// not run on past it ("survived" fails the test: every report is fatal). The use-after-free goes through
// tensor storage, which AddressSanitizer sees only when ELBO_NO_CACHE=1 sends it to the system allocator.
#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

#include <elbo/elbo.h>

int main(int argc, char** argv) {
  using namespace elbo;
  const char* mode = argc > 1 ? argv[1] : "";
  if (std::strcmp(mode, "leak") == 0) {  // LeakSanitizer
    Tensor* volatile leaked = new Tensor(ones({1000}));
    leaked = nullptr;
  } else if (std::strcmp(mode, "overflow") == 0) {  // AddressSanitizer
    std::vector<int> v(4);
    volatile int i = 4;
    v.data()[i] = 1;
  } else if (std::strcmp(mode, "use-after-free") == 0) {  // AddressSanitizer, through the tensor allocator
    float* p = nullptr;
    {
      Tensor t = ones({1000});
      p = t.data<float>();
    }
    volatile float x = p[0];
    (void)x;
  } else if (std::strcmp(mode, "signed-overflow") == 0) {  // UndefinedBehaviorSanitizer
    volatile int big = INT_MAX;
    volatile int y = big + 1;
    (void)y;
  } else {
    std::fprintf(stderr, "usage: sanitizer_canary leak|overflow|use-after-free|signed-overflow\n");
    return 2;
  }
  std::printf("survived\n");
  return 0;
}

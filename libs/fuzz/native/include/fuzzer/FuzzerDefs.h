// The two declarations of libFuzzer's driver API that the @jazzer.js/fuzzer
// addon sources use (upstream: compiler-rt/lib/fuzzer/FuzzerDefs.h). The addon
// is linked against Debian's prebuilt libclang_rt.fuzzer_no_main archive,
// which ships no headers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fuzzer {
typedef int (*UserCallback)(const uint8_t *Data, size_t Size);
int FuzzerDriver(int *argc, char ***argv, UserCallback Callback);
} // namespace fuzzer
